package assembler

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgewright/edgewright/assembler/crafts/snapshot"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

const (
	snapApp = "a0000000-0000-4000-8000-000000000001"
	snapID  = "5a0e0000-0000-4000-8000-00000000000a"
)

func snapRemodel(a remodel.Action, v ...materials.Volume) remodel.Remodel {
	ref := materials.MaterialRef{Kind: materials.KindSnapshot, ID: materials.SnapshotRefID(snapApp, snapID)}
	of := remodel.SnapshotOf{App: snapApp, Snapshot: snapID, Volumes: v}
	var p remodel.Payload
	switch a {
	case remodel.ActionSnapshot:
		p = &remodel.SnapshotPayload{SnapshotOf: of}
	case remodel.ActionRollback:
		p = &remodel.RollbackPayload{SnapshotOf: of}
	default:
		p = &remodel.DeleteSnapshotPayload{SnapshotOf: of}
	}
	return remodel.Remodel{ID: remodel.NewID(a, ref), Action: a, Target: ref, Payload: p}
}

// The executor takes, restores and deletes an app's snapshot on every
// volume with the real craft (a raw volume: a copy beside it), and a
// second run of each finds it already done, as a run after a crash does.
func TestSnapshotRemodels(t *testing.T) {
	root := t.TempDir()
	v := materials.Volume{ID: "6ba7b810-9dad-41d1-80b4-00c04fd430c8", Format: materials.FormatRaw, MaxSizeBytes: 1 << 20}
	vp, err := layout.VolumePath(root, v)
	if err != nil {
		t.Fatal(err)
	}
	orig := rawImage(7, 1<<20)
	if err := os.MkdirAll(filepath.Dir(vp), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vp, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	a := newTestAssembler(t, root, func(o *Options) { o.Crafts.Snapshots = &snapshot.Snapshotter{} })
	steps := []struct {
		action remodel.Action
		before func()
		reason string
	}{
		{remodel.ActionSnapshot, nil, ""},
		{remodel.ActionSnapshot, nil, "already done"},
		{remodel.ActionRollback, func() {
			if err := os.WriteFile(vp, rawImage(8, 1<<20), 0o600); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{remodel.ActionDeleteSnapshot, nil, ""},
		{remodel.ActionDeleteSnapshot, nil, "already done"},
	}
	for i, s := range steps {
		if s.before != nil {
			s.before()
		}
		r := snapRemodel(s.action, v)
		rep := apply(t, a, plan(r))
		wantStatus(t, rep, r.ID, StatusDone, s.reason)
		if res, _ := rep.Result(r.ID); s.reason == "" && res.Reason == "already done" {
			t.Errorf("step %d %s: already done, want it done now", i, s.action)
		}
	}
	got, err := os.ReadFile(vp)
	if err != nil || !bytes.Equal(got, orig) {
		t.Errorf("after the rollback the volume is not the snapshot's bytes (err %v)", err)
	}
	sp, _ := layout.SnapshotPath(root, v, snapID)
	if _, err := os.Lstat(sp); !os.IsNotExist(err) {
		t.Errorf("the snapshot copy %s is still there after delete-snapshot: %v", sp, err)
	}
}

// Without a snapshot craft the three actions fail, terminally, saying so.
func TestSnapshotRemodelsNoCraft(t *testing.T) {
	a := newTestAssembler(t, t.TempDir(), nil)
	v := materials.Volume{ID: "6ba7b810-9dad-41d1-80b4-00c04fd430c8", Format: materials.FormatRaw}
	for _, act := range []remodel.Action{remodel.ActionSnapshot, remodel.ActionRollback, remodel.ActionDeleteSnapshot} {
		r := snapRemodel(act, v)
		rep := apply(t, a, plan(r))
		wantStatus(t, rep, r.ID, StatusFailed, ErrNoCraft.Error())
		if res, _ := rep.Result(r.ID); res.Attempts != 1 {
			t.Errorf("%s without a craft was tried %d times, want 1", act, res.Attempts)
		}
	}
}

// A rollback that is not done leaves the last applied rollback counter in
// the checkpoint, so the next plan asks for it again; a done one records
// the new counter.
func TestRollbackNotDoneKeepsCounter(t *testing.T) {
	tests := []struct {
		name     string
		snapshot bool // the snapshot to restore exists
		want     uint32
	}{
		{"done", true, 5},
		{"failed", false, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			v := materials.Volume{ID: "6ba7b810-9dad-41d1-80b4-00c04fd430c8", Format: materials.FormatRaw, MaxSizeBytes: 1 << 20}
			vp, _ := layout.VolumePath(root, v)
			if err := os.MkdirAll(filepath.Dir(vp), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(vp, rawImage(9, 1<<20), 0o600); err != nil {
				t.Fatal(err)
			}
			a := newTestAssembler(t, root, func(o *Options) { o.Crafts.Snapshots = &snapshot.Snapshotter{} })
			if tt.snapshot {
				apply(t, a, plan(snapRemodel(remodel.ActionSnapshot, v)))
			}
			r := snapRemodel(remodel.ActionRollback, v)
			r.Payload.(*remodel.RollbackPayload).Counter, r.Payload.(*remodel.RollbackPayload).LastCounter = 5, 4
			bp := &materials.Blueprint{Complete: true, Volumes: []materials.Volume{v},
				Apps: []materials.App{{ID: snapApp, RollbackCounter: 5, ActiveSnapshot: snapID, VolumeRefs: []materials.VolumeRef{{Volume: v.ID}}}}}
			p := plan(r)
			p.Checkpoint = bp
			if _, err := a.Apply(context.Background(), p, WithBlueprint(bp)); err != nil {
				t.Fatal(err)
			}
			j, err := journal.OpenRoot(root, journal.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			last, err := j.LastApplied()
			if err != nil || last == nil || len(last.Apps) != 1 {
				t.Fatalf("last applied %+v, %v", last, err)
			}
			if got := last.Apps[0].RollbackCounter; got != tt.want {
				t.Errorf("recorded rollback counter %d, want %d", got, tt.want)
			}
			if bp.Apps[0].RollbackCounter != 5 {
				t.Error("the checkpoint given was modified")
			}
		})
	}
}

// onlySnapshotter is the craft without its SnapshotRestorer role.
type onlySnapshotter struct{ s *snapshot.Snapshotter }

func (o onlySnapshotter) Take(ctx context.Context, root string, v materials.Volume, snap string) (device.SnapshotResult, error) {
	return o.s.Take(ctx, root, v, snap)
}

func (o onlySnapshotter) Rollback(ctx context.Context, root string, v materials.Volume, snap string) (device.SnapshotResult, error) {
	return o.s.Rollback(ctx, root, v, snap)
}

func (o onlySnapshotter) Delete(ctx context.Context, root string, v materials.Volume, snap string) (device.SnapshotResult, error) {
	return o.s.Delete(ctx, root, v, snap)
}

// A rollback whose snapshot an older generation holds restores its bytes
// into the generation the app uses (RollbackPayload.From) with the real
// craft, and the journal's lineage of the snapshot, written by the
// snapshot remodel with its type and config version, is dropped by the
// delete; a Snapshotter without the restorer role fails the rollback
// terminally with ErrNoCraft, leaving the volume alone.
func TestRollbackFromOlderGeneration(t *testing.T) {
	root := t.TempDir()
	g1 := materials.Volume{ID: "6ba7b810-9dad-41d1-80b4-00c04fd430c8", Generation: 1, Format: materials.FormatRaw, MaxSizeBytes: 1 << 20}
	g2 := g1
	g2.Generation = 2
	p1, _ := layout.VolumePath(root, g1)
	p2, _ := layout.VolumePath(root, g2)
	os.MkdirAll(filepath.Dir(p1), 0o700)
	orig := rawImage(7, 1<<20)
	if err := os.WriteFile(p1, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	a := newTestAssembler(t, root, func(o *Options) { o.Crafts.Snapshots = &snapshot.Snapshotter{} })
	take := snapRemodel(remodel.ActionSnapshot, g1)
	take.Payload.(*remodel.SnapshotPayload).Type = materials.SnapshotAppUpdate
	take.Payload.(*remodel.SnapshotPayload).ConfigVersion = "4"
	wantStatus(t, apply(t, a, plan(take)), take.ID, StatusDone, "")
	if err := os.WriteFile(p2, rawImage(9, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	back := snapRemodel(remodel.ActionRollback, g2)
	back.Payload.(*remodel.RollbackPayload).From = []materials.Volume{g1}

	bare := newTestAssembler(t, root, func(o *Options) { o.Crafts.Snapshots = onlySnapshotter{&snapshot.Snapshotter{}} })
	wantStatus(t, apply(t, bare, plan(back)), back.ID, StatusFailed, ErrNoCraft.Error())
	if got, _ := os.ReadFile(p2); bytes.Equal(got, orig) {
		t.Fatal("a rollback without the restorer role changed generation 2")
	}

	wantStatus(t, apply(t, a, plan(back)), back.ID, StatusDone, "")
	if got, err := os.ReadFile(p2); err != nil || !bytes.Equal(got, orig) {
		t.Fatalf("generation 2 after the rollback is not the snapshot's bytes (err %v)", err)
	}
	j, err := journal.OpenRoot(root, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lin, err := j.Lineage()
	j.Close()
	if err != nil || len(lin) != 1 || lin[0].Volume != g1.Key() || lin[0].ConfigVersion != "4" || lin[0].Type != materials.SnapshotAppUpdate || lin[0].Taken.IsZero() {
		t.Fatalf("lineage after the snapshot: %+v, %v", lin, err)
	}
	del := snapRemodel(remodel.ActionDeleteSnapshot, g1)
	wantStatus(t, apply(t, a, plan(del)), del.ID, StatusDone, "")
	if j, err = journal.OpenRoot(root, journal.Options{}); err != nil {
		t.Fatal(err)
	}
	lin, err = j.Lineage()
	j.Close()
	if err != nil || len(lin) != 0 {
		t.Fatalf("lineage after the delete: %+v, %v", lin, err)
	}
}
