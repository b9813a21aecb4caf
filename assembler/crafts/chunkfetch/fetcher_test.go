package chunkfetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/chunks"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

func random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, ^seed))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// Version2 is v1 with writes scattered 64 KiB blocks (non-overlapping, at
// 64 KiB-aligned places) and ins random bytes inserted in the middle.
func Version2(v1 []byte, writes, ins int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	v2 := append([]byte(nil), v1...)
	blocks := len(v1) / (64 << 10)
	for _, b := range r.Perm(blocks)[:writes] {
		copy(v2[b*64<<10:], random(uint64(b)+seed<<20, 64<<10))
	}
	mid := len(v2) / 2
	out := make([]byte, 0, len(v2)+ins)
	out = append(out, v2[:mid]...)
	out = append(out, random(seed+1, ins)...)
	return append(out, v2[mid:]...)
}

// server is a loopback datastore over a directory that counts the bytes
// it sends and injects the faults a test asks for.
type server struct {
	dir    string
	sent   atomic.Int64
	chunkN atomic.Int64
	indexN atomic.Int64 // index requests
	// fault, when set, may change a chunk's response.
	mu    sync.Mutex
	fault func(w http.ResponseWriter, r *http.Request, n int64) bool
	*httptest.Server
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func newServer(t *testing.T, dir string) *server {
	s := &server{dir: dir}
	fsrv := http.StripPrefix("/images/", http.FileServer(http.Dir(dir)))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, IndexSuffix) {
			s.indexN.Add(1)
		}
		if strings.Contains(r.URL.Path, "/chunks/") {
			n := s.chunkN.Add(1)
			s.mu.Lock()
			f := s.fault
			s.mu.Unlock()
			if f != nil && f(countingWriter{w, &s.sent}, r, n) {
				return
			}
		}
		fsrv.ServeHTTP(countingWriter{w, &s.sent}, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) setFault(f func(w http.ResponseWriter, r *http.Request, n int64) bool) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// publish writes an image, its index and chunks into the datastore dir as
// `wright chunk` does.
func publish(t *testing.T, dir, name string, img []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), img, 0o644); err != nil {
		t.Fatal(err)
	}
	ix, _, err := chunks.Make(context.Background(), bytes.NewReader(img), filepath.Join(dir, "chunks"), "chunks", chunks.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if err := chunks.WriteIndexFile(filepath.Join(dir, name+".chunks"), ix); err != nil {
		t.Fatal(err)
	}
}

func blobOf(img []byte) materials.Blob {
	s := sha256.Sum256(img)
	return materials.Blob{Digest: digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(s[:])), Size: int64(len(img))}
}

type rig struct {
	srv   *server
	store *assembler.BlobDir
	root  string
	f     *Fetcher
	logs  *observer.ObservedLogs
}

func newRig(t *testing.T) *rig {
	pub := t.TempDir()
	srv := newServer(t, pub)
	root := t.TempDir()
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	r := &rig{srv: srv, store: assembler.NewBlobDir(root), root: root, logs: logs}
	r.f = &Fetcher{
		Whole:  &assembler.HTTPFetcher{Logger: log},
		Seeds:  DirSeeds(filepath.Join(root, "persist", "blobs", "sha256"), 0),
		Logger: log, Parallel: 4,
	}
	return r
}

func (r *rig) req(name string, img []byte) device.FetchRequest {
	return device.FetchRequest{
		Datastore:   materials.Datastore{ID: "ds", Type: materials.DatastoreHTTP, FQDN: r.srv.URL, Path: "images"},
		ContentTree: materials.ContentTree{ID: "ct", URL: name, Format: materials.FormatRaw},
		Blob:        blobOf(img),
	}
}

// fetch runs one Fetch into a fresh (or resumed) ingest and commits it.
func (r *rig) fetch(ctx context.Context, t *testing.T, name string, img []byte) error {
	t.Helper()
	req := r.req(name, img)
	in, err := r.store.Ingest(ctx, req.Blob)
	if err != nil {
		t.Fatal(err)
	}
	last := int64(-1)
	err = r.f.Fetch(ctx, req, in, func(done, known int64) {
		if done < last {
			t.Errorf("progress went back from %d to %d", last, done)
		}
		last = done
	})
	if err != nil {
		in.Close()
		return err
	}
	return in.Commit(ctx, req.Blob.Size)
}

func (r *rig) check(t *testing.T, img []byte) {
	t.Helper()
	got, err := os.ReadFile(r.store.Path(blobOf(img).Digest))
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("blob: %v, or its bytes differ", err)
	}
}

func (r *rig) warned(reason string) bool {
	for _, e := range r.logs.FilterLevelExact(zap.WarnLevel).All() {
		if strings.Contains(e.ContextMap()["reason"].(string), reason) {
			return true
		}
	}
	return false
}

const imgSize = 8 << 20

