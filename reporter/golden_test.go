package reporter

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files under testdata/")

const (
	volA  = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
	volB  = "6fa459ea-ee8a-4ca4-894e-db77e160355e"
	treeX = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	treeO = "a3bb189e-8bf9-4888-9912-ace4e6543002"
)

var (
	t0      = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	blobX   = digest.FromString("disk image x")
	blobM   = digest.FromString("oci manifest")
	blobCfg = digest.FromString("oci config")
	blobL   = digest.FromString("oci layer")
)

func treeVM() materials.ContentTree {
	return materials.ContentTree{ID: treeX, DisplayName: "disk-x", URL: "images/x.raw", Format: materials.FormatRaw,
		SHA256: blobX.Encoded(), Datastores: []string{"ds"}}
}

func treeOCI() materials.ContentTree {
	return materials.ContentTree{ID: treeO, DisplayName: "eclient", URL: "lfedge/eden-eclient:8a279cd",
		Format: materials.FormatContainer, Datastores: []string{"reg"}}
}

func volFrom(id string, gen int64, tree string, format materials.Format) materials.Volume {
	return materials.Volume{ID: id, Generation: gen, DisplayName: "vol-" + id[:4], Origin: materials.OriginDownload,
		ContentTree: tree, Format: format, MaxSizeBytes: 1 << 30, RefCount: 2, Apps: []string{"app"}}
}

func volBlank(id string, gen int64) materials.Volume {
	return materials.Volume{ID: id, Generation: gen, DisplayName: "scratch", Origin: materials.OriginBlank,
		Format: materials.FormatQcow2, MaxSizeBytes: 64 << 20, RefCount: 1}
}

func qcow2File(id string, gen int64, virtual, alloc int64) materials.VolumeFile {
	return materials.VolumeFile{ID: id, Generation: gen, Format: materials.FormatQcow2,
		Path: "persist/vault/volumes/" + id + "#" + itoa(gen) + ".qcow2", VirtualSize: virtual,
		ApparentSize: alloc, AllocatedSize: alloc, ModTime: t0, State: materials.StateComplete}
}

func blobRec(d digest.Digest, size int64, state materials.State) materials.BlobRecord {
	r := materials.BlobRecord{Digest: d, Store: materials.BlobStoreDir, Size: size, State: state, CreatedAt: t0, UpdatedAt: t0}
	if state == materials.StatePartial {
		r.Offset = size / 4
	}
	return r
}

func download(tree materials.ContentTree, d digest.Digest, size int64) *remodel.Remodel {
	return &remodel.Remodel{ID: remodel.NewID(remodel.ActionDownload, materials.MaterialRef{Kind: materials.KindBlob, ID: string(d)}), Action: remodel.ActionDownload,
		Target:  materials.MaterialRef{Kind: materials.KindBlob, ID: string(d)},
		Payload: &remodel.DownloadPayload{ContentTree: tree, Blob: materials.Blob{Digest: d, Size: size}}}
}

func create(v materials.Volume) *remodel.Remodel {
	return &remodel.Remodel{ID: remodel.NewID(remodel.ActionCreate, materials.MaterialRef{Kind: materials.KindVolume, ID: v.Key().String()}), Action: remodel.ActionCreate,
		Target: materials.MaterialRef{Kind: materials.KindVolume, ID: v.Key().String()}, Payload: &remodel.CreatePayload{Volume: v}}
}

func start(t *Tracker, r *remodel.Remodel) { t.OnRemodel(assembler.RemodelEvent{Remodel: r, At: t0}) }

func finish(t *Tracker, r *remodel.Remodel, status assembler.Status, errText string) {
	t.OnRemodel(assembler.RemodelEvent{Remodel: r, At: t0.Add(time.Minute),
		Result: &assembler.Result{RemodelID: r.ID, Status: status, Error: errText}})
}

