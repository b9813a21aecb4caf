package ctrstore

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/edgewright/edgewright/assembler/oci"
	"github.com/edgewright/edgewright/assembler/unpack"
	"github.com/edgewright/edgewright/internal/testenv"
)

// fixture is a confined containerd, an in-process registry (pushed to
// directly, read through an optional wrapper) and a Store.
type fixture struct {
	ctrd   *testenv.Containerd
	store  *Store
	push   string
	client *oci.Client
	ranges *rangeLog
}

type rangeLog struct {
	mu sync.Mutex
	r  []string
}

func (l *rangeLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.r...)
}

func newFixture(t *testing.T, wrap func(http.Handler) http.Handler) *fixture {
	t.Helper()
	f := &fixture{ctrd: testenv.StartContainerd(t), ranges: &rangeLog{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	p := httptest.NewServer(h)
	t.Cleanup(p.Close)
	f.push = strings.TrimPrefix(p.URL, "http://")
	var served http.Handler = h
	if wrap != nil {
		served = wrap(h)
	}
	logged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			f.ranges.mu.Lock()
			f.ranges.r = append(f.ranges.r, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]+" "+r.Header.Get("Range"))
			f.ranges.mu.Unlock()
		}
		served.ServeHTTP(w, r)
	})
	s := httptest.NewServer(logged)
	t.Cleanup(s.Close)
	c, err := oci.New("docker://"+strings.TrimPrefix(s.URL, "http://"), oci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.client = c
	f.store = f.open(t, "edge")
	return f
}

