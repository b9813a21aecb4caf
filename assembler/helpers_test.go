package assembler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// request is one request the datastore saw.
type request struct {
	Path  string
	Range string
	Auth  bool
	At    time.Time
}

// datastore is a loopback HTTP datastore serving files by path, with
// fault injection: cut the connection after N bytes, answer 503 a few
// times, ignore Range, or stall until released.
type datastore struct {
	t   testing.TB
	srv *httptest.Server

	mu          sync.Mutex
	files       map[string][]byte
	log         []request
	cutAfter    map[string]int64 // path → bytes before the connection is cut (once)
	unavailable map[string]int   // path → 503 answers left
	ignoreRange bool
	stall       chan struct{} // when set, bodies stop after the first chunk until closed
	user, pass  string
	inFlight    int
	maxInFlight int
}

func newDatastore(t testing.TB, tlsServer bool) *datastore {
	d := &datastore{t: t, files: map[string][]byte{}, cutAfter: map[string]int64{}, unavailable: map[string]int{}}
	h := http.HandlerFunc(d.serve)
	if tlsServer {
		d.srv = httptest.NewTLSServer(h)
	} else {
		d.srv = httptest.NewServer(h)
	}
	t.Cleanup(d.srv.Close)
	return d
}

func (d *datastore) put(path string, data []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files[path] = data
}

func (d *datastore) requests() []request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]request(nil), d.log...)
}

// fullGets counts GETs of path that asked for the whole body.
func (d *datastore) fullGets(path string) int {
	n := 0
	for _, r := range d.requests() {
		if r.Path == path && (r.Range == "" || r.Range == "bytes=0-") {
			n++
		}
	}
	return n
}

func (d *datastore) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, hasAuth := r.BasicAuth()
	d.mu.Lock()
	d.log = append(d.log, request{Path: r.URL.Path, Range: r.Header.Get("Range"), Auth: hasAuth, At: time.Now()})
	data, ok := d.files[r.URL.Path]
	cut, hasCut := d.cutAfter[r.URL.Path]
	if hasCut {
		delete(d.cutAfter, r.URL.Path)
	}
	unavailable := d.unavailable[r.URL.Path] > 0
	if unavailable {
		d.unavailable[r.URL.Path]--
	}
	ignoreRange, stall := d.ignoreRange, d.stall
	wantUser, wantPass := d.user, d.pass
	d.inFlight++
	if d.inFlight > d.maxInFlight {
		d.maxInFlight = d.inFlight
	}
	d.mu.Unlock()
	defer func() { d.mu.Lock(); d.inFlight--; d.mu.Unlock() }()
	if wantUser != "" && (!hasAuth || user != wantUser || pass != wantPass) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	if unavailable {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	start := int64(0)
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && !ignoreRange {
		s, ok := strings.CutPrefix(rg, "bytes=")
		s, _, _ = strings.Cut(s, "-")
		n, err := strconv.ParseInt(s, 10, 64)
		if !ok || err != nil || n > int64(len(data)) {
			http.Error(w, "bad range", http.StatusRequestedRangeNotSatisfiable)
			return
		}
		if n == int64(len(data)) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start, status = n, http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(data)-1, len(data)))
	}
	body := data[start:]
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if hasCut {
		w.Write(body[:min(cut, int64(len(body)))])
		w.(http.Flusher).Flush()
		// Cut: hijack-free way is to panic with ErrAbortHandler.
		panic(http.ErrAbortHandler)
	}
	if stall != nil {
		first := min(int64(64<<10), int64(len(body)))
		w.Write(body[:first])
		w.(http.Flusher).Flush()
		select {
		case <-stall:
		case <-r.Context().Done():
			return
		}
		body = body[first:]
	}
	w.Write(body)
}

// host is the server's host:port.
func (d *datastore) host() string {
	u := strings.TrimPrefix(strings.TrimPrefix(d.srv.URL, "http://"), "https://")
	if _, _, err := net.SplitHostPort(u); err != nil {
		d.t.Fatal(err)
	}
	return u
}

func (d *datastore) materials(id string) materials.Datastore {
	typ := materials.DatastoreHTTP
	if strings.HasPrefix(d.srv.URL, "https") {
		typ = materials.DatastoreHTTPS
	}
	return materials.Datastore{ID: id, Type: typ, FQDN: d.host(), Path: "images"}
}

func sha(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// rawImage is testenv.RawImage: random data in a few places, zeros
// elsewhere.
func rawImage(seed uint64, size int) []byte { return testenv.RawImage(seed, size) }

// qcow2Of is testenv.Qcow2Of.
func qcow2Of(t testing.TB, raw []byte) []byte { return testenv.Qcow2Of(t, raw) }

// fixedSurvey is a survey for unit tests with hand-built plans: it reads
// the journal (as the inspector does) and reports a fixed fingerprint.
func fixedSurvey(fingerprint string) SurveyFunc {
	return func(ctx context.Context, j device.Journal) (*materials.Floorplan, error) {
		st, err := j.JournalState(ctx)
		if err != nil {
			return nil, err
		}
		return &materials.Floorplan{Fingerprint: fingerprint, Journal: st}, nil
	}
}

// qemuCompare is testenv.QemuCompare.
func qemuCompare(t testing.TB, a, b string) { testenv.QemuCompare(t, a, b) }
