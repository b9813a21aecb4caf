package assembler

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// TestStrategiesEndToEnd, on the real qemu-img and a loopback datastore:
// one qcow2 content tree, a volume made under space and one under
// performance from it. Both show the guest the same bytes (qemu-img
// compare); the thin one is a small overlay the survey finds complete
// with its backing chain to the blob; the blob stays while the overlay
// exists, even with its content tree gone from the config and no grace
// period, and goes once the overlay is gone.
func TestStrategiesEndToEnd(t *testing.T) {
	raw := rawImage(161, 8<<20)
	content := qcow2Of(t, raw)
	ds := newDatastore(t, false)
	ds.put("/images/os.qcow2", content)
	src := filepath.Join(t.TempDir(), "os.raw")
	if err := os.WriteFile(src, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	store := ds.materials("11111111-0000-0000-0000-000000000016")
	tree := materials.ContentTree{ID: "22222222-0000-0000-0000-000000000016", URL: "os.qcow2", Format: materials.FormatQcow2,
		SHA256: sha(content), MaxSizeBytes: uint64(len(content)), Datastores: []string{store.ID}}
	thin := materials.Volume{ID: "33333333-0000-0000-0000-000000000161", Generation: 1, Origin: materials.OriginDownload,
		ContentTree: tree.ID, Format: materials.FormatQcow2, MaxSizeBytes: 16 << 20, RefCount: 1}
	full := thin
	full.ID = "33333333-0000-0000-0000-000000000162"
	bp := &materials.Blueprint{Complete: true, Datastores: []materials.Datastore{store}, ContentTrees: []materials.ContentTree{tree},
		Volumes: []materials.Volume{thin, full},
		Additions: []materials.Addition{{Kind: materials.AdditionStrategy, Target: materials.MaterialRef{Kind: materials.KindVolume, ID: thin.ID},
			Strategy: materials.StrategySpace, Reason: "test"}}}

	root := t.TempDir()
	a, err := New(Options{Root: root, Retry: fastRetry(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	apply := func(bp *materials.Blueprint) []*remodel.Plan {
		t.Helper()
		var plans []*remodel.Plan
		res, err := a.Converge(context.Background(), bp, ConvergeOptions{
			Foreman: foreman.Options{Strategy: materials.StrategyPerformance, AllowMassDelete: true},
			OnPlan:  func(_ int, p *remodel.Plan) { plans = append(plans, p) },
		})
		if err != nil || !res.Converged || res.Held() {
			t.Fatalf("Converge: %v converged=%v held=%+v", err, res.Converged, res.Plan.Held)
		}
		return plans
	}
	plans := apply(bp)
	builds := map[string]*remodel.VolumeBuild{}
	for _, p := range plans {
		for _, r := range p.Remodels {
			if cp, ok := remodel.PayloadOf[*remodel.CreatePayload](&r); ok {
				builds[cp.Volume.ID] = cp.Build
			}
		}
	}
	if b := builds[thin.ID]; b == nil || b.Strategy != materials.StrategySpace || b.Backing != tree.Digest() {
		t.Errorf("the thin volume's create: %+v, want space on %s", b, tree.Digest())
	}
	if b := builds[full.ID]; b == nil || b.Strategy != materials.StrategyPerformance {
		t.Errorf("the full volume's create: %+v, want performance", b)
	}

	thinPath, _ := VolumePath(root, thin)
	fullPath, _ := VolumePath(root, full)
	qemuCompare(t, thinPath, fullPath)
	qemuCompare(t, thinPath, src)
	if info := qemuInfo(t, thinPath); info.BackingFile != "../../blobs/sha256/"+tree.SHA256 || info.VirtualSize != 16<<20 {
		t.Errorf("thin volume: %+v", info)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(thinPath, &st); err != nil {
		t.Fatal(err)
	}
	if alloc := st.Blocks * 512; alloc >= 1<<20 {
		t.Errorf("the overlay takes %d bytes, want under 1 MiB", alloc)
	}

	survey := func() *materials.Floorplan {
		t.Helper()
		fp, err := inspector.Survey(context.Background(), inspector.Options{Root: root})
		if err != nil {
			t.Fatal(err)
		}
		return fp
	}
	fp := survey()
	rel, _ := layout.Rel(root, thinPath)
	var got *materials.VolumeFile
	for i := range fp.Volumes {
		if fp.Volumes[i].Path == rel {
			got = &fp.Volumes[i]
		}
	}
	want := materials.BackingLink{Name: "../../blobs/sha256/" + tree.SHA256, Blob: tree.Digest(), Format: materials.FormatQcow2}
	if got == nil || got.State != materials.StateComplete || len(got.Backing) != 1 || got.Backing[0] != want {
		t.Fatalf("re-survey of the overlay: %+v, want complete backed by %+v", got, want)
	}

	// The content tree and the full volume leave the config; no grace
	// period. The overlay keeps its blob.
	blob := layout.BlobPath(root, tree.Digest())
	keep := &materials.Blueprint{Complete: true, Datastores: bp.Datastores, Volumes: []materials.Volume{thin}, Additions: bp.Additions}
	apply(keep)
	if _, err := os.Stat(blob); err != nil {
		t.Fatalf("the blob backing the overlay was deleted: %v", err)
	}
	if _, err := os.Stat(fullPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the dropped full volume is still there: %v", err)
	}
	qemuCompare(t, thinPath, src)

	// The overlay goes: then its blob may go.
	apply(&materials.Blueprint{Complete: true, Datastores: bp.Datastores})
	for _, p := range []string{thinPath, blob} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after the overlay went: %v", p, err)
		}
	}
}