func (f *fixture) open(t *testing.T, ns string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Socket: f.ctrd.Address, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (f *fixture) pushImage(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, _ := name.ParseReference(f.push+"/"+ref, name.Insecure)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) resolve(t *testing.T, url string) (oci.Reference, ocispec.Descriptor) {
	t.Helper()
	ref, err := f.client.ParseReference(url)
	if err != nil {
		t.Fatal(err)
	}
	top, err := f.client.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return ref, top
}

func randomImage(t *testing.T, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func dg(t *testing.T, f func() (v1.Hash, error)) digest.Digest {
	t.Helper()
	h, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return digest.Digest(h.String())
}

func imageDigests(t *testing.T, img v1.Image) (manifest, config digest.Digest, layers []digest.Digest) {
	t.Helper()
	ls, _ := img.Layers()
	for _, l := range ls {
		layers = append(layers, dg(t, l.Digest))
	}
	return dg(t, img.Digest), dg(t, img.ConfigName), layers
}

func (f *fixture) info(t *testing.T, s *Store, d digest.Digest) (content.Info, bool) {
	t.Helper()
	info, err := s.cs.Info(s.ctx(context.Background()), d)
	if errdefs.IsNotFound(err) {
		return content.Info{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return info, true
}

func TestPullStoresTreeWithLabelsAndImage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	img := randomImage(t, 32<<10, 3)
	f.pushImage(t, "app:v1", img)
	ref, top := f.resolve(t, "app:v1")

	st, err := f.store.Pull(ctx, f.client, "tree-1", "app:v1", ref.Repository, top, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fetched != 4 || st.Present != 0 {
		t.Fatalf("first pull: %+v", st)
	}
	m, cfg, layers := imageDigests(t, img)
	for _, d := range append([]digest.Digest{m, cfg}, layers...) {
		info, ok := f.info(t, f.store, d)
		if !ok {
			t.Fatalf("blob %s not in the content store", d)
		}
		if info.Labels[OwnerLabel] != OwnerValue {
			t.Fatalf("blob %s labels %v lack ownership", d, info.Labels)
		}
	}
	mi, _ := f.info(t, f.store, m)
	want := map[string]string{OwnerLabel: OwnerValue, gcRefPrefix + "config": cfg.String()}
	for i, l := range layers {
		want[gcRefPrefix+"l."+itoa(i)] = l.String()
	}
	if !equalMaps(mi.Labels, want) {
		t.Fatalf("manifest labels\n got %v\nwant %v", mi.Labels, want)
	}
	imgRec, err := f.store.Image(ctx, "tree-1", "app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if imgRec.Name != "tree-1-app:v1" || imgRec.Target.Digest != m || imgRec.Labels[OwnerLabel] != OwnerValue {
		t.Fatalf("image record %+v", imgRec)
	}
	// The blobs were written inside the tree's lease, which expires.
	ls0, err := f.store.lm.List(f.store.ctx(ctx), "id=="+LeaseID("tree-1"))
	if err != nil || len(ls0) != 1 {
		t.Fatalf("lease: %v, %v", ls0, err)
	}
	if ls0[0].Labels[OwnerLabel] != OwnerValue || ls0[0].Labels[ContentTreeLabel] != "tree-1" || ls0[0].Labels["containerd.io/gc.expire"] == "" {
		t.Fatalf("lease labels %v", ls0[0].Labels)
	}
	res, err := f.store.lm.ListResources(f.store.ctx(ctx), ls0[0])
	if err != nil || len(res) < 5 {
		t.Fatalf("lease resources %v, %v", res, err)
	}
	// The layer reads back.
	rc, err := f.store.Open(ctx, ocispec.Descriptor{Digest: layers[0], Size: st.Layers[0].Size})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	ls, _ := img.Layers()
	lrc, _ := ls[0].Compressed()
	wantBytes, _ := io.ReadAll(lrc)
	if !bytes.Equal(got, wantBytes) {
		t.Fatal("layer read back differs")
	}
	// A second pull fetches nothing.
	before := len(f.ranges.all())
	st, err = f.store.Pull(ctx, f.client, "tree-1", "app:v1", ref.Repository, top, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fetched != 0 || st.Present != 4 || len(f.ranges.all()) != before {
		t.Fatalf("second pull: %+v, %d blob GETs", st, len(f.ranges.all())-before)
	}
	// ctr sees the image and the blobs (a cross-check by another client).
	if ctr, err := exec.LookPath("ctr"); err == nil {
		out, err := exec.Command(ctr, "--address", f.ctrd.Address, "-n", "edge", "images", "ls", "-q").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "tree-1-app:v1") {
			t.Fatalf("ctr images ls: %v\n%s", err, out)
		}
	}
}

func TestIndexGCLabels(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	var idx v1.ImageIndex = empty.Index
	var imgs []v1.Image
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "amd64"}} {
		img := randomImage(t, 1024, 1)
		imgs = append(imgs, img)
		p := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	r, _ := name.ParseReference(f.push+"/multi:v1", name.Insecure)
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	ref, top := f.resolve(t, "multi:v1")
	st, err := f.store.Pull(ctx, f.client, "tree-idx", "multi:v1", ref.Repository, top, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Manifest.Digest != dg(t, imgs[1].Digest) {
		t.Fatalf("pulled manifest %s, want the amd64 one", st.Manifest.Digest)
	}
	ii, ok := f.info(t, f.store, top.Digest)
	if !ok {
		t.Fatal("index not stored")
	}
	want := map[string]string{OwnerLabel: OwnerValue,
		gcRefPrefix + "m.0": dg(t, imgs[0].Digest).String(),
		gcRefPrefix + "m.1": dg(t, imgs[1].Digest).String()}
	if !equalMaps(ii.Labels, want) {
		t.Fatalf("index labels\n got %v\nwant %v", ii.Labels, want)
	}
}

func TestIngestResumesFromContainerdOffset(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	img := randomImage(t, 2<<20, 1)
	f.pushImage(t, "big:v1", img)
	ref, top := f.resolve(t, "big:v1")
	ls, _ := img.Layers()
	ld := dg(t, ls[0].Digest)
	size, _ := ls[0].Size()
	lrc, _ := ls[0].Compressed()
	layer, _ := io.ReadAll(lrc)
	const part = 700 << 10

	// A first attempt wrote part of the layer, then the process died.
	w, err := f.store.Writer(ctx, "tree-r", ocispec.Descriptor{Digest: ld, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 0 {
		t.Fatalf("fresh ingest at %d", w.Offset())
	}
	if _, err := w.Write(layer[:part]); err != nil {
		t.Fatal(err)
	}
	w.Close()

	// A new connection (a restart) sees containerd's recorded offset.
	s2 := f.open(t, "edge")
	bs, err := s2.Status(ctx, ld)
	if err != nil || bs.Committed || bs.Offset != part {
		t.Fatalf("status after restart: %+v, %v", bs, err)
	}
	st, err := s2.Pull(ctx, f.client, "tree-r", "big:v1", ref.Repository, top, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Resumed != 1 || st.Bytes != size-part+int64(0)+cfgSize(t, img) {
		t.Fatalf("pull stats %+v (layer %d, part %d)", st, size, part)
	}
	var layerRanges []string
	for _, r := range f.ranges.all() {
		if strings.HasPrefix(r, ld.String()) {
			layerRanges = append(layerRanges, strings.TrimPrefix(r, ld.String()+" "))
		}
	}
	if want := "bytes=" + itoa(part) + "-" + itoa(int(size-1)); len(layerRanges) != 1 || layerRanges[0] != want {
		t.Fatalf("layer GETs with Range %q, want [%q]", layerRanges, want)
	}
	bs, _ = s2.Status(ctx, ld)
	if !bs.Committed || !bs.Ours {
		t.Fatalf("layer after resume: %+v", bs)
	}
}

func cfgSize(t *testing.T, img v1.Image) int64 {
	raw, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(raw))
}

func TestIngestStartsOverWhenRegistryIgnoresRange(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("Range")
			h.ServeHTTP(w, r)
		})
	})
	img := randomImage(t, 64<<10, 1)
	f.pushImage(t, "norange:v1", img)
	ref, top := f.resolve(t, "norange:v1")
	ls, _ := img.Layers()
	ld := dg(t, ls[0].Digest)
	size, _ := ls[0].Size()
	// A wrong prefix in the ingest: the 200 must truncate it.
	w, err := f.store.Writer(ctx, "tree-n", ocispec.Descriptor{Digest: ld, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bytes.Repeat([]byte{0xee}, 4096))
	w.Close()
	if _, err := f.store.Pull(ctx, f.client, "tree-n", "norange:v1", ref.Repository, top, nil); err != nil {
		t.Fatal(err)
	}
	if bs, _ := f.store.Status(ctx, ld); !bs.Committed {
		t.Fatalf("layer not committed: %+v", bs)
	}
}

func TestCommitRejectsWrongBytes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	data := []byte("the right bytes")
	desc := ocispec.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	w, err := f.store.Writer(ctx, "tree-w", desc)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("the wrong bytes"))
	err = w.Commit(nil)
	var dm *oci.DigestMismatchError
	if !errors.As(err, &dm) {
		t.Fatalf("commit of wrong bytes: %v", err)
	}
	if _, ok := f.info(t, f.store, desc.Digest); ok {
		t.Fatal("wrong bytes committed")
	}
	if bs, err := f.store.Status(ctx, desc.Digest); err != nil || bs.Offset != 0 {
		t.Fatalf("bad ingest kept: %+v, %v", bs, err)
	}
	// Put checks before writing.
	if err := f.store.Put(ctx, "tree-w", desc, []byte("the wrong bytes")); !errors.As(err, &dm) {
		t.Fatalf("Put of wrong bytes: %v", err)
	}
	if err := f.store.Put(ctx, "tree-w", desc, data); err != nil {
		t.Fatal(err)
	}
}

// TestDeleteLeavesForeignBlobs: another client (as `ctr pull` would) holds
// an image and a blob that is also one of our layers; deleting our content
// tree lets containerd's gc collect our blobs and leaves the foreign ones
// and their labels as they were.
func TestDeleteLeavesForeignBlobs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	img := randomImage(t, 16<<10, 2)
	f.pushImage(t, "app:v1", img)
	ref, top := f.resolve(t, "app:v1")
	m, cfg, layers := imageDigests(t, img)
	ls, _ := img.Layers()
	shared, _ := ls[0].Compressed()
	sharedBytes, _ := io.ReadAll(shared)
	sharedDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layers[0], Size: int64(len(sharedBytes))}

	// The foreign client, in the same namespace.
	fctx := f.store.ctx(ctx)
	foreignLabels := map[string]string{"io.example.owner": "someone-else"}
	lease, err := f.store.lm.Create(fctx, leases.WithRandomID())
	if err != nil {
		t.Fatal(err)
	}
	lctx := leases.WithLease(fctx, lease.ID)
	other := []byte(`{"foreign":"config"}`)
	otherDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(other), Size: int64(len(other))}
	for _, b := range []struct {
		d    ocispec.Descriptor
		data []byte
	}{{sharedDesc, sharedBytes}, {otherDesc, other}} {
		if err := content.WriteBlob(lctx, f.store.cs, "foreign-"+b.d.Digest.String(), bytes.NewReader(b.data), b.d, content.WithLabels(foreignLabels)); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range []ocispec.Descriptor{sharedDesc, otherDesc} {
		if _, err := f.store.is.Create(fctx, images.Image{Name: "foreign/" + itoa(i), Target: d}); err != nil {
			t.Fatal(err)
		}
	}
	f.store.lm.Delete(fctx, lease, leases.SynchronousDelete)

	st, err := f.store.Pull(ctx, f.client, "tree-d", "app:v1", ref.Repository, top, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Present != 1 || st.Fetched != 2 { // config and layer 1; layer 0 is the foreign one
		t.Fatalf("pull with a foreign shared layer: %+v", st)
	}
	info, _ := f.info(t, f.store, layers[0])
	if !equalMaps(info.Labels, foreignLabels) {
		t.Fatalf("foreign blob relabelled: %v", info.Labels)
	}
	// A foreign image record of our name is refused, not overwritten.
	if _, err := f.store.is.Create(fctx, images.Image{Name: ImageName("tree-x", "app:v1"), Target: top}); err != nil {
		t.Fatal(err)
	}
	var fe *ForeignError
	if err := f.store.SetImage(ctx, "tree-x", "app:v1", top); !errors.As(err, &fe) {
		t.Fatalf("SetImage over a foreign record: %v", err)
	}
	if err := f.store.DeleteContentTree(ctx, "tree-x", "app:v1"); !errors.As(err, &fe) {
		t.Fatalf("DeleteContentTree of a foreign record: %v", err)
	}
	f.store.is.Delete(fctx, ImageName("tree-x", "app:v1"))

	// By name, as the assembler deletes image records.
	if err := f.store.DeleteImage(ctx, ImageName("tree-d", "app:v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Image(ctx, "tree-d", "app:v1"); !errdefs.IsNotFound(err) {
		t.Fatalf("image record after delete: %v", err)
	}
	if _, err := f.store.lm.ListResources(fctx, leases.Lease{ID: LeaseID("tree-d")}); !errdefs.IsNotFound(err) {
		t.Fatalf("lease after delete: %v", err)
	}
	for _, d := range []digest.Digest{m, cfg, layers[1]} {
		if _, ok := f.info(t, f.store, d); ok {
			t.Fatalf("our blob %s survived gc", d)
		}
	}
	for _, d := range []digest.Digest{layers[0], otherDesc.Digest} {
		info, ok := f.info(t, f.store, d)
		if !ok {
			t.Fatalf("foreign blob %s collected", d)
		}
		if !equalMaps(info.Labels, foreignLabels) {
			t.Fatalf("foreign blob %s labels changed: %v", d, info.Labels)
		}
	}
	// Deleting again is a no-op.
	if err := f.store.DeleteContentTree(ctx, "tree-d", "app:v1"); err != nil {
		t.Fatal(err)
	}
}

func TestNamespacesAreSeparate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	img := randomImage(t, 1024, 1)
	f.pushImage(t, "ns:v1", img)
	ref, top := f.resolve(t, "ns:v1")
	if _, err := f.store.Pull(ctx, f.client, "t", "ns:v1", ref.Repository, top, nil); err != nil {
		t.Fatal(err)
	}
	other := f.open(t, "other")
	if _, err := other.Image(ctx, "t", "ns:v1"); !errdefs.IsNotFound(err) {
		t.Fatalf("image visible in another namespace: %v", err)
	}
	if _, err := Open(ctx, Options{Socket: f.ctrd.Address, Namespace: "bad namespace!"}); err == nil || !strings.Contains(err.Error(), `"bad namespace!"`) {
		t.Fatalf("bad namespace: %v", err)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func itoa(i int) string {
	var b []byte
	if i == 0 {
		return "0"
	}
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// TestSharedLayerFetchedOnce: two content trees that share a layer, pulled
// at the same time, fetch it once; containerd's ingest lock on the
// digest-derived ref makes the second wait, then find it committed.
func TestSharedLayerFetchedOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	base := randomImage(t, 1<<20, 1)
	var imgs []v1.Image
	for i := 0; i < 2; i++ {
		top, err := random.Layer(4096, "application/vnd.docker.image.rootfs.diff.tar.gzip")
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(base, top)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
		f.pushImage(t, "shared"+itoa(i)+":v1", img)
	}
	baseLayers, _ := base.Layers()
	shared := dg(t, baseLayers[0].Digest)
	errs := make(chan error, 2)
	var stats [2]PullStats
	for i := range imgs {
		ref, top := f.resolve(t, "shared"+itoa(i)+":v1")
		go func(i int) {
			st, err := f.store.Pull(ctx, f.client, "tree-s"+itoa(i), "shared"+itoa(i)+":v1", ref.Repository, top, nil)
			stats[i] = st
			errs <- err
		}(i)
	}
	for range imgs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	gets := 0
	for _, r := range f.ranges.all() {
		if strings.HasPrefix(r, shared.String()) {
			gets++
		}
	}
	if gets != 1 || stats[0].Present+stats[1].Present != 1 {
		t.Fatalf("shared layer fetched %d times; stats %+v / %+v", gets, stats[0], stats[1])
	}
	// Both trees keep it: deleting one leaves it for the other.
	if err := f.store.DeleteContentTree(ctx, "tree-s0", "shared0:v1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.info(t, f.store, shared); !ok {
		t.Fatal("shared layer collected while tree-s1 still holds it")
	}
	if err := f.store.DeleteContentTree(ctx, "tree-s1", "shared1:v1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.info(t, f.store, shared); ok {
		t.Fatal("shared layer survived both deletes")
	}
}

// TestPullFromDockerRegistry: Debian's docker-registry into a confined
// containerd, then the same tree again (a no-op).
func TestPullFromDockerRegistry(t *testing.T) {
	ctx := context.Background()
	reg := testenv.StartDockerRegistry(t)
	ctrd := testenv.StartContainerd(t)
	s, err := Open(ctx, Options{Socket: ctrd.Address, Namespace: "edge"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	img := randomImage(t, 256<<10, 2)
	r, _ := name.ParseReference(reg.Host+"/edge/app:v1", name.Insecure)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	c, err := oci.New("docker://"+reg.Host, oci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := c.ParseReference("edge/app:v1")
	top, err := c.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Pull(ctx, c, "ct-dr", "edge/app:v1", ref.Repository, top, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fetched != 3 {
		t.Fatalf("pull: %+v", st)
	}
	m, cfg, layers := imageDigests(t, img)
	for _, d := range append([]digest.Digest{m, cfg}, layers...) {
		if bs, err := s.Status(ctx, d); err != nil || !bs.Committed || !bs.Ours {
			t.Fatalf("blob %s: %+v, %v", d, bs, err)
		}
	}
	if rec, err := s.Image(ctx, "ct-dr", "edge/app:v1"); err != nil || rec.Target.Digest != m {
		t.Fatalf("image record %+v, %v", rec, err)
	}
	st, err = s.Pull(ctx, c, "ct-dr", "edge/app:v1", ref.Repository, top, nil)
	if err != nil || st.Fetched != 0 || st.Present != 3 {
		t.Fatalf("second pull: %+v, %v", st, err)
	}
}

// TestPullThenUnpackFromContainerd: a two-layer image with a whiteout,
// pulled into containerd, unpacked from the content store into a
// container volume directory whose files match the layers.
func TestPullThenUnpackFromContainerd(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	mk := func(files ...[2]string) v1.Layer {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, fl := range files {
			tw.WriteHeader(&tar.Header{Name: fl[0], Mode: 0o644, Size: int64(len(fl[1])), Typeflag: tar.TypeReg})
			tw.Write([]byte(fl[1]))
		}
		tw.Close()
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(buf.Bytes())
		zw.Close()
		return static.NewLayer(gz.Bytes(), types.OCILayer)
	}
	img, err := mutate.AppendLayers(empty.Image,
		mk([2]string{"app/a", "alpha"}, [2]string{"app/b", "beta"}),
		mk([2]string{"app/.wh.a", ""}, [2]string{"app/c", "gamma"}))
	if err != nil {
		t.Fatal(err)
	}
	img, _ = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	f.pushImage(t, "wh:v1", img)
	ref, top := f.resolve(t, "wh:v1")
	st, err := f.store.Pull(ctx, f.client, "ct-wh", "wh:v1", ref.Repository, top, nil)
	if err != nil {
		t.Fatal(err)
	}
	var layers []unpack.Layer
	for _, l := range st.Layers {
		l := l
		layers = append(layers, func() (io.ReadCloser, error) { return f.store.Open(ctx, l) })
	}
	final := filepath.Join(t.TempDir(), "vol#1.container")
	if _, err := unpack.Build(ctx, final, layers, unpack.Options{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.Walk(final, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(final, p)
			got = append(got, rel+"="+string(b))
		}
		return nil
	})
	if want := "app/b=beta app/c=gamma"; strings.Join(got, " ") != want {
		t.Fatalf("volume files %q, want %q", got, want)
	}
	if st, err := f.store.Pull(ctx, f.client, "ct-wh", "wh:v1", ref.Repository, top, nil); err != nil || st.Fetched != 0 {
		t.Fatalf("second pull: %+v, %v", st, err)
	}
}
