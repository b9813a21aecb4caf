package devicetest

import (
	"slices"
	"testing"
	"time"

	"github.com/edgewright/edgewright/materials"
)

// Ids of the snapshot suite: an app with a blank qcow2 and a blank raw
// volume and its app-update snapshot.
const (
	idSnapApp = "0c000000-0000-4000-8000-000000000001"
	idSnap    = "0d000000-0000-4000-8000-000000000001"
	idSnapQ   = "0a000000-0000-4000-8000-000000000011"
	idSnapR   = "0a000000-0000-4000-8000-000000000012"
)

// snapSteps are the snapshot suite's Blueprints: generation 0 of both
// volumes; the app's update (generation 1, the qcow2 grown), which takes
// the app-update snapshot of generation 0 and keeps generation 0; a
// rollback (counter 1) across generations: the qcow2's generation 0 file
// is moved over generation 1 (reverted, grown), the raw one restored by
// copy from its copy beside generation 0; a second rollback, in place;
// then the snapshot dropped from the config: it is deleted, and with it
// the raw generation 0.
func snapSteps() []*materials.Blueprint {
	bp := func(gen int64, counter uint32, listed bool) *materials.Blueprint {
		app := []string{idSnapApp}
		qsize := int64(8 << 20)
		if gen > 0 {
			qsize = 16 << 20
		}
		b := &materials.Blueprint{Complete: true,
			Volumes: []materials.Volume{
				{ID: idSnapQ, Generation: gen, Origin: materials.OriginBlank, Format: materials.FormatQcow2, MaxSizeBytes: qsize, Apps: app, RefCount: 1},
				{ID: idSnapR, Generation: gen, Origin: materials.OriginBlank, Format: materials.FormatRaw, MaxSizeBytes: 2 << 20, Apps: app, RefCount: 1},
			},
			Apps: []materials.App{{ID: idSnapApp, Version: "v" + string(rune('1'+gen)), RollbackCounter: counter,
				VolumeRefs: []materials.VolumeRef{{Volume: idSnapQ, Generation: gen}, {Volume: idSnapR, Generation: gen}}}}}
		if listed {
			b.Apps[0].ActiveSnapshot = idSnap
			b.Snapshots = []materials.Snapshot{{App: idSnapApp, ID: idSnap, Type: materials.SnapshotAppUpdate, Active: true, Volumes: b.Apps[0].VolumeRefs}}
		}
		return b
	}
	return []*materials.Blueprint{bp(0, 0, true), bp(1, 0, true), bp(1, 1, true), bp(1, 2, true), bp(1, 2, false)}
}

// snapWant is what each step of the suite leaves: volume generations
// with the snapshots they hold, and the journal's lineage.
var snapWant = []struct{ volumes, lineage []string }{
	{[]string{idSnapQ + "#0", idSnapR + "#0"}, nil},
	{[]string{idSnapQ + "#0 " + idSnap, idSnapQ + "#1", idSnapR + "#0 " + idSnap, idSnapR + "#1"},
		[]string{idSnapQ + "#0", idSnapR + "#0"}},
	// The move: the qcow2's snapshot lives in generation 1 now.
	{[]string{idSnapQ + "#1 " + idSnap, idSnapR + "#0 " + idSnap, idSnapR + "#1"},
		[]string{idSnapQ + "#1", idSnapR + "#0"}},
	{[]string{idSnapQ + "#1 " + idSnap, idSnapR + "#0 " + idSnap, idSnapR + "#1"},
		[]string{idSnapQ + "#1", idSnapR + "#0"}},
	{[]string{idSnapQ + "#1", idSnapR + "#1"}, nil},
}

// Snapshots converges the snapshot suite's Blueprints on a fresh device
// from newRig (its Options must carry a Snapshotter that is a
// device.SnapshotMover) and returns the Shape after each step. It fails
// the test where the device does not hold the volumes, snapshots and
// lineage a step leaves, or a volume is not at its size.
func Snapshots(t *testing.T, newRig func(t *testing.T) *Rig) []Shape {
	rig := newRig(t)
	now := epoch
	a := newAssembler(t, rig, &now)
	var shapes []Shape
	for i, bp := range snapSteps() {
		fp := converge(t, a, "snapshot step", i+1, bp)
		checkSnaps(t, i+1, bp, fp)
		shapes = append(shapes, ShapeOf(fp))
		now = now.Add(time.Hour)
	}
	return shapes
}

// checkSnaps checks step's volumes, their snapshots and the lineage.
func checkSnaps(t *testing.T, step int, bp *materials.Blueprint, fp *materials.Floorplan) {
	t.Helper()
	var vols []string
	for _, f := range fp.Volumes {
		if f.State != materials.StateComplete || f.Temp || f.ID == "" {
			t.Errorf("snapshot step %d: %s is %s (%s), want only whole volumes", step, f.Path, f.State, f.Reason)
			continue
		}
		line := f.Key().String()
		for _, s := range f.Snapshots {
			line += " " + s.Name
		}
		vols = append(vols, line)
		for _, v := range bp.Volumes {
			if v.Key() == f.Key() && f.VirtualSize != v.MaxSizeBytes {
				t.Errorf("snapshot step %d: volume %s of %d bytes, want %d", step, v.Key(), f.VirtualSize, v.MaxSizeBytes)
			}
		}
	}
	slices.Sort(vols)
	var lin []string
	for _, l := range fp.Journal.GetLineage() {
		lin = append(lin, l.Volume.String())
	}
	w := snapWant[step-1]
	if !slices.Equal(vols, w.volumes) || !slices.Equal(lin, w.lineage) {
		t.Errorf("snapshot step %d: volumes %q lineage %q, want %q and %q", step, vols, lin, w.volumes, w.lineage)
	}
}
