package reporter

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

// TestSequenceGolden follows one download-and-create through the tracker,
// publishing only what changed at each event, as an edge agent would: the
// transcript shows every intermediate state (DOWNLOADED, VERIFYING,
// VERIFIED, LOADING) that the static scenarios cannot.
func TestSequenceGolden(t *testing.T) {
	bp := &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{treeVM()},
		Volumes: []materials.Volume{volFrom(volA, 1, treeX, materials.FormatQcow2)}}
	fp := &materials.Floorplan{}
	tr := NewTracker()
	pub := NewPublisher()
	var buf bytes.Buffer
	publish := func() {
		delta, gone := pub.Changed(Build(Inputs{Blueprint: bp, Floorplan: fp, Live: tr}))
		for _, m := range delta.InfoMessages("dev-1", time.Time{}) {
			if err := WriteJSONLines(&buf, m); err != nil {
				t.Fatal(err)
			}
		}
		for _, g := range gone {
			buf.WriteString("gone " + g + "\n")
		}
	}
	tr.OnChange = publish
	publish()
	dl := download(treeVM(), blobX, 8<<20)
	start(tr, dl)
	for _, done := range []int64{2 << 20, 4 << 20, 8 << 20} {
		tr.OnProgress(assembler.Event{Kind: materials.KindBlob, ID: string(blobX), Done: done, Known: 8 << 20})
	}
	finish(tr, dl, assembler.StatusDone, "")
	v := bp.Volumes[0]
	cr := create(v)
	start(tr, cr)
	tr.OnProgress(assembler.Event{Kind: materials.KindVolume, ID: v.Key().String(), Done: 4 << 20, Known: 8 << 20})
	finish(tr, cr, assembler.StatusDone, "")
	buf.WriteString("-- nothing changed: nothing published\n")
	publish()
	compareGolden(t, filepath.Join("testdata", "sequence.jsonl"), buf.Bytes())
}

// TestPublisherPassesOnlyChanges checks the delta option directly: an
// unchanged report publishes nothing, a changed volume only itself, and a
// vanished one is named as gone.
func TestPublisherPassesOnlyChanges(t *testing.T) {
	in := func(gen int64, state materials.State) Inputs {
		f := qcow2File(volB, gen, 64<<20, 1<<20)
		f.State = state
		return Inputs{
			Blueprint: &materials.Blueprint{Complete: true, Volumes: []materials.Volume{volBlank(volA, 0), volBlank(volB, gen)}},
			Floorplan: &materials.Floorplan{Volumes: []materials.VolumeFile{f}},
		}
	}
	p := NewPublisher()
	first, gone := p.Changed(Build(in(1, materials.StateComplete)))
	if len(first.Volumes) != 2 || len(first.Metrics) != 1 || len(gone) != 0 {
		t.Fatalf("first report: %d volumes, %d metrics, gone %v; want 2, 1, none", len(first.Volumes), len(first.Metrics), gone)
	}
	if again, gone := p.Changed(Build(in(1, materials.StateComplete))); !again.Empty() || len(gone) != 0 {
		t.Fatalf("unchanged report published %+v, gone %v", again, gone)
	}
	changed, _ := p.Changed(Build(in(1, materials.StateBroken)))
	if len(changed.Volumes) != 1 || changed.Volumes[0].Uuid != volB || changed.Volumes[0].State != eve.ZSwState_ERROR {
		t.Fatalf("changed report: %+v, want only %s in ERROR", changed.Volumes, volB)
	}
	_, gone = p.Changed(Build(in(2, materials.StateComplete)))
	want := "volume/" + volB + "#1"
	found := false
	for _, g := range gone {
		found = found || g == want
	}
	if !found {
		t.Fatalf("gone = %v, want it to name %s", gone, want)
	}
}
