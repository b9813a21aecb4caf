package oci

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
)

// testRegistry is go-containerregistry's in-process registry: push is a
// server straight onto it; the client under test talks to serve, which
// may wrap it to inject faults or demand auth.
type testRegistry struct {
	push  string // host of the unwrapped server
	serve string // host of the wrapped server
}

func newTestRegistry(t *testing.T, wrap func(http.Handler) http.Handler) *testRegistry {
	t.Helper()
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	p := httptest.NewServer(h)
	t.Cleanup(p.Close)
	s := p
	if wrap != nil {
		s = httptest.NewServer(wrap(h))
		t.Cleanup(s.Close)
	}
	return &testRegistry{push: hostOf(p.URL), serve: hostOf(s.URL)}
}

func hostOf(u string) string { return strings.TrimPrefix(u, "http://") }

func pushImage(t *testing.T, host, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func pushIndex(t *testing.T, host, ref string, idx v1.ImageIndex) {
	t.Helper()
	r, err := name.ParseReference(host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("push index %s: %v", ref, err)
	}
}

func randomImage(t *testing.T, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// platformIndex makes an index with one random image per platform.
func platformIndex(t *testing.T, plats ...v1.Platform) (v1.ImageIndex, []v1.Image) {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	var imgs []v1.Image
	for _, p := range plats {
		img := randomImage(t, 512, 1)
		imgs = append(imgs, img)
		p := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return idx, imgs
}

func mustDigest(t *testing.T, f func() (v1.Hash, error)) digest.Digest {
	t.Helper()
	h, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return digest.Digest(h.String())
}

func layerBytes(t *testing.T, l v1.Layer) []byte {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bufSink is an in-memory Sink.
type bufSink struct {
	bytes.Buffer
	truncates int
}

func (b *bufSink) Truncate(n int64) error {
	b.truncates++
	b.Buffer.Truncate(int(n))
	return nil
}

// rangeLog records the Range header of every blob GET.
type rangeLog struct {
	mu     sync.Mutex
	ranges []string
}

func (l *rangeLog) add(s string) {
	l.mu.Lock()
	l.ranges = append(l.ranges, s)
	l.mu.Unlock()
}

func (l *rangeLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ranges...)
}

func isBlobGet(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
}

// cutWriter stops the response after limit bytes of body and aborts the
// connection, as a dropped link would.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n, _ := w.ResponseWriter.Write(p[:w.left])
		w.left -= n
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	n, err := w.ResponseWriter.Write(p)
	w.left -= n
	return n, err
}
