package registry_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/registry"
	"github.com/edgewright/edgewright/assembler/oci"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

func tarLayer(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		body := files[n]
		h := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(n, "/") {
			h = &tar.Header{Name: n, Mode: 0o755, Typeflag: tar.TypeDir}
		}
		tw.WriteHeader(h)
		tw.Write([]byte(body))
	}
	tw.Close()
	return static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer)
}

// TestOCICraftsIntoBlobDir drives the OCI crafts as the engine does: resolve
// the tag, fetch every blob of the tree into the blob directory (a layer
// cut mid-way resumes with Range), then build the container volume, whose
// files must match the layers with the whiteout applied.
func TestOCICraftsIntoBlobDir(t *testing.T) {
	ctx := context.Background()
	l1 := tarLayer(t, map[string]string{"etc/": "", "etc/a": "alpha", "etc/b": strings.Repeat("b", 300<<10)})
	l2 := tarLayer(t, map[string]string{"etc/.wh.a": "", "etc/c": "gamma"})
	img, err := mutate.AppendLayers(empty.Image, l1, l2)
	if err != nil {
		t.Fatal(err)
	}
	img, _ = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	l1d, _ := l1.Digest()

	h := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	var cut atomic.Bool
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+l1d.String()) {
			mu.Lock()
			ranges = append(ranges, r.Header.Get("Range"))
			mu.Unlock()
			if cut.CompareAndSwap(false, true) {
				w = testenv.CutWriter(w, 100<<10)
			}
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	r, _ := name.ParseReference(host+"/app:v1", name.Insecure)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}

	crafts := &registry.Crafts{}
	var c device.Crafts
	crafts.Install(&c)
	if c.Fetchers[materials.DatastoreContainerRegistry] == nil || c.Resolver == nil || c.Containers == nil {
		t.Fatal("Install left a craft unset")
	}
	ds := materials.Datastore{ID: "ds", Type: materials.DatastoreContainerRegistry, FQDN: "docker://" + host}
	ct := materials.ContentTree{ID: "ct", URL: "app:v1", Format: materials.FormatContainer, Datastores: []string{"ds"}}
	top, err := crafts.Resolve(ctx, ds, ct)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := img.Digest(); string(top.Digest) != want.String() {
		t.Fatalf("resolved %s, want %s", top.Digest, want)
	}
	ct.SHA256 = top.Digest.Encoded()

	root := t.TempDir()
	store := blobdir.New(root)
	fetch := func(b materials.Blob) error {
		in, err := store.Ingest(ctx, b)
		if err != nil {
			return err
		}
		if err := crafts.Fetch(ctx, device.FetchRequest{Datastore: ds, ContentTree: ct, Blob: b}, in, func(int64, int64) {}); err != nil {
			in.Close()
			return err
		}
		return in.Commit(ctx, b.Size)
	}
	// The top is fetched with its size unknown, as a content tree's sha names it.
	if err := fetch(materials.Blob{Digest: top.Digest}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(store.Path(top.Digest))
	kids, err := oci.Children("", raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		b := materials.Blob{Digest: k.Digest, Size: k.Size, MediaType: k.MediaType}
		err := fetch(b)
		if k.Digest.String() == l1d.String() {
			if err == nil {
				t.Fatal("the cut fetch succeeded")
			}
			err = fetch(b) // the engine's retry: a new ingest at the written offset
		}
		if err != nil {
			t.Fatalf("fetch %s: %v", k.Digest, err)
		}
	}
	mu.Lock()
	got := append([]string(nil), ranges...)
	mu.Unlock()
	if len(got) != 2 || got[0] != "" || !strings.HasPrefix(got[1], "bytes=") || strings.HasPrefix(got[1], "bytes=0-") {
		t.Fatalf("layer GETs with Range %q: want a full GET then a resume", got)
	}

	final := filepath.Join(root, "persist", "vault", "volumes", "6f1c0c52-3e51-4d7c-9a53-0c1d2e3f4a5b#1.container")
	os.MkdirAll(filepath.Dir(final), 0o755)
	if err := crafts.CreateContainer(ctx, final, materials.Volume{ID: "6f1c0c52-3e51-4d7c-9a53-0c1d2e3f4a5b", Generation: 1, MaxSizeBytes: 8 << 20}, ct, store); err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.Walk(final, func(p string, info os.FileInfo, err error) error {
		rel, _ := filepath.Rel(final, p)
		if !info.IsDir() {
			b, _ := os.ReadFile(p)
			files = append(files, rel+"="+string(b[:min(len(b), 5)]))
		}
		return nil
	})
	if want := "etc/b=bbbbb etc/c=gamma"; strings.Join(files, " ") != want {
		t.Fatalf("volume files %q, want %q", files, want)
	}
}

