package ctrsurvey_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/inspector/ctrsurvey"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

const testNS = "edgewright-test"

// TestSurveyContainerd writes blobs, a partial ingest and image records
// into a real (confined) containerd with its own client, then checks that
// the survey reports them as containerd holds them.
func TestSurveyContainerd(t *testing.T) {
	d := testenv.StartContainerd(t)
	c, err := client.New(d.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), testNS)
	// As the assembler does: write inside a lease, or containerd's garbage
	// collector removes blobs nothing refers to yet.
	lease, err := c.LeasesService().Create(ctx, leases.WithRandomID(), leases.WithExpiration(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx = leases.WithLease(ctx, lease.ID)
	cs := c.ContentStore()

	write := func(data []byte, mediaType string, labels map[string]string) ocispec.Descriptor {
		t.Helper()
		desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
		if err := content.WriteBlob(ctx, cs, "write-"+desc.Digest.String(), bytes.NewReader(data), desc, content.WithLabels(labels)); err != nil {
			t.Fatalf("write blob: %v", err)
		}
		return desc
	}
	owner := map[string]string{"io.edgewright.owner": "edgewright"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{"io.edgewright.owner": "edgewright"}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	layer0 := write([]byte(strings.Repeat("layer zero ", 100)), ocispec.MediaTypeImageLayer, owner)
	layer1 := write([]byte("layer one"), ocispec.MediaTypeImageLayer, owner)
	config := write([]byte(`{"architecture":"amd64","os":"linux"}`), ocispec.MediaTypeImageConfig, owner)
	manifestJSON := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"` +
		string(config.Digest) + `","size":1},"layers":[{"digest":"` + string(layer0.Digest) + `","size":1},{"digest":"` +
		string(layer1.Digest) + `","size":1}]}`)
	manifest := write(manifestJSON, ocispec.MediaTypeImageManifest, with(map[string]string{
		"containerd.io/gc.ref.content.config": string(config.Digest),
		"containerd.io/gc.ref.content.l.0":    string(layer0.Digest),
		"containerd.io/gc.ref.content.l.1":    string(layer1.Digest),
	}))
	index := write([]byte(`{"schemaVersion":2,"manifests":[{"digest":"`+string(manifest.Digest)+`","size":1}]}`),
		ocispec.MediaTypeImageIndex, with(map[string]string{"containerd.io/gc.ref.content.m.0": string(manifest.Digest)}))
	// An image written by a tool that sets no gc labels: its manifest is
	// read to find the children.
	loneLayer := write([]byte("lone layer"), ocispec.MediaTypeImageLayer, nil)
	loneConfig := write([]byte(`{"os":"linux"}`), ocispec.MediaTypeImageConfig, nil)
	lone := write([]byte(`{"schemaVersion":2,"config":{"digest":"`+string(loneConfig.Digest)+`","size":1},"layers":[{"digest":"`+
		string(loneLayer.Digest)+`","size":1}]}`), ocispec.MediaTypeImageManifest, nil)

	// A partial ingest: half the bytes written, never committed.
	partialData := []byte(strings.Repeat("p", 1000))
	partialDigest := digest.FromBytes(partialData)
	w, err := cs.Writer(ctx, content.WithRef("layer-"+partialDigest.String()),
		content.WithDescriptor(ocispec.Descriptor{Digest: partialDigest, Size: int64(len(partialData))}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(partialData[:400]); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// One whose ref names no digest.
	w, err = cs.Writer(ctx, content.WithRef("opaque-ref"), content.WithDescriptor(ocispec.Descriptor{Size: 50}))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, 10))
	w.Close()

	is := c.ImageService()
	for _, img := range []images.Image{
		{Name: "ct-1-docker.io/library/app:1", Target: index, Labels: map[string]string{"io.edgewright.owner": "edgewright"}},
		{Name: "ct-2-docker.io/library/lone:1", Target: lone},
		{Name: "ct-3-missing", Target: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("gone"), Size: 4}},
	} {
		if _, err := is.Create(ctx, img); err != nil {
			t.Fatalf("create image %s: %v", img.Name, err)
		}
	}
	// Another namespace is not surveyed.
	other := namespaces.WithNamespace(context.Background(), "elsewhere")
	data := []byte("other namespace")
	if err := content.WriteBlob(other, cs, "x", bytes.NewReader(data), ocispec.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}

	root := newRoot(t)
	start := time.Now().Add(-time.Minute)
	core, logs := observer.New(zap.DebugLevel)
	fp := survey(t, inspector.Options{Root: root, Containerd: &ctrsurvey.Daemon{Socket: d.Address, Namespace: testNS, Logger: zap.New(core)}})
	// The Daemon logs through its own Logger, never a global one.
	if got := logs.FilterMessage("surveyed containerd").All(); len(got) != 1 ||
		got[0].ContextMap()["blobs"] != int64(10) || got[0].ContextMap()["images"] != int64(3) {
		t.Errorf("debug log %+v, want one \"surveyed containerd\" with 10 blobs and 3 images", logs.All())
	}

	if len(fp.Volumes) != 1 {
		t.Errorf("volumes %+v, want the one volume file", fp.Volumes)
	}
	if len(fp.Diagnostics) != 1 || fp.Diagnostics[0].Path != "containerd/"+testNS+"/images/ct-3-missing" ||
		!strings.Contains(fp.Diagnostics[0].Message, "not in the content store") {
		t.Errorf("diagnostics %v, want only the missing target of ct-3", fp.Diagnostics)
	}

	type want struct {
		size     int64
		offset   int64
		state    materials.State
		labels   map[string]string
		children []digest.Digest
		ref      string
		media    string
	}
	gcLabels := func(extra map[string]string) map[string]string { return with(extra) }
	for _, tc := range []struct {
		name   string
		digest digest.Digest
		want   want
	}{
		{"layer0", layer0.Digest, want{size: layer0.Size, state: "complete", labels: owner}},
		{"layer1", layer1.Digest, want{size: layer1.Size, state: "complete", labels: owner}},
		{"config", config.Digest, want{size: config.Size, state: "complete", labels: owner}},
		{"manifest", manifest.Digest, want{size: manifest.Size, state: "complete", labels: gcLabels(map[string]string{
			"containerd.io/gc.ref.content.config": string(config.Digest),
			"containerd.io/gc.ref.content.l.0":    string(layer0.Digest),
			"containerd.io/gc.ref.content.l.1":    string(layer1.Digest),
		}), children: sortDigests(config.Digest, layer0.Digest, layer1.Digest), media: ocispec.MediaTypeImageManifest}},
		{"index", index.Digest, want{size: index.Size, state: "complete",
			labels:   gcLabels(map[string]string{"containerd.io/gc.ref.content.m.0": string(manifest.Digest)}),
			children: []digest.Digest{manifest.Digest}, media: ocispec.MediaTypeImageIndex}},
		{"lone manifest (sniffed)", lone.Digest, want{size: lone.Size, state: "complete",
			children: sortDigests(loneConfig.Digest, loneLayer.Digest), media: ocispec.MediaTypeImageManifest}},
		{"lone layer", loneLayer.Digest, want{size: loneLayer.Size, state: "complete"}},
		{"partial ingest", partialDigest, want{size: 1000, offset: 400, state: "partial", ref: "layer-" + partialDigest.String()}},
		{"opaque partial", "", want{size: 50, offset: 10, state: "partial", ref: "opaque-ref"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *materials.BlobRecord
			for i := range fp.Blobs {
				b := &fp.Blobs[i]
				if b.Digest == tc.digest && (tc.want.ref == "" || b.Ref == tc.want.ref) {
					got = b
				}
			}
			if got == nil {
				t.Fatalf("blob %s not found in %+v", tc.digest, fp.Blobs)
			}
			w := tc.want
			if got.Store != materials.BlobStoreContainerd || got.Size != w.size || got.Offset != w.offset ||
				got.State != w.state || got.Ref != w.ref || got.MediaType != w.media {
				t.Errorf("got %+v, want %+v", got, w)
			}
			if diff := cmp.Diff(w.labels, got.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(w.children, got.Children); diff != "" {
				t.Errorf("children (-want +got):\n%s", diff)
			}
			if got.CreatedAt.Before(start) || got.UpdatedAt.Before(got.CreatedAt) {
				t.Errorf("times created %v updated %v", got.CreatedAt, got.UpdatedAt)
			}
		})
	}
	// 8 committed blobs in our namespace, 2 partial ingests.
	if len(fp.Blobs) != 10 {
		t.Errorf("%d blobs, want 10: %+v", len(fp.Blobs), fp.Blobs)
	}

	wantImages := []materials.ImageRecord{
		{Name: "ct-1-docker.io/library/app:1", Target: index.Digest, MediaType: ocispec.MediaTypeImageIndex,
			Labels: map[string]string{"io.edgewright.owner": "edgewright"},
			Blobs:  sortDigests(index.Digest, manifest.Digest, config.Digest, layer0.Digest, layer1.Digest)},
		{Name: "ct-2-docker.io/library/lone:1", Target: lone.Digest, MediaType: ocispec.MediaTypeImageManifest,
			Blobs: sortDigests(lone.Digest, loneConfig.Digest, loneLayer.Digest)},
		{Name: "ct-3-missing", Target: digest.FromString("gone"), MediaType: ocispec.MediaTypeImageManifest,
			Blobs: []digest.Digest{digest.FromString("gone")}},
	}
	if diff := cmp.Diff(wantImages, fp.Images, cmp.FilterPath(func(p cmp.Path) bool {
		return strings.HasSuffix(p.String(), "At")
	}, cmp.Ignore())); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	for _, img := range fp.Images {
		if img.CreatedAt.Before(start) {
			t.Errorf("image %s created %v", img.Name, img.CreatedAt)
		}
	}

	t.Run("deterministic", func(t *testing.T) {
		again := survey(t, inspector.Options{Root: root, Containerd: &ctrsurvey.Daemon{Socket: d.Address, Namespace: testNS}})
		if again.Fingerprint != fp.Fingerprint {
			t.Fatalf("fingerprint changed between two surveys of an unchanged store")
		}
		if err := cs.Delete(ctx, loneLayer.Digest); err != nil {
			t.Fatal(err)
		}
		after := survey(t, inspector.Options{Root: root, Containerd: &ctrsurvey.Daemon{Socket: d.Address, Namespace: testNS}})
		if after.Fingerprint == fp.Fingerprint {
			t.Fatalf("fingerprint unchanged after a blob was deleted")
		}
	})
}

// TestSurveyContainerdUnreachable: a daemon that is not there is an error
// diagnostic inspector.ContainerdUnreachable recognises; the disk is still surveyed.
func TestSurveyContainerdUnreachable(t *testing.T) {
	root := newRoot(t)
	for _, tc := range []struct {
		name string
		opts ctrsurvey.Daemon
		msg  string
		// value, when set, is the diagnostic's Value: the survey names the
		// errno of what the Daemon reports.
		value string
	}{
		{"no socket file", ctrsurvey.Daemon{Socket: filepath.Join(root, "nope.sock"), Namespace: testNS}, "containerd unreachable at", "ENOENT"},
		{"not a socket", ctrsurvey.Daemon{Socket: filepath.Join(root, vault, uuidA+"#1.raw"), Namespace: testNS}, "containerd unreachable at", ""},
		{"no socket given", ctrsurvey.Daemon{Namespace: testNS}, "no socket given", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Timeout = 10 * time.Second
			fp := survey(t, inspector.Options{Root: root, Containerd: &opts})
			if !inspector.ContainerdUnreachable(fp) {
				t.Fatalf("not reported unreachable: %v", fp.Diagnostics)
			}
			d := daemonDiag(fp)
			if !strings.Contains(d.Message, tc.msg) {
				t.Fatalf("diagnostic %v, want %q", d, tc.msg)
			}
			if tc.value != "" && d.Value != tc.value {
				t.Fatalf("diagnostic value %q, want %q", d.Value, tc.value)
			}
			if len(fp.Volumes) != 1 || len(fp.Blobs) != 0 {
				t.Fatalf("volumes %v blobs %v", fp.Volumes, fp.Blobs)
			}
		})
	}
	t.Run("empty namespace", func(t *testing.T) {
		fp := survey(t, inspector.Options{Root: root, Containerd: &ctrsurvey.Daemon{Socket: "/x"}})
		if d := daemonDiag(fp); d == nil || !strings.Contains(d.Message, "namespace is empty") || inspector.ContainerdUnreachable(fp) {
			t.Fatalf("diagnostics %v", fp.Diagnostics)
		}
	})
}
