package assembler_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/crafts/containerd"
	"github.com/edgewright/edgewright/assembler/ctrstore"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// tarEntry is one entry of a generated layer.
type tarEntry struct {
	name, body string
	typ        byte
}

func layerOf(t *testing.T, gz bool, entries ...tarEntry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: e.typ}
		if e.typ == tar.TypeDir {
			h.Mode, h.Size = 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	mt := types.OCIUncompressedLayer
	if gz {
		zw.Close()
		mt = types.OCILayer
	}
	return static.NewLayer(buf.Bytes(), mt)
}

// whiteoutImage is two layers: the second deletes a file of the first
// (`.wh.a`) and makes a directory opaque (`.wh..wh..opq`).
func whiteoutImage(t *testing.T) (v1.Image, map[string]string) {
	t.Helper()
	// Incompressible, so the gzip layer is large enough to be cut mid-way.
	rnd := make([]byte, 450<<10)
	src := rand.NewChaCha8([32]byte{1, 2, 3})
	src.Read(rnd)
	big := base64.StdEncoding.EncodeToString(rnd)
	l1 := layerOf(t, true,
		tarEntry{"etc/", "", tar.TypeDir}, tarEntry{"etc/a", "alpha", tar.TypeReg}, tarEntry{"etc/b", big, tar.TypeReg},
		tarEntry{"opt/", "", tar.TypeDir}, tarEntry{"opt/old1", "one", tar.TypeReg}, tarEntry{"opt/sub/", "", tar.TypeDir},
		tarEntry{"opt/sub/old2", "two", tar.TypeReg})
	l2 := layerOf(t, false,
		tarEntry{"etc/", "", tar.TypeDir}, tarEntry{"etc/.wh.a", "", tar.TypeReg}, tarEntry{"etc/c", "gamma", tar.TypeReg},
		tarEntry{"opt/", "", tar.TypeDir}, tarEntry{"opt/.wh..wh..opq", "", tar.TypeReg}, tarEntry{"opt/new", "fresh", tar.TypeReg})
	img, err := mutate.AppendLayers(empty.Image, l1, l2)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"etc/": "", "etc/b": big, "etc/c": "gamma", "opt/": "", "opt/new": "fresh"}
	return img, want
}

// countingProxy logs every registry request in front of a registry, and
// can cut the first full GET of one blob after cut bytes.
type countingProxy struct {
	mu        sync.Mutex
	reqs      []string // "METHOD kind" with kind blobs or manifests
	ranges    []string // Range headers of blob GETs
	cut       int
	cutDigest string
	cutted    bool
}

