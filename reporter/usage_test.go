package reporter

import (
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// The journal keeps reference history for volumes and content trees, not
// for blobs: a blob's lastRefcountChangeTime is when the newest of the
// trees it belongs to first appeared in a checkpoint.
func TestBlobUsageLastRefcountChangeFromTrees(t *testing.T) {
	const treeB = "b1c2d3e4-0000-4000-8000-000000000002"
	blobM2, blobCfg2 := digest.FromString("oci manifest 2"), digest.FromString("oci config 2")
	tA, tB := t0.Add(-2*time.Hour), t0.Add(-time.Hour)
	a := treeOCI()
	a.SHA256 = blobM.Encoded()
	b := treeOCI()
	b.ID, b.SHA256 = treeB, blobM2.Encoded()
	manifest := func(d, cfg digest.Digest) materials.BlobRecord {
		r := blobRec(d, 1<<10, materials.StateComplete)
		r.Children = []digest.Digest{cfg, blobL}
		return r
	}
	tree := func(id string, at time.Time) materials.Usage {
		return materials.Usage{Target: materials.MaterialRef{Kind: materials.KindContentTree, ID: id}, CreateTime: at, RefCount: 1, LastRefcountChange: at}
	}
	r := Build(Inputs{
		Blueprint: &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{a, b}},
		Floorplan: &materials.Floorplan{
			Blobs: []materials.BlobRecord{
				manifest(blobM, blobCfg), manifest(blobM2, blobCfg2),
				blobRec(blobCfg, 1<<10, materials.StateComplete), blobRec(blobCfg2, 1<<10, materials.StateComplete),
				blobRec(blobL, 1<<20, materials.StateComplete),
			},
			Journal: &materials.JournalState{Usage: []materials.Usage{tree(treeO, tA), tree(treeB, tB)}},
		},
	})
	want := map[digest.Digest]struct {
		refs uint32
		at   time.Time
	}{
		blobM: {1, tA}, blobCfg: {1, tA}, // only in tree A
		blobM2: {1, tB}, blobCfg2: {1, tB}, // only in tree B
		blobL: {2, tB}, // shared: its count went to 2 when tree B appeared
	}
	if len(r.Blobs) != len(want) {
		t.Fatalf("%d blob messages, want %d", len(r.Blobs), len(want))
	}
	for _, m := range r.Blobs {
		d := digest.NewDigestFromEncoded(digest.SHA256, m.GetSha256())
		w, ok := want[d]
		if !ok {
			t.Errorf("unexpected blob %s", d)
			continue
		}
		u := m.GetUsage()
		if u.GetRefCount() != w.refs {
			t.Errorf("blob %s: refCount %d, want %d", d, u.GetRefCount(), w.refs)
		}
		if u.GetLastRefcountChangeTime() == nil {
			t.Errorf("blob %s: no lastRefcountChangeTime, want %s", d, w.at)
		} else if got := u.GetLastRefcountChangeTime().AsTime(); !got.Equal(w.at) {
			t.Errorf("blob %s: lastRefcountChangeTime %s, want %s", d, got, w.at)
		}
	}
}