func TestChunkedDownload(t *testing.T) {
	v1 := random(1, imgSize)
	v2 := Version2(v1, 6, 256<<10, 9)
	other := random(5, imgSize)
	flip := func(always bool) func(w http.ResponseWriter, r *http.Request, n int64) bool {
		return func(w http.ResponseWriter, r *http.Request, n int64) bool {
			if !always && n > 1 {
				return false
			}
			w.Write(bytes.Repeat([]byte{0x5a}, 4096))
			return true
		}
	}
	tests := []struct {
		name     string
		setup    func(t *testing.T, pub string) // changes the datastore
		fault    func(w http.ResponseWriter, r *http.Request, n int64) bool
		chunked  bool   // the download stays chunked (few bytes)
		warning  string // the fall-back's reason
		wantFail bool
	}{
		{name: "index and seed", chunked: true},
		{name: "a bad chunk once: fetched again", fault: flip(false), chunked: true},
		{name: "a chunk dropped mid-body: resumed with Range", chunked: true, fault: func(w http.ResponseWriter, r *http.Request, n int64) bool {
			if n != 2 || r.Header.Get("Range") != "" {
				return false
			}
			w.Header().Set("Content-Length", "100000")
			w.Write(make([]byte, 10))
			return true // the handler ends short of Content-Length: the client sees a broken body
		}},
		{name: "no index", setup: func(t *testing.T, pub string) { os.Remove(filepath.Join(pub, "v2.raw.chunks")) }, warning: "no index"},
		{name: "damaged index", setup: func(t *testing.T, pub string) {
			p := filepath.Join(pub, "v2.raw.chunks")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o644)
		}, warning: "refused"},
		{name: "index of another image", setup: func(t *testing.T, pub string) {
			publish(t, pub, "other.raw", other)
			os.Rename(filepath.Join(pub, "other.raw.chunks"), filepath.Join(pub, "v2.raw.chunks"))
		}, warning: "refused"},
		{name: "a chunk always bad", fault: flip(true), warning: "does not serve a chunk right"},
		{name: "a chunk missing from the store", fault: func(w http.ResponseWriter, r *http.Request, n int64) bool {
			http.NotFound(w, r)
			return true
		}, warning: "does not serve a chunk right"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			publish(t, r.srv.dir, "v1.raw", v1)
			publish(t, r.srv.dir, "v2.raw", v2)
			ctx := context.Background()
			// v1 comes whole: there is no seed yet.
			if err := r.fetch(ctx, t, "v1.raw", v1); err != nil {
				t.Fatal(err)
			}
			if r.srv.chunkN.Load() != 0 {
				t.Fatalf("the first download asked for %d chunks", r.srv.chunkN.Load())
			}
			if tc.setup != nil {
				tc.setup(t, r.srv.dir)
			}
			r.srv.setFault(tc.fault)
			r.srv.sent.Store(0)
			err := r.fetch(ctx, t, "v2.raw", v2)
			if err != nil {
				t.Fatalf("fetch v2: %v", err)
			}
			r.check(t, v2)
			sent := r.srv.sent.Load()
			t.Logf("served %d bytes for a blob of %d (%.1f%%)", sent, len(v2), 100*float64(sent)/float64(len(v2)))
			if tc.chunked {
				if sent > int64(len(v2))/5 {
					t.Errorf("served %d bytes of %d: not an incremental download", sent, len(v2))
				}
				if n := r.logs.FilterLevelExact(zap.WarnLevel).Len(); n != 0 {
					t.Errorf("%d warnings: %v", n, r.logs.FilterLevelExact(zap.WarnLevel).All()[0].ContextMap())
				}
				return
			}
			if !r.warned(tc.warning) {
				t.Errorf("no warning with %q; logs: %v", tc.warning, r.logs.All())
			}
		})
	}
}

// TestResumeAfterCancel: a download cut off mid-way resumes from the
// ingest's offset and does not fetch again what it wrote.
func TestResumeAfterCancel(t *testing.T) {
	r := newRig(t)
	v1 := random(1, imgSize)
	v2 := Version2(v1, 40, 1<<20, 11)
	publish(t, r.srv.dir, "v1.raw", v1)
	publish(t, r.srv.dir, "v2.raw", v2)
	ctx := context.Background()
	if err := r.fetch(ctx, t, "v1.raw", v1); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	r.srv.setFault(func(w http.ResponseWriter, req *http.Request, n int64) bool {
		if n == 60 {
			cancel()
			time.Sleep(10 * time.Millisecond)
		}
		return false
	})
	err := r.fetch(cctx, t, "v2.raw", v2)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first try: %v, want canceled", err)
	}
	in, err := r.store.Ingest(ctx, blobOf(v2))
	if err != nil {
		t.Fatal(err)
	}
	off := in.Offset()
	in.Close()
	if off == 0 {
		t.Fatal("nothing was kept for a resume")
	}
	first := r.srv.chunkN.Load()
	r.srv.setFault(nil)
	if err := r.fetch(ctx, t, "v2.raw", v2); err != nil {
		t.Fatalf("resume from %d: %v", off, err)
	}
	r.check(t, v2)
	// Whole: chunks fetched twice would add up past the plan's count.
	full := newRig(t)
	publish(t, full.srv.dir, "v1.raw", v1)
	publish(t, full.srv.dir, "v2.raw", v2)
	full.fetch(ctx, t, "v1.raw", v1)
	full.fetch(ctx, t, "v2.raw", v2)
	if total, once := r.srv.chunkN.Load(), full.srv.chunkN.Load(); total > once+int64(r.f.parallel())*8+1 {
		t.Errorf("the resumed download asked for %d chunks (%d before the cut), a clean one %d", total, first, once)
	}
	t.Logf("cut at byte %d after %d chunk requests; %d in all, %d for a clean download", off, first, r.srv.chunkN.Load(), full.srv.chunkN.Load())
}