func (c *countingProxy) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "other"
		switch {
		case strings.Contains(r.URL.Path, "/blobs/"):
			kind = "blobs"
		case strings.Contains(r.URL.Path, "/manifests/"):
			kind = "manifests"
		}
		c.mu.Lock()
		c.reqs = append(c.reqs, r.Method+" "+kind)
		if kind == "blobs" && r.Method == http.MethodGet {
			c.ranges = append(c.ranges, r.Header.Get("Range"))
			if c.cut > 0 && !c.cutted && r.Header.Get("Range") == "" && c.cutDigest != "" && strings.HasSuffix(r.URL.Path, "/"+c.cutDigest) {
				c.cutted = true
				w = testenv.CutWriter(w, int64(c.cut))
			}
		}
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (c *countingProxy) count(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.reqs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// registryKind is where the image is served from.
type registryKind struct {
	name  string
	start func(t *testing.T, proxy *countingProxy) (push, serve string)
}

var registries = []registryKind{
	{"ggcr", func(t *testing.T, proxy *countingProxy) (string, string) {
		h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
		push := httptest.NewServer(h)
		t.Cleanup(push.Close)
		serve := httptest.NewServer(proxy.wrap(h))
		t.Cleanup(serve.Close)
		return strings.TrimPrefix(push.URL, "http://"), strings.TrimPrefix(serve.URL, "http://")
	}},
	{"docker-registry", func(t *testing.T, proxy *countingProxy) (string, string) {
		reg := testenv.StartDockerRegistry(t)
		u, _ := url.Parse("http://" + reg.Host)
		serve := httptest.NewServer(proxy.wrap(httputil.NewSingleHostReverseProxy(u)))
		t.Cleanup(serve.Close)
		return reg.Host, strings.TrimPrefix(serve.URL, "http://")
	}},
}

const (
	e2eDatastore = "11111111-2222-4333-8444-555555555555"
	e2eTree      = "22222222-3333-4444-8555-666666666666"
	e2eVolume    = "33333333-4444-4555-8666-777777777777"
)

func ociBlueprint(host, url string) *materials.Blueprint {
	return &materials.Blueprint{
		Complete:     true,
		Datastores:   []materials.Datastore{{ID: e2eDatastore, Type: materials.DatastoreContainerRegistry, FQDN: "docker://" + host}},
		ContentTrees: []materials.ContentTree{{ID: e2eTree, URL: url, Format: materials.FormatContainer, Datastores: []string{e2eDatastore}}},
		Volumes: []materials.Volume{{ID: e2eVolume, Generation: 1, Origin: materials.OriginDownload, ContentTree: e2eTree,
			Format: materials.FormatContainer, RefCount: 1}},
	}
}

// TestContainerdEndToEnd converges a Blueprint with a container-registry
// datastore and a container volume into a real confined containerd, from
// go-containerregistry's registry and from Debian's docker-registry: the
// content store then holds the manifest, config and layers with
// edgewright's labels, the image record `<tree>-<URL>` points at the
// manifest, the volume's files are the layers with the whiteouts applied,
// and a second converge plans nothing and fetches nothing.
func TestContainerdEndToEnd(t *testing.T) {
	for _, rk := range registries {
		t.Run(rk.name, func(t *testing.T) {
			ctx := context.Background()
			ctrd := testenv.StartContainerd(t)
			// The first GET of the big layer is cut after 200 KiB: its
			// fetch must resume.
			proxy := &countingProxy{cut: 200 << 10}
			push, serve := rk.start(t, proxy)
			img, want := whiteoutImage(t)
			if ls, _ := img.Layers(); len(ls) > 0 {
				d, _ := ls[0].Digest()
				proxy.cutDigest = d.String()
			}
			ref, _ := name.ParseReference(push+"/edge/app:v1", name.Insecure)
			if err := remote.Write(ref, img); err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			const ns = "edge-e2e"
			converge := func(bp *materials.Blueprint, fo foreman.Options) *assembler.ConvergeResult {
				t.Helper()
				cs, err := containerd.Open(ctx, ctrstore.Options{Socket: ctrd.Address, Namespace: ns})
				if err != nil {
					t.Fatal(err)
				}
				defer cs.Close()
				cs.ContentDir = ctrd.ContentDir()
				var crafts assembler.Crafts
				(&assembler.OCICrafts{}).Install(&crafts)
				cs.Install(&crafts)
				a, err := assembler.New(assembler.Options{Root: root, Crafts: crafts})
				if err != nil {
					t.Fatal(err)
				}
				res, err := a.Converge(ctx, bp, assembler.ConvergeOptions{Foreman: fo})
				if err != nil {
					for _, f := range res.Failed {
						t.Logf("failed %s: %s", f.RemodelID, f.Error)
					}
					t.Fatalf("converge: %v", err)
				}
				if !res.Converged {
					t.Fatalf("not converged: %d held", len(res.Plan.Held))
				}
				return res
			}
			bp := ociBlueprint(serve, "edge/app:v1")
			converge(bp, foreman.Options{})

			// The content store: every blob of the tree, ours, the manifest
			// labelled with its children.
			c, err := client.New(ctrd.Address, client.WithDefaultNamespace(ns))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			mf, _ := img.Manifest()
			md, _ := img.Digest()
			cfg, _ := img.ConfigName()
			blobs := []digest.Digest{digest.Digest(md.String()), digest.Digest(cfg.String())}
			for _, l := range mf.Layers {
				blobs = append(blobs, digest.Digest(l.Digest.String()))
			}
			for _, d := range blobs {
				info, err := c.ContentStore().Info(nsCtx(ctx, ns), d)
				if err != nil {
					t.Fatalf("content store lacks %s: %v", d, err)
				}
				if info.Labels[ctrstore.OwnerLabel] != ctrstore.OwnerValue {
					t.Errorf("blob %s labels %v: want %s=%s", d, info.Labels, ctrstore.OwnerLabel, ctrstore.OwnerValue)
				}
			}
			minfo, _ := c.ContentStore().Info(nsCtx(ctx, ns), blobs[0])
			wantLabels := map[string]string{
				"containerd.io/gc.ref.content.config": cfg.String(),
				"containerd.io/gc.ref.content.l.0":    mf.Layers[0].Digest.String(),
				"containerd.io/gc.ref.content.l.1":    mf.Layers[1].Digest.String(),
			}
			for k, v := range wantLabels {
				if minfo.Labels[k] != v {
					t.Errorf("manifest label %s = %q, want %q", k, minfo.Labels[k], v)
				}
			}
			// The image record, seen by ctr as well.
			imgName := e2eTree + "-edge/app:v1"
			rec, err := c.ImageService().Get(nsCtx(ctx, ns), imgName)
			if err != nil {
				t.Fatalf("image record %s: %v", imgName, err)
			}
			if rec.Target.Digest.String() != md.String() || rec.Labels[ctrstore.OwnerLabel] != ctrstore.OwnerValue {
				t.Fatalf("image record %s: target %s labels %v, want %s and our label", imgName, rec.Target.Digest, rec.Labels, md)
			}
			out, err := exec.Command("ctr", "--address", ctrd.Address, "-n", ns, "images", "ls", "-q").CombinedOutput()
			if err != nil || !strings.Contains(string(out), imgName) {
				t.Fatalf("ctr images ls: %v: %s", err, out)
			}
			// The tree's lease was dropped once the record held it.
			ls, err := c.LeasesService().List(nsCtx(ctx, ns))
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range ls {
				if l.ID == ctrstore.LeaseID(e2eTree) {
					t.Errorf("lease %s still there after the image record was written", l.ID)
				}
			}

			// The volume: the layers with the whiteouts applied.
			vol := filepath.Join(root, "persist", "vault", "volumes", e2eVolume+"#1.container")
			got := map[string]string{}
			err = filepath.WalkDir(vol, func(p string, d fs.DirEntry, err error) error {
				if err != nil || p == vol {
					return err
				}
				rel, _ := filepath.Rel(vol, p)
				if d.IsDir() {
					got[rel+"/"] = ""
					return nil
				}
				b, err := os.ReadFile(p)
				got[rel] = string(b)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if !sameFiles(got, want) {
				t.Fatalf("volume files %v, want %v", keys(got), keys(want))
			}
			if proxy.count("GET blobs") == 0 {
				t.Fatal("no blob GETs counted: the proxy is not in the path")
			}
			// The cut layer resumed at containerd's recorded offset.
			proxy.mu.Lock()
			ranges := append([]string(nil), proxy.ranges...)
			proxy.mu.Unlock()
			resumed := false
			for _, r := range ranges {
				resumed = resumed || strings.HasPrefix(r, "bytes=") && !strings.HasPrefix(r, "bytes=0-")
			}
			if !proxy.cutted || !resumed {
				t.Fatalf("blob GET ranges %q (cut: %v): want a resume after the cut", ranges, proxy.cutted)
			}

			// A second converge: nothing to plan, nothing fetched.
			before := len(proxy.reqs)
			res := converge(bp, foreman.Options{})
			if res.Rounds != 1 || len(res.Reports) != 0 || !res.Plan.Empty() {
				t.Fatalf("second converge: %d rounds, %d reports, plan %q: want a no-op", res.Rounds, len(res.Reports), res.Plan.Summary.Text)
			}
			proxy.mu.Lock()
			after := append([]string(nil), proxy.reqs[before:]...)
			proxy.mu.Unlock()
			if len(after) != 0 {
				t.Fatalf("second converge sent registry requests %v", after)
			}

			// A blob someone else wrote (kept by containerd's gc.root label)
			// must outlive edgewright's deletes.
			// Committed with the label in one step: a blob without one
			// could be collected before it is labelled.
			foreign := digest.FromString("not edgewright's")
			err = content.WriteBlob(nsCtx(ctx, ns), c.ContentStore(), "foreign", strings.NewReader("not edgewright's"),
				ocispec.Descriptor{Digest: foreign, Size: int64(len("not edgewright's"))},
				content.WithLabels(map[string]string{"containerd.io/gc.root": "test"}))
			if err != nil {
				t.Fatalf("write a foreign blob: %v", err)
			}
			// The config drops the tree and its volume: the image record goes,
			// containerd's gc takes the blobs, the foreign blob stays.
			empty := &materials.Blueprint{Complete: true, Datastores: bp.Datastores}
			converge(empty, foreman.Options{AllowMassDelete: true})
			if _, err := c.ImageService().Get(nsCtx(ctx, ns), imgName); err == nil {
				t.Errorf("image record %s survived the tree's delete", imgName)
			}
			for _, d := range blobs {
				if _, err := c.ContentStore().Info(nsCtx(ctx, ns), d); err == nil {
					t.Errorf("blob %s survived the tree's delete and containerd's gc", d)
				}
			}
			if _, err := c.ContentStore().Info(nsCtx(ctx, ns), foreign); err != nil {
				t.Errorf("the foreign blob is gone: %v", err)
			}
			if _, err := os.Lstat(vol); !os.IsNotExist(err) {
				t.Errorf("volume %s survived: %v", vol, err)
			}
		})
	}
}

func nsCtx(ctx context.Context, ns string) context.Context { return namespaces.WithNamespace(ctx, ns) }

func sameFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOCIIndex converges a multi-platform image (an index of an arm64 and
// an amd64 manifest) into the blob directory and into a real containerd:
// the index and this platform's manifest come in one download, only
// amd64's blobs are fetched, the volume holds amd64's files, and a second
// converge is a no-op.
func TestOCIIndex(t *testing.T) {
	for _, store := range []string{"dir", "containerd"} {
		t.Run(store, func(t *testing.T) { testOCIIndex(t, store) })
	}
}

func testOCIIndex(t *testing.T, store string) {
	ctx := context.Background()
	var ctrd *testenv.Containerd
	if store == "containerd" {
		ctrd = testenv.StartContainerd(t)
	}
	proxy := &countingProxy{}
	push, serve := registries[0].start(t, proxy)
	amd, want := whiteoutImage(t)
	arm, err := mutate.AppendLayers(empty.Image, layerOf(t, false, tarEntry{"arm", "64", tar.TypeReg}))
	if err != nil {
		t.Fatal(err)
	}
	arm, _ = mutate.ConfigFile(arm, &v1.ConfigFile{OS: "linux", Architecture: "arm64"})
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	ref, _ := name.ParseReference(push+"/multi/app:v2", name.Insecure)
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	const ns = "index"
	var has func(d digest.Digest) bool
	converge := func() *assembler.ConvergeResult {
		t.Helper()
		var crafts assembler.Crafts
		(&assembler.OCICrafts{}).Install(&crafts)
		var bs assembler.BlobStore = assembler.NewBlobDir(root)
		if ctrd != nil {
			cs, err := containerd.Open(ctx, ctrstore.Options{Socket: ctrd.Address, Namespace: ns})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			cs.ContentDir = ctrd.ContentDir()
			cs.Install(&crafts)
			bs = cs
		}
		a, err := assembler.New(assembler.Options{Root: root, Crafts: crafts})
		if err != nil {
			t.Fatal(err)
		}
		res, err := a.Converge(ctx, ociBlueprint(serve, "multi/app:v2"), assembler.ConvergeOptions{})
		if err != nil {
			for _, f := range res.Failed {
				t.Logf("failed %s: %s", f.RemodelID, f.Error)
			}
			t.Fatalf("converge: %v", err)
		}
		has = func(d digest.Digest) bool {
			ok, _, err := bs.Has(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if ok := has(digest.Digest(mustDigest(t, amd.Digest))); !ok {
			t.Fatal("amd64's manifest is not in the store")
		}
		if has(digest.Digest(mustDigest(t, arm.Digest))) {
			t.Error("arm64's manifest was fetched")
		}
		armLayers, _ := arm.Layers()
		if has(digest.Digest(mustDigest(t, armLayers[0].Digest))) {
			t.Error("arm64's layer was fetched")
		}
		return res
	}
	res := converge()
	if !res.Converged || res.Rounds > 4 {
		t.Fatalf("converged %v in %d rounds: want converged in at most 4 (resolve, index+manifest, blobs, check)", res.Converged, res.Rounds)
	}
	vol := filepath.Join(root, "persist", "vault", "volumes", e2eVolume+"#1.container")
	got := map[string]string{}
	filepath.WalkDir(vol, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == vol {
			return err
		}
		rel, _ := filepath.Rel(vol, p)
		if d.IsDir() {
			got[rel+"/"] = ""
			return nil
		}
		b, _ := os.ReadFile(p)
		got[rel] = string(b)
		return nil
	})
	if !sameFiles(got, want) {
		t.Fatalf("volume files %v, want %v", keys(got), keys(want))
	}
	before := proxy.count("")
	if res := converge(); res.Rounds != 1 || len(res.Reports) != 0 {
		t.Fatalf("second converge: %d rounds, %d reports: want a no-op", res.Rounds, len(res.Reports))
	}
	if n := proxy.count("") - before; n != 0 {
		t.Fatalf("second converge sent %d registry requests", n)
	}
}

func mustDigest(t *testing.T, f func() (v1.Hash, error)) string {
	t.Helper()
	h, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}
