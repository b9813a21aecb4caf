package httpfetch

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// headerLog is a loopback server that records the Authorization header of
// every request it receives.
type headerLog struct {
	srv   *httptest.Server
	mu    sync.Mutex
	auths []string
}

func newHeaderLog(t *testing.T, tlsServer bool, h func(l *headerLog, w http.ResponseWriter, r *http.Request)) *headerLog {
	l := &headerLog{}
	hf := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.auths = append(l.auths, r.Header.Get("Authorization"))
		l.mu.Unlock()
		h(l, w, r)
	})
	if tlsServer {
		l.srv = httptest.NewTLSServer(hf)
	} else {
		l.srv = httptest.NewServer(hf)
	}
	t.Cleanup(l.srv.Close)
	return l
}

func (l *headerLog) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.auths...)
}

// memIngest records what a fetch writes.
type memIngest struct {
	data      []byte
	truncated int
}

func (m *memIngest) Write(p []byte) (int, error)         { m.data = append(m.data, p...); return len(p), nil }
func (m *memIngest) Offset() int64                       { return int64(len(m.data)) }
func (m *memIngest) Truncate() error                     { m.data = nil; m.truncated++; return nil }
func (m *memIngest) Commit(context.Context, int64) error { return errors.New("not in this test") }
func (m *memIngest) Close() error                        { return nil }

func credDatastore(srv *httptest.Server) materials.Datastore {
	ds := materials.Datastore{ID: "ds", Type: materials.DatastoreHTTP, FQDN: srv.URL, APIKey: "edge", Password: "s3cret", HasCredentials: true}
	if srv.TLS != nil {
		ds.Type = materials.DatastoreHTTPS
		ds.CertPEM = [][]byte{pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}
	}
	return ds
}

func fetchOnce(t *testing.T, ds materials.Datastore, url string, blob materials.Blob, free int64) (*memIngest, error) {
	t.Helper()
	var in memIngest
	f := &Fetcher{}
	err := f.Fetch(context.Background(), device.FetchRequest{Datastore: ds, ContentTree: materials.ContentTree{ID: "ct", URL: url, MaxSizeBytes: uint64(blob.Size)}, Blob: blob, FreeBytes: free}, &in, func(int64, int64) {})
	return &in, err
}

// A datastore's credentials go only to its own scheme, host and port: a
// redirect to another port of the same host is followed without them.
func TestRedirectCredentialsStayWithOrigin(t *testing.T) {
	other := newHeaderLog(t, false, func(_ *headerLog, w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "blob") })
	ds := newHeaderLog(t, false, func(l *headerLog, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.srv.URL+"/blob", http.StatusFound)
		case "/home":
			http.Redirect(w, r, "/blob", http.StatusFound)
		default:
			fmt.Fprint(w, "blob")
		}
	})
	m := credDatastore(ds.srv)
	if _, err := fetchOnce(t, m, "away", materials.Blob{}, 0); err != nil {
		t.Fatal(err)
	}
	if got := other.got(); len(got) != 1 || got[0] != "" {
		t.Fatalf("the other origin (another port) received Authorization %q", got)
	}
	if _, err := fetchOnce(t, m, "home", materials.Blob{}, 0); err != nil {
		t.Fatal(err)
	}
	got := ds.got()
	if len(got) != 3 {
		t.Fatalf("datastore saw %d requests, want 3", len(got))
	}
	for i, a := range got {
		if !strings.HasPrefix(a, "Basic ") {
			t.Errorf("request %d to the datastore's own origin lacks its credentials: %q", i, a)
		}
	}
}

// An https datastore never follows a redirect down to plain http.
func TestRedirectHTTPSToHTTPRefused(t *testing.T) {
	plain := newHeaderLog(t, false, func(_ *headerLog, w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "blob") })
	ds := newHeaderLog(t, true, func(_ *headerLog, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.srv.URL+"/blob", http.StatusFound)
	})
	_, err := fetchOnce(t, credDatastore(ds.srv), "blob", materials.Blob{}, 0)
	if err == nil || !strings.Contains(err.Error(), "https must not downgrade") {
		t.Fatalf("https -> http redirect: %v, want a refusal", err)
	}
	if got := plain.got(); len(got) != 0 {
		t.Fatalf("the plain-http origin was asked %d times (Authorization %q)", len(got), got)
	}
}

