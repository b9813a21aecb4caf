package reporter

import (
	"slices"
	"testing"
	"time"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
	"github.com/edgewright/edgewright/remodel"
)

// TestAppSnapshotsLive: the tracker's view of snapshot work in this apply
// and the journal's lineage shape each ZInfoSnapshot: a take in flight is
// reported without create_time, a failed take, rollback or delete carries
// snap_err naming the action, a take done that the (older) survey does
// not show has the time it ended, a delete done drops the snapshot though
// the survey still has it, and config_id / config_version / create_time
// come from the lineage record.
func TestAppSnapshotsLive(t *testing.T) {
	const (
		app = "3599588a-17d3-4d02-aae1-bcefe3706cf1"
		vol = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10"
		sA  = "5a0e0000-0000-4000-8000-00000000000a"
	)
	t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	tDisk, tRec, tEnd := t0, t0.Add(time.Minute), t0.Add(time.Hour)
	ref := materials.MaterialRef{Kind: materials.KindSnapshot, ID: materials.SnapshotRefID(app, sA)}
	bp := &materials.Blueprint{Complete: true,
		Apps:      []materials.App{{ID: app, Version: "5", VolumeRefs: []materials.VolumeRef{{Volume: vol, Generation: 1}}}},
		Snapshots: []materials.Snapshot{{App: app, ID: sA, Type: materials.SnapshotAppUpdate, Volumes: []materials.VolumeRef{{Volume: vol, Generation: 1}}}}}
	lineage := []materials.SnapshotLineage{{App: app, Snapshot: sA, Volume: materials.VolumeKey{ID: vol, Generation: 1}, Format: materials.FormatQcow2,
		Type: materials.SnapshotAppUpdate, Taken: tRec, ConfigVersion: "4"}}
	floor := func(onDisk bool, lin []materials.SnapshotLineage) *materials.Floorplan {
		f := materials.VolumeFile{ID: vol, Generation: 1, Format: materials.FormatQcow2, State: materials.StateComplete}
		if onDisk {
			f.Snapshots = []materials.SnapshotInfo{{Name: sA, Created: tDisk, State: materials.StateComplete}}
		}
		return &materials.Floorplan{Volumes: []materials.VolumeFile{f}, Journal: &materials.JournalState{Lineage: lin}}
	}
	ev := func(a remodel.Action, st remodel.Status, errText string) []remodel.RemodelEvent {
		r := &remodel.Remodel{ID: remodel.NewID(a, ref), Action: a, Target: ref}
		out := []remodel.RemodelEvent{{Remodel: r, At: t0.Add(30 * time.Minute)}}
		if st != "" {
			out = append(out, remodel.RemodelEvent{Remodel: r, Result: &remodel.Result{Status: st, Error: errText}, At: tEnd})
		}
		return out
	}
	type want struct {
		reported       bool
		created        time.Time // zero: no create_time
		version, cfgID string
		err            string // snap_err description, "" none
	}
	tests := []struct {
		name   string
		fp     *materials.Floorplan
		events []remodel.RemodelEvent
		want   want
	}{
		{"lineage: config version and time of the record", floor(true, lineage), nil,
			want{reported: true, created: tRec, version: "4", cfgID: app}},
		{"no lineage: the disk's date, no version", floor(true, nil), nil,
			want{reported: true, created: tDisk, cfgID: app}},
		{"take in flight: reported, no create_time", floor(false, lineage), ev(remodel.ActionSnapshot, "", ""),
			want{reported: true, version: "4", cfgID: app}},
		{"take failed: snap_err", floor(false, lineage), ev(remodel.ActionSnapshot, remodel.StatusFailed, "qemu-img: disk full"),
			want{reported: true, version: "4", cfgID: app, err: "snapshot failed: qemu-img: disk full"}},
		{"take done, the survey is older: the time it ended", floor(false, nil), ev(remodel.ActionSnapshot, remodel.StatusDone, ""),
			want{reported: true, created: tEnd, cfgID: app}},
		{"rollback in flight: the snapshot as it is", floor(true, lineage), ev(remodel.ActionRollback, "", ""),
			want{reported: true, created: tRec, version: "4", cfgID: app}},
		{"rollback failed: snap_err, snapshot still there", floor(true, lineage), ev(remodel.ActionRollback, remodel.StatusFailed, "no space"),
			want{reported: true, created: tRec, version: "4", cfgID: app, err: "rollback failed: no space"}},
		{"delete in flight: still there", floor(true, lineage), ev(remodel.ActionDeleteSnapshot, "", ""),
			want{reported: true, created: tRec, version: "4", cfgID: app}},
		{"delete failed: snap_err", floor(true, lineage), ev(remodel.ActionDeleteSnapshot, remodel.StatusFailed, "busy"),
			want{reported: true, created: tRec, version: "4", cfgID: app, err: "delete-snapshot failed: busy"}},
		{"delete done: gone though the survey has it", floor(true, lineage), ev(remodel.ActionDeleteSnapshot, remodel.StatusDone, ""),
			want{}},
		{"not taken, nothing live: not reported", floor(false, nil), nil, want{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker()
			for _, e := range tc.events {
				tr.OnRemodel(e)
			}
			apps := AppSnapshots(Inputs{Blueprint: bp, Floorplan: tc.fp, Live: tr})
			var zs *eve.ZInfoSnapshot
			if len(apps) == 1 && len(apps[0].Snapshots) == 1 {
				zs = apps[0].Snapshots[0]
			} else if len(apps) > 1 || len(apps) == 1 && len(apps[0].Snapshots) != 1 {
				t.Fatalf("apps %v", apps)
			}
			if (zs != nil) != tc.want.reported {
				t.Fatalf("reported %v, want %v (%v)", zs != nil, tc.want.reported, zs)
			}
			if zs == nil {
				return
			}
			var created time.Time
			if zs.CreateTime != nil {
				created = zs.CreateTime.AsTime()
			}
			if !created.Equal(tc.want.created) || zs.ConfigVersion != tc.want.version || zs.ConfigId != tc.want.cfgID ||
				zs.Type != eve.SnapshotType_SNAPSHOT_TYPE_APP_UPDATE {
				t.Errorf("got created %v version %q config_id %q type %v; want %+v", created, zs.ConfigVersion, zs.ConfigId, zs.Type, tc.want)
			}
			gotErr := ""
			if zs.SnapErr != nil {
				gotErr = zs.SnapErr.Description
			}
			if gotErr != tc.want.err {
				t.Errorf("snap_err %q, want %q", gotErr, tc.want.err)
			}
		})
	}
	// Reset forgets the live work: the survey speaks again.
	tr := NewTracker()
	for _, e := range ev(remodel.ActionDeleteSnapshot, remodel.StatusDone, "") {
		tr.OnRemodel(e)
	}
	tr.Reset()
	if apps := AppSnapshots(Inputs{Blueprint: bp, Floorplan: floor(true, nil), Live: tr}); len(apps) != 1 || !slices.ContainsFunc(apps[0].Snapshots, func(z *eve.ZInfoSnapshot) bool { return z.Id == sA }) {
		t.Errorf("after Reset: %v", apps)
	}
}