// TestOCIFetchFreeSpaceBound: a layer whose descriptor size is larger than
// the free space (after what its partial holds) is refused with a
// *TooLargeError before any GET of it, and the partial is dropped; with
// room enough (counting the partial), it is fetched.
func TestOCIFetchFreeSpaceBound(t *testing.T) {
	ctx := context.Background()
	l := tarLayer(t, map[string]string{"big": strings.Repeat("x", 300<<10)})
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	ld, _ := l.Digest()
	size, _ := l.Size()
	h := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+ld.String()) {
			gets.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	r, _ := name.ParseReference(host+"/app:v1", name.Insecure)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	crafts := &registry.Crafts{}
	ds := materials.Datastore{ID: "ds", Type: materials.DatastoreContainerRegistry, FQDN: "docker://" + host}
	ct := materials.ContentTree{ID: "ct", URL: "app:v1", Format: materials.FormatContainer, Datastores: []string{"ds"}}
	b := materials.Blob{Digest: digest.Digest(ld.String()), Size: size, MediaType: string(types.OCIUncompressedLayer)}
	layerBytes, _ := l.Compressed()
	full, _ := io.ReadAll(layerBytes)

	for _, tc := range []struct {
		name    string
		partial int64 // bytes already in the ingest
		free    int64
		refused bool
	}{
		{"descriptor larger than free space", 0, size - 1, true},
		{"partial plus free space too small", 100 << 10, size - (100 << 10) - 1, true},
		{"partial counts toward the room", 100 << 10, size - (100 << 10), false},
		{"free space unknown", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := blobdir.New(t.TempDir())
			in, err := store.Ingest(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			if _, err := in.Write(full[:tc.partial]); err != nil {
				t.Fatal(err)
			}
			before := gets.Load()
			err = crafts.Fetch(ctx, device.FetchRequest{Datastore: ds, ContentTree: ct, Blob: b, FreeBytes: tc.free}, in, func(int64, int64) {})
			if !tc.refused {
				if err != nil {
					t.Fatalf("fetch: %v", err)
				}
				if err := in.Commit(ctx, size); err != nil {
					t.Fatal(err)
				}
				return
			}
			var tl *device.TooLargeError
			if !errors.As(err, &tl) || !errors.Is(err, device.ErrTooLarge) || tl.From != "free space" || !tl.Declared || tl.Got != size || tl.Bound != tc.partial+tc.free {
				t.Fatalf("err = %v, want *TooLargeError of free space bound %d for %d bytes", err, tc.partial+tc.free, size)
			}
			if !strings.Contains(err.Error(), ld.String()) {
				t.Errorf("error %q does not name the blob", err)
			}
			if n := gets.Load() - before; n != 0 {
				t.Errorf("%d GETs of the layer, want none before the refusal", n)
			}
			if in.Offset() != 0 {
				t.Errorf("the partial holds %d bytes after the refusal, want it dropped", in.Offset())
			}
		})
	}
}

// TestOCICraftsKeepPrivileges: a layer's setuid file loses the bit in a
// container volume unless OCICrafts.KeepPrivileges asks to keep it.
func TestOCICraftsKeepPrivileges(t *testing.T) {
	ctx := context.Background()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "suid", Mode: 0o4755, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("sh"))
	tw.Close()
	l := static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer)
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	img, _ = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	rawManifest, _ := img.RawManifest()
	rawConfig, _ := img.RawConfigFile()
	rc, _ := l.Compressed()
	rawLayer, _ := io.ReadAll(rc)
	for _, keep := range []bool{false, true} {
		root := t.TempDir()
		store := blobdir.New(root)
		for _, data := range [][]byte{rawManifest, rawConfig, rawLayer} {
			b := materials.Blob{Digest: digest.FromBytes(data), Size: int64(len(data))}
			in, err := store.Ingest(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			in.Write(data)
			if err := in.Commit(ctx, b.Size); err != nil {
				t.Fatal(err)
			}
		}
		ct := materials.ContentTree{ID: "ct", URL: "app:v1", Format: materials.FormatContainer, SHA256: digest.FromBytes(rawManifest).Encoded()}
		final := filepath.Join(root, "persist", "vault", "volumes", "6f1c0c52-3e51-4d7c-9a53-0c1d2e3f4a5b#1.container")
		os.MkdirAll(filepath.Dir(final), 0o755)
		crafts := &registry.Crafts{KeepPrivileges: keep}
		if err := crafts.CreateContainer(ctx, final, materials.Volume{ID: "6f1c0c52-3e51-4d7c-9a53-0c1d2e3f4a5b", Generation: 1, MaxSizeBytes: 1 << 20}, ct, store); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(filepath.Join(final, "suid"))
		if err != nil || (fi.Mode()&os.ModeSetuid != 0) != keep {
			t.Fatalf("KeepPrivileges=%v: suid mode %v, %v", keep, fi.Mode(), err)
		}
	}
}
