package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

func TestParseDatastore(t *testing.T) {
	tests := []struct {
		fqdn    string
		want    Registry
		wantErr string
	}{
		{fqdn: "docker://registry.example.com", want: Registry{Host: "registry.example.com"}},
		{fqdn: "docker://127.0.0.1:5000", want: Registry{Host: "127.0.0.1:5000"}},
		{fqdn: "registry.example.com:443", want: Registry{Host: "registry.example.com:443"}},
		{fqdn: "https://r.example.com/team", want: Registry{Host: "r.example.com", Scheme: "https", Prefix: "team"}},
		{fqdn: "http://localhost:5000", want: Registry{Host: "localhost:5000", Scheme: "http"}},
		{fqdn: "http://[::1]:5000", want: Registry{Host: "[::1]:5000", Scheme: "http"}},
		{fqdn: "docker://docker.io", want: Registry{Host: "registry-1.docker.io"}},
		{fqdn: "http://registry.example.com", wantErr: "plain HTTP to registry registry.example.com refused"},
		{fqdn: "http://10.0.0.1:5000", wantErr: "plain HTTP to registry 10.0.0.1:5000 refused"},
		{fqdn: "ftp://x", wantErr: `scheme "ftp"`},
		{fqdn: "", wantErr: "empty"},
		{fqdn: "docker://user:pw@host", wantErr: "credentials belong in apiKey"},
	}
	for _, tt := range tests {
		t.Run(tt.fqdn, func(t *testing.T) {
			got, err := ParseDatastore(tt.fqdn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseReference(t *testing.T) {
	dg := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		reg     Registry
		url     string
		want    Reference
		wantErr string
	}{
		{reg: Registry{Host: "h"}, url: "app:1.0", want: Reference{Repository: "app", Tag: "1.0"}},
		{reg: Registry{Host: "h"}, url: "team/app", want: Reference{Repository: "team/app", Tag: "latest"}},
		{reg: Registry{Host: "h"}, url: "team/app@" + dg, want: Reference{Repository: "team/app", Digest: digest.Digest(dg)}},
		{reg: Registry{Host: "h"}, url: "app:v2@" + dg, want: Reference{Repository: "app", Tag: "v2", Digest: digest.Digest(dg)}},
		{reg: Registry{Host: "h:5000"}, url: "h:5000/app:v1", want: Reference{Repository: "app", Tag: "v1"}},
		{reg: Registry{Host: "h", Prefix: "org"}, url: "app:v1", want: Reference{Repository: "org/app", Tag: "v1"}},
		{reg: Registry{Host: "registry-1.docker.io"}, url: "alpine:3", want: Reference{Repository: "library/alpine", Tag: "3"}},
		{reg: Registry{Host: "h"}, url: "App:1", wantErr: `repository "App"`},
		{reg: Registry{Host: "h"}, url: "app:bad/tag", wantErr: `repository "app:bad/tag"`},
		{reg: Registry{Host: "h"}, url: "app:-x", wantErr: `tag "-x"`},
		{reg: Registry{Host: "h"}, url: "app@sha256:zz", wantErr: `digest "sha256:zz"`},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := ParseReference(tt.reg, tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestResolveWalkFetch(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, nil)
	img := randomImage(t, 64<<10, 3)
	pushImage(t, reg.push, "team/app:v1", img)

	c, err := New("docker://"+reg.serve, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{"team/app:v1", "team/app@" + mustDigest(t, img.Digest).String()} {
		t.Run(url, func(t *testing.T) {
			ref, err := c.ParseReference(url)
			if err != nil {
				t.Fatal(err)
			}
			top, err := c.Resolve(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if want := mustDigest(t, img.Digest); top.Digest != want {
				t.Fatalf("resolved %s, want %s", top.Digest, want)
			}
			if top.MediaType != MediaTypeDockerManifest {
				t.Fatalf("media type %q", top.MediaType)
			}
			tree, err := c.Walk(ctx, ref.Repository, top)
			if err != nil {
				t.Fatal(err)
			}
			if tree.Index != nil || tree.Manifest.Digest != top.Digest {
				t.Fatalf("tree top: index=%v manifest=%s", tree.Index, tree.Manifest.Digest)
			}
			if want := mustDigest(t, img.ConfigName); tree.Config.Digest != want {
				t.Fatalf("config %s, want %s", tree.Config.Digest, want)
			}
			layers, _ := img.Layers()
			if len(tree.Layers) != len(layers) {
				t.Fatalf("%d layers, want %d", len(tree.Layers), len(layers))
			}
			for i, l := range layers {
				var sink bufSink
				var offsets []int64
				next, err := c.FetchBlob(ctx, ref.Repository, tree.Layers[i], &sink, Resume{Progress: func(o int64) { offsets = append(offsets, o) }})
				if err != nil {
					t.Fatalf("layer %d: %v", i, err)
				}
				if !bytes.Equal(sink.Bytes(), layerBytes(t, l)) || next.Offset != tree.Layers[i].Size {
					t.Fatalf("layer %d: bytes differ (offset %d of %d)", i, next.Offset, tree.Layers[i].Size)
				}
				for j := 1; j < len(offsets); j++ {
					if offsets[j] <= offsets[j-1] {
						t.Fatalf("progress not monotone: %v", offsets)
					}
				}
				if offsets[len(offsets)-1] != tree.Layers[i].Size {
					t.Fatalf("progress ends at %d, want %d", offsets[len(offsets)-1], tree.Layers[i].Size)
				}
			}
			if got := len(tree.Blobs()); got != 2+len(layers) {
				t.Fatalf("Blobs() has %d entries", got)
			}
		})
	}
}

func TestMultiPlatformIndex(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, nil)
	idx, imgs := platformIndex(t,
		v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
		v1.Platform{OS: "linux", Architecture: "amd64"},
		v1.Platform{OS: "unknown", Architecture: "unknown"},
		v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"},
	)
	pushIndex(t, reg.push, "multi:latest", idx)

	tests := []struct {
		plat    Platform
		want    int // image index, -1 for an error
		wantErr string
	}{
		{plat: Platform{}, want: 1},
		{plat: Platform{OS: "linux", Architecture: "arm64"}, want: 0},
		{plat: Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, want: 3},
		{plat: Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, want: -1, wantErr: "no manifest for platform linux/arm/v6"},
		{plat: Platform{OS: "linux", Architecture: "s390x"}, want: -1, wantErr: "has: linux/arm64/v8, linux/amd64, unknown/unknown, linux/arm/v7"},
	}
	for _, tt := range tests {
		t.Run(tt.plat.String(), func(t *testing.T) {
			c, err := New("docker://"+reg.serve, Options{Platform: tt.plat})
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := c.ParseReference("multi")
			top, err := c.Resolve(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if !IsIndex(top.MediaType) || top.Digest != mustDigest(t, idx.Digest) {
				t.Fatalf("top %s %s, want the index", top.MediaType, top.Digest)
			}
			tree, err := c.Walk(ctx, ref.Repository, top)
			if tt.want < 0 {
				var np *NoPlatformError
				if !errors.As(err, &np) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want NoPlatformError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tree.Index == nil || len(tree.Index.Children) != 4 {
				t.Fatalf("index children: %+v", tree.Index)
			}
			if want := mustDigest(t, imgs[tt.want].Digest); tree.Manifest.Digest != want {
				t.Fatalf("chose %s, want %s", tree.Manifest.Digest, want)
			}
			if want := mustDigest(t, imgs[tt.want].ConfigName); tree.Config.Digest != want {
				t.Fatalf("config %s, want %s", tree.Config.Digest, want)
			}
		})
	}
}

func TestChildren(t *testing.T) {
	img := randomImage(t, 100, 2)
	raw, _ := img.RawManifest()
	kids, err := Children("", raw)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	if len(kids) != 3 || kids[0].Role != RoleConfig || kids[1].Role != RoleLayer || kids[2].Index != 1 {
		t.Fatalf("children %+v", kids)
	}
	for i, l := range layers {
		if kids[i+1].Digest != mustDigest(t, l.Digest) || kids[i+1].MediaType != string(types.DockerLayer) {
			t.Fatalf("layer %d: %+v", i, kids[i+1])
		}
	}
	for _, bad := range []struct{ mt, data, want string }{
		{"", `{"schemaVersion":1,"fsLayers":[]}`, "unsupported media type"},
		{MediaTypeOCIManifest, `{"config":{"digest":"nope"}}`, `config: digest "nope"`},
		{MediaTypeOCIIndex, `{"manifests":[{"digest":"sha256:00","size":1}]}`, "manifests[0]"},
		{MediaTypeOCIIndex, `not json`, "parse index"},
		// An image config is not a manifest, though it has a "config".
		{"", `{"architecture":"amd64","os":"linux","config":{"Env":["A=b"]},"rootfs":{"type":"layers"}}`, "unsupported media type"},
	} {
		if _, err := Children(bad.mt, []byte(bad.data)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Children(%s): err = %v, want %q", bad.data, err, bad.want)
		}
	}
}

// cutOnce wraps a registry so the first GET of digest is cut after limit
// bytes of body; it logs every blob GET's Range header.
func cutOnce(dg digest.Digest, limit int, log *rangeLog) func(http.Handler) http.Handler {
	var cut atomic.Bool
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isBlobGet(r) && strings.HasSuffix(r.URL.Path, dg.String()) {
				log.add(r.Header.Get("Range"))
				if cut.CompareAndSwap(false, true) {
					w = &cutWriter{ResponseWriter: w, left: limit}
				}
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestFetchResumesAfterCut(t *testing.T) {
	ctx := context.Background()
	img := randomImage(t, 3<<20, 1)
	layers, _ := img.Layers()
	ld := mustDigest(t, layers[0].Digest)
	want := layerBytes(t, layers[0])
	const cutAt = 1 << 20

	for _, how := range []string{"hash state", "prefix rehash", "sink verifies"} {
		t.Run(how, func(t *testing.T) {
			var ranges rangeLog
			reg := newTestRegistry(t, cutOnce(ld, cutAt, &ranges))
			pushImage(t, reg.push, "cut:v1", img)
			c, _ := New("docker://"+reg.serve, Options{})
			desc := Descriptor{Digest: ld, Size: int64(len(want))}
			var sink bufSink
			from := Resume{SinkVerifies: how == "sink verifies"}
			next, err := c.FetchBlob(ctx, "cut", desc, &sink, from)
			if err == nil {
				t.Fatal("first fetch succeeded through a cut connection")
			}
			if next.Offset == 0 || next.Offset > cutAt || int64(sink.Len()) != next.Offset {
				t.Fatalf("after the cut: offset %d, sink %d bytes (cut at %d)", next.Offset, sink.Len(), cutAt)
			}
			if how == "prefix rehash" {
				next = Resume{Offset: next.Offset, Prefix: bytes.NewReader(sink.Bytes())}
			}
			done, err := c.FetchBlob(ctx, "cut", desc, &sink, next)
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if done.Offset != desc.Size || !bytes.Equal(sink.Bytes(), want) {
				t.Fatalf("resumed blob differs (offset %d)", done.Offset)
			}
			got := ranges.get()
			wantRange := "bytes=" + strconv.FormatInt(next.Offset, 10) + "-" + strconv.FormatInt(desc.Size-1, 10)
			if len(got) != 2 || got[0] != "" || got[1] != wantRange {
				t.Fatalf("Range headers %q, want [\"\" %q]", got, wantRange)
			}
			if sink.truncates != 0 {
				t.Fatalf("sink truncated %d times on a 206 resume", sink.truncates)
			}
		})
	}
}

func TestFetchStartsOverWhenRangeIgnored(t *testing.T) {
	ctx := context.Background()
	img := randomImage(t, 256<<10, 1)
	layers, _ := img.Layers()
	ld := mustDigest(t, layers[0].Digest)
	want := layerBytes(t, layers[0])
	reg := newTestRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("Range") // a registry that always answers 200
			h.ServeHTTP(w, r)
		})
	})
	pushImage(t, reg.push, "norange:v1", img)
	c, _ := New("docker://"+reg.serve, Options{})
	// The sink holds a wrong prefix: starting over must discard it.
	sink := &bufSink{}
	sink.WriteString("garbage!")
	h := sha256.New()
	h.Write([]byte("garbage!"))
	done, err := c.FetchBlob(ctx, "norange", Descriptor{Digest: ld, Size: int64(len(want))}, sink, Resume{Offset: 8, Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	if sink.truncates != 1 || !bytes.Equal(sink.Bytes(), want) || done.Offset != int64(len(want)) {
		t.Fatalf("truncates=%d, equal=%v", sink.truncates, bytes.Equal(sink.Bytes(), want))
	}
}

func TestFetchDigestMismatch(t *testing.T) {
	ctx := context.Background()
	img := randomImage(t, 10<<10, 1)
	layers, _ := img.Layers()
	ld := mustDigest(t, layers[0].Digest)
	size, _ := layers[0].Size()
	reg := newTestRegistry(t, nil)
	pushImage(t, reg.push, "bad:v1", img)
	c, _ := New("docker://"+reg.serve, Options{})
	var sink bufSink
	_, err := c.FetchBlob(ctx, "bad", Descriptor{Digest: ld, Size: size - 1}, &sink, Resume{})
	var sm *SizeMismatchError
	if !errors.As(err, &sm) {
		t.Fatalf("short descriptor: err = %v, want SizeMismatchError", err)
	}
	// Corrupt one byte on the wire.
	reg2 := newTestRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isBlobGet(r) {
				w = &flipWriter{ResponseWriter: w}
			}
			h.ServeHTTP(w, r)
		})
	})
	pushImage(t, reg2.push, "bad:v1", img)
	c2, _ := New("docker://"+reg2.serve, Options{})
	sink = bufSink{}
	next, err := c2.FetchBlob(ctx, "bad", Descriptor{Digest: ld, Size: size}, &sink, Resume{})
	var dm *DigestMismatchError
	if !errors.As(err, &dm) || dm.Want != ld || dm.Got == ld {
		t.Fatalf("err = %v, want DigestMismatchError", err)
	}
	if sink.Len() != 0 || next.Offset != 0 {
		t.Fatalf("after a mismatch the sink holds %d bytes, resume at %d", sink.Len(), next.Offset)
	}
}

type flipWriter struct {
	http.ResponseWriter
	done bool
}

func (w *flipWriter) Write(p []byte) (int, error) {
	if !w.done && len(p) > 0 {
		q := append([]byte(nil), p...)
		q[len(q)/2] ^= 0xff
		w.done = true
		return w.ResponseWriter.Write(q)
	}
	return w.ResponseWriter.Write(p)
}

// dialRecorder is a transport that records every dial.
type dialRecorder struct {
	dials atomic.Int32
	addrs chan string
}

func (d *dialRecorder) transport() *http.Transport {
	d.addrs = make(chan string, 16)
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.dials.Add(1)
		d.addrs <- addr
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

func TestPlainHTTPRefusedBeforeDialing(t *testing.T) {
	tests := []struct {
		fqdn  string
		plain bool
	}{
		{fqdn: "http://registry.example.com"},
		{fqdn: "http://192.168.1.10:5000"},
		{fqdn: "docker://registry.example.com:5000", plain: true},
		{fqdn: "docker://[2001:db8::1]:5000", plain: true},
	}
	for _, tt := range tests {
		t.Run(tt.fqdn, func(t *testing.T) {
			var d dialRecorder
			_, err := New(tt.fqdn, Options{PlainHTTP: tt.plain, Transport: d.transport()})
			var ie *InsecureError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want InsecureError", err)
			}
			if n := d.dials.Load(); n != 0 {
				t.Fatalf("%d dials made before refusing", n)
			}
		})
	}
	// Loopback may go plain.
	for _, fqdn := range []string{"http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "docker://127.1.2.3:1"} {
		if _, err := New(fqdn, Options{PlainHTTP: true}); err != nil {
			t.Errorf("%s: %v", fqdn, err)
		}
	}
}

func TestRedirectToPlainHTTPRefused(t *testing.T) {
	ctx := context.Background()
	img := randomImage(t, 1024, 1)
	layers, _ := img.Layers()
	ld := mustDigest(t, layers[0].Digest)
	reg := newTestRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isBlobGet(r) {
				http.Redirect(w, r, "http://storage.example.com/blob", http.StatusTemporaryRedirect)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	pushImage(t, reg.push, "redir:v1", img)
	var d dialRecorder
	c, err := New("docker://"+reg.serve, Options{PlainHTTP: true, Transport: d.transport()})
	if err != nil {
		t.Fatal(err)
	}
	var sink bufSink
	_, err = c.FetchBlob(ctx, "redir", Descriptor{Digest: ld, Size: 1}, &sink, Resume{})
	var ie *InsecureError
	if !errors.As(err, &ie) || ie.Host != "storage.example.com" {
		t.Fatalf("err = %v, want InsecureError for storage.example.com", err)
	}
	close(d.addrs)
	for a := range d.addrs {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("dialed %s", a)
		}
	}
}

// TestLoopbackSchemeNotLatchedWhileDown: a loopback registry that is not
// up yet must not pin the client to plain HTTP.
func TestLoopbackSchemeNotLatchedWhileDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	c, err := New("docker://"+host, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(context.Background(), Reference{Repository: "x", Tag: "v1"}); err == nil {
		t.Fatal("resolve against nothing succeeded")
	}
	c.mu.Lock()
	s := c.scheme
	c.mu.Unlock()
	if s != "" {
		t.Fatalf("scheme latched to %q while the registry was down", s)
	}
}