// Redirects are bounded at 5 and the error says so.
func TestRedirectsBounded(t *testing.T) {
	for _, tc := range []struct {
		hops int
		ok   bool
	}{{5, true}, {6, false}} {
		t.Run(strconv.Itoa(tc.hops), func(t *testing.T) {
			ds := newHeaderLog(t, false, func(_ *headerLog, w http.ResponseWriter, r *http.Request) {
				n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r"))
				if n < tc.hops {
					http.Redirect(w, r, "/r"+strconv.Itoa(n+1), http.StatusFound)
					return
				}
				fmt.Fprint(w, "blob")
			})
			_, err := fetchOnce(t, credDatastore(ds.srv), "r0", materials.Blob{}, 0)
			if tc.ok && err != nil {
				t.Fatalf("%d redirects: %v", tc.hops, err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "stopped after 5 redirects")) {
				t.Fatalf("%d redirects: %v, want the bound named", tc.hops, err)
			}
		})
	}
}

// Bodies are bounded by the tree's maxSizeBytes and the free space, whether
// the server declares a length or not.
func TestFetchBodyBounded(t *testing.T) {
	const mib = 1 << 20
	endless := func(w http.ResponseWriter, r *http.Request) {
		// Chunked, no Content-Length, never ends on its own.
		buf := make([]byte, 64<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}
	fifty := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "identity")
		buf := make([]byte, mib)
		for range 50 {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}
	declared := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(400*1000*1000))
		w.Write(make([]byte, 64<<10))
	}
	for _, tc := range []struct {
		name    string
		h       http.HandlerFunc
		maxSize int64
		free    int64
		from    string
		decl    bool
	}{
		{"endless chunked, maxSizeBytes", endless, mib, 0, "maxSizeBytes", false},
		{"no Content-Length 50 MiB, 1 MiB tree", fifty, mib, 0, "maxSizeBytes", false},
		{"400 MB Content-Length, small free space", declared, 0, 8 * mib, "free space", true},
		{"endless chunked, free space", endless, 0, 2 * mib, "free space", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			t.Cleanup(srv.Close)
			blob := materials.Blob{Digest: digest.Digest("sha256:" + strings.Repeat("0", 64)), Size: tc.maxSize}
			in, err := fetchOnce(t, credDatastore(srv), "blob", blob, tc.free)
			var tl *device.TooLargeError
			if !errors.As(err, &tl) || !errors.Is(err, device.ErrTooLarge) {
				t.Fatalf("fetch: %v, want a TooLargeError", err)
			}
			if tl.From != tc.from || tl.Declared != tc.decl || !strings.Contains(err.Error(), string(blob.Digest)) {
				t.Errorf("error %q: from %q declared %v, want from %q declared %v", err, tl.From, tl.Declared, tc.from, tc.decl)
			}
			var re *device.RetryableError
			if errors.As(err, &re) {
				t.Errorf("a size refusal is retryable: %v", err)
			}
			if len(in.data) != 0 || in.truncated == 0 {
				t.Errorf("partial kept: %d bytes, truncated %d times", len(in.data), in.truncated)
			}
		})
	}
}

// What progress tells of the total: the declared length, 0 while none
// was declared (device.Fetcher's contract); and a 206 body that runs past
// its declared total is retried, not handed to the digest.
func TestFetchProgressTotal(t *testing.T) {
	body := []byte(strings.Repeat("edgewright", 1000))
	n := int64(len(body))
	for _, tc := range []struct {
		name      string
		h         http.HandlerFunc
		partial   int64 // bytes the ingest holds before the fetch
		wantKnown int64
		retryable bool
	}{
		{"Content-Length declared", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
			w.Write(body)
		}, 0, n, false},
		{"chunked, no length", func(w http.ResponseWriter, r *http.Request) {
			w.Write(body[:n/2])
			w.(http.Flusher).Flush()
			w.Write(body[n/2:])
		}, 0, 0, false},
		{"206 past its declared total", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 10-%d/%d", n-1, n-5))
			w.WriteHeader(http.StatusPartialContent)
			w.(http.Flusher).Flush() // chunked: no Content-Length bounds the body
			w.Write(body[10:])
		}, 10, n, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			t.Cleanup(srv.Close)
			in := &memIngest{data: append([]byte(nil), body[:tc.partial]...)}
			var last [2]int64
			err := (&Fetcher{}).Fetch(context.Background(), device.FetchRequest{Datastore: credDatastore(srv), ContentTree: materials.ContentTree{ID: "ct", URL: "blob"}}, in,
				func(done, known int64) { last = [2]int64{done, known} })
			var re *device.RetryableError
			if got := err != nil && errors.As(err, &re); got != tc.retryable || (err != nil && !tc.retryable) {
				t.Fatalf("fetch: %v, want retryable %v", err, tc.retryable)
			}
			if last != [2]int64{n, tc.wantKnown} {
				t.Errorf("last progress %v, want %d of %d", last, n, tc.wantKnown)
			}
		})
	}
}
