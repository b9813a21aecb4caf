// Command throttled serves a directory over HTTP on loopback at a bounded
// rate shared by all connections (the slow link of an edge device), and
// counts the bytes it sends: GET /__bytes prints the count since the last
// GET /__reset. It is the datastore of bench/chunks.sh.
//
//	throttled -dir DIR -addr 127.0.0.1:0 -mbit 100 -portfile FILE
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// pacer lets bytes through at rate bytes a second, for every writer
// together.
type pacer struct {
	mu   sync.Mutex
	rate float64
	next time.Time
}

func (p *pacer) wait(n int) {
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	p.mu.Unlock()
	time.Sleep(time.Until(at))
}

type slowWriter struct {
	http.ResponseWriter
	p    *pacer
	sent *atomic.Int64
}

func (w slowWriter) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n := min(len(b)-done, 16<<10)
		w.p.wait(n)
		m, err := w.ResponseWriter.Write(b[done : done+n])
		w.sent.Add(int64(m))
		done += m
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func main() {
	dir := flag.String("dir", ".", "directory to serve")
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	mbit := flag.Float64("mbit", 100, "rate in Mbit/s for all connections together")
	portfile := flag.String("portfile", "", "write the listen address here once listening")
	flag.Parse()
	p := &pacer{rate: *mbit * 1e6 / 8}
	var sent, reqs atomic.Int64
	files := http.FileServer(http.Dir(*dir))
	mux := http.NewServeMux()
	mux.HandleFunc("/__reset", func(w http.ResponseWriter, r *http.Request) { sent.Store(0); reqs.Store(0) })
	mux.HandleFunc("/__bytes", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "%d %d\n", sent.Load(), reqs.Load()) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		files.ServeHTTP(slowWriter{w, p, &sent}, r)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *portfile != "" {
		if err := os.WriteFile(*portfile, []byte(ln.Addr().String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	log.Fatal(http.Serve(ln, mux))
}