// scenarios each give the inputs of one report; their rendering (every
// ZInfoMsg, then the ZMetricMsg, as proto-JSON lines) is compared with
// testdata/<name>.jsonl. Between them they cover every state a volume,
// content tree and blob can be reported in.
var scenarios = []struct {
	name string
	in   func() Inputs
}{
	{"blank-initial", func() Inputs {
		return Inputs{Blueprint: &materials.Blueprint{Complete: true, Volumes: []materials.Volume{volBlank(volB, 0)}}}
	}},
	{"blank-creating", func() Inputs {
		tr := NewTracker()
		v := volBlank(volB, 0)
		start(tr, create(v))
		tr.OnProgress(assembler.Event{Kind: materials.KindVolume, ID: v.Key().String(), Done: 16 << 20, Known: 64 << 20})
		return Inputs{Blueprint: &materials.Blueprint{Complete: true, Volumes: []materials.Volume{v}}, Live: tr}
	}},
	{"blank-created-with-usage-and-io", func() Inputs {
		v := volBlank(volB, 0)
		ref := materials.MaterialRef{Kind: materials.KindVolume, ID: v.Key().String()}
		return Inputs{
			Blueprint: &materials.Blueprint{Complete: true, Volumes: []materials.Volume{v}},
			Floorplan: &materials.Floorplan{
				Volumes: []materials.VolumeFile{qcow2File(volB, 0, 64<<20, 196<<10)},
				Journal: &materials.JournalState{Usage: []materials.Usage{{Target: ref, CreateTime: t0.Add(-time.Hour), RefCount: 1, LastRefcountChange: t0.Add(-30 * time.Minute)}}},
			},
			IO: map[string]IOCounters{volB: {ReadBytes: 4096, WriteBytes: 8192, ReadCount: 1, WriteCount: 2}},
		}
	}},
	{"download-initial", func() Inputs {
		return Inputs{Blueprint: &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{treeVM()},
			Volumes: []materials.Volume{volFrom(volA, 1, treeX, materials.FormatRaw)}}}
	}},
	{"download-started-from-partial-ingest", func() Inputs {
		return Inputs{
			Blueprint: &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{treeVM()},
				Volumes: []materials.Volume{volFrom(volA, 1, treeX, materials.FormatRaw)}},
			Floorplan: &materials.Floorplan{Blobs: []materials.BlobRecord{blobRec(blobX, 8<<20, materials.StatePartial)}},
		}
	}},
	{"loaded-waiting-for-create", func() Inputs {
		return Inputs{
			Blueprint: &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{treeVM()},
				Volumes: []materials.Volume{volFrom(volA, 1, treeX, materials.FormatRaw)}},
			Floorplan: &materials.Floorplan{Blobs: []materials.BlobRecord{blobRec(blobX, 8<<20, materials.StateComplete)}},
		}
	}},
	{"resolving-tag", func() Inputs {
		tr := NewTracker()
		start(tr, &remodel.Remodel{ID: "resolve:contentTree/" + treeO, Action: remodel.ActionResolve,
			Target: materials.MaterialRef{Kind: materials.KindContentTree, ID: treeO}})
		return Inputs{Blueprint: &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{treeOCI()},
			Volumes: []materials.Volume{volFrom(volA, 1, treeO, materials.FormatContainer)}}, Live: tr}
	}},
	{"resolved-tag", func() Inputs {
		tr := NewTracker()
		r := &remodel.Remodel{ID: "resolve:contentTree/" + treeO, Action: remodel.ActionResolve,
			Target: materials.MaterialRef{Kind: materials.KindContentTree, ID: treeO}}
		start(tr, r)
		finish(tr, r, assembler.StatusDone, "")
		return Inputs{Blueprint: &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{treeOCI()},
			Volumes: []materials.Volume{volFrom(volA, 1, treeO, materials.FormatContainer)}}, Live: tr}
	}},
	{"oci-manifest-loaded-children-unknown", func() Inputs {
		m := blobRec(blobM, 600, materials.StateComplete)
		m.MediaType = "application/vnd.oci.image.manifest.v1+json"
		return Inputs{
			Blueprint: &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{treeOCI()},
				Volumes: []materials.Volume{volFrom(volA, 1, treeO, materials.FormatContainer)}},
			Floorplan: &materials.Floorplan{Blobs: []materials.BlobRecord{m},
				Journal: &materials.JournalState{Latches: []materials.TagLatch{{ContentTree: treeO, URL: "lfedge/eden-eclient:8a279cd", Digest: blobM, ResolvedAt: t0}}}},
		}
	}},
	{"oci-layers-downloading", func() Inputs {
		m := blobRec(blobM, 600, materials.StateComplete)
		m.MediaType = "application/vnd.oci.image.manifest.v1+json"
		m.Children = []digest.Digest{blobCfg, blobL}
		tr := NewTracker()
		start(tr, download(treeOCI(), blobL, 4<<20))
		tr.OnProgress(assembler.Event{Kind: materials.KindBlob, ID: string(blobL), Done: 3 << 20, Known: 4 << 20})
		return Inputs{
			Blueprint: &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{treeOCI()},
				Volumes: []materials.Volume{volFrom(volA, 1, treeO, materials.FormatContainer)}},
			Floorplan: &materials.Floorplan{Blobs: []materials.BlobRecord{m, blobRec(blobCfg, 300, materials.StateComplete)},
				Journal: &materials.JournalState{Latches: []materials.TagLatch{{ContentTree: treeO, URL: "lfedge/eden-eclient:8a279cd", Digest: blobM, ResolvedAt: t0}}}},
			Live: tr,
		}
	}},
	{"container-volume-created", func() Inputs {
		m := blobRec(blobM, 600, materials.StateComplete)
		m.MediaType = "application/vnd.oci.image.manifest.v1+json"
		m.Children = []digest.Digest{blobCfg, blobL}
		v := volFrom(volA, 1, treeO, materials.FormatContainer)
		v.MaxSizeBytes = 0
		return Inputs{
			Blueprint: &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{treeOCI()}, Volumes: []materials.Volume{v}},
			Floorplan: &materials.Floorplan{
				Space: materials.Space{TotalBytes: 100 << 30, FreeBytes: 60 << 30},
				Volumes: []materials.VolumeFile{{ID: volA, Generation: 1, Format: materials.FormatContainer, Dir: true,
					Path: "persist/vault/volumes/" + volA + "#1.container", ApparentSize: 5 << 20, AllocatedSize: 6 << 20, ModTime: t0, State: materials.StateComplete}},
				Blobs:   []materials.BlobRecord{m, blobRec(blobCfg, 300, materials.StateComplete), blobRec(blobL, 4<<20, materials.StateComplete)},
				Journal: &materials.JournalState{Latches: []materials.TagLatch{{ContentTree: treeO, URL: "lfedge/eden-eclient:8a279cd", Digest: blobM, ResolvedAt: t0}}},
			},
		}
	}},
	{"download-failed", func() Inputs {
		tr := NewTracker()
		r := download(treeVM(), blobX, 8<<20)
		start(tr, r)
		finish(tr, r, assembler.StatusFailed, "download blob sha256:…: digest mismatch after 3 attempts")
		return Inputs{Blueprint: &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{treeVM()},
			Volumes: []materials.Volume{volFrom(volA, 1, treeX, materials.FormatRaw)}}, Live: tr}
	}},
	{"failure-from-journal", func() Inputs {
		v := volBlank(volB, 0)
		return Inputs{Blueprint: &materials.Blueprint{Complete: true, Volumes: []materials.Volume{v}},
			Failures: []Failure{{Target: materials.MaterialRef{Kind: materials.KindVolume, ID: v.Key().String()},
				Description: "create volume: qemu-img: no space left on device", At: t0, RetryCondition: "retried at the next reconcile"}}}
	}},
	{"broken-qcow2", func() Inputs {
		f := qcow2File(volB, 0, 0, 512)
		f.State, f.Reason = materials.StateBroken, "qcow2 header truncated at 72 bytes"
		return Inputs{Blueprint: &materials.Blueprint{Complete: true, Volumes: []materials.Volume{volBlank(volB, 0)}},
			Floorplan: &materials.Floorplan{Volumes: []materials.VolumeFile{f}}}
	}},
	{"purge-reports-both-generations", func() Inputs {
		tr := NewTracker()
		v2 := volFrom(volA, 2, treeX, materials.FormatQcow2)
		start(tr, &remodel.Remodel{ID: remodel.NewID(remodel.ActionPurge, materials.MaterialRef{Kind: materials.KindVolume, ID: v2.Key().String()}), Action: remodel.ActionPurge,
			Target:  materials.MaterialRef{Kind: materials.KindVolume, ID: v2.Key().String()},
			Payload: &remodel.PurgePayload{Volume: v2, Replaces: materials.VolumeKey{ID: volA, Generation: 1}}})
		tr.OnProgress(assembler.Event{Kind: materials.KindVolume, ID: v2.Key().String(), Done: 2 << 20, Known: 8 << 20})
		return Inputs{
			Blueprint: &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{treeVM()}, Volumes: []materials.Volume{v2}},
			Floorplan: &materials.Floorplan{
				Volumes: []materials.VolumeFile{qcow2File(volA, 1, 1<<30, 8<<20)},
				Blobs:   []materials.BlobRecord{blobRec(blobX, 8<<20, materials.StateComplete)},
			},
			Live: tr,
		}
	}},
	{"raw-volume-metrics", func() Inputs {
		tree := treeVM()
		tree.Generation = 3
		f := qcow2File(volA, 1, 1<<30, 8<<20)
		f.Format, f.Path, f.ApparentSize = materials.FormatRaw, "persist/vault/volumes/"+volA+"#1.raw", 1<<30
		return Inputs{
			Blueprint: &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{tree},
				Volumes: []materials.Volume{volFrom(volA, 1, treeX, materials.FormatRaw)}},
			Floorplan: &materials.Floorplan{Volumes: []materials.VolumeFile{f}, Blobs: []materials.BlobRecord{blobRec(blobX, 8<<20, materials.StateComplete)}},
			IO:        map[string]IOCounters{volA: {ReadBytes: 1 << 20, ReadCount: 256}},
		}
	}},
}

func render(t *testing.T, r *Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, m := range r.InfoMessages("dev-1", time.Time{}) {
		if err := WriteJSONLines(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteJSONLines(&buf, r.MetricMessage("dev-1", time.Time{})); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			got := render(t, Build(s.in()))
			// Deterministic: a second build of the same inputs is identical.
			if again := render(t, Build(s.in())); !bytes.Equal(got, again) {
				t.Fatalf("two builds differ:\n%s\n%s", got, again)
			}
			compareGolden(t, filepath.Join("testdata", s.name+".jsonl"), got)
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *rewrite {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reporter/ -rewrite to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -rewrite to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
