package reporter

import (
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
	"github.com/edgewright/edgewright/remodel"
)

var snapshotTypes = map[materials.SnapshotType]eve.SnapshotType{
	materials.SnapshotAppUpdate: eve.SnapshotType_SNAPSHOT_TYPE_APP_UPDATE,
	materials.SnapshotImmediate: eve.SnapshotType_SNAPSHOT_TYPE_IMMEDIATE,
}

// AppSnapshots builds the storage side of EVE's ZInfoApp for every app of
// the Blueprint that has a snapshot to report: its id, version, name and
// volume refs, and in snapshots one ZInfoSnapshot per snapshot that exists
// on the device (on every volume the app refers to) or failed.
//
// A snapshot the config asks for is reported once it is on all of the
// app's volumes (create_time: when the last of them was taken) or when a
// Failure targets it or one of its copies is damaged (snap_err); one not
// taken yet and not failed is not reported. A snapshot on the app's
// volumes that the config no longer lists but that edgewright took (its
// name is a UUID) is reported too, of type UNSPECIFIED, until it is
// deleted: the controller sees what the device holds. A copy names only
// its snapshot, not the app, so such a snapshot is given to every app on
// all of whose volumes it is (a volume two apps share can make that both)
// and never to an app other than the one the config lists it for. The
// journal's lineage (Floorplan.Journal.Lineage) gives config_version,
// type and create_time; config_id is the app's uuid. Live (the tracker)
// adds this apply's snapshot work: a take in flight (no create_time), a
// failed take, rollback or delete (snap_err), a delete done (no longer
// reported). Names that are not
// UUIDs are someone else's and left out. Snapshots are ordered oldest
// first, then by id; apps by id. The agent merges these fields into the
// ZInfoApp it sends (state, network and the rest are its own).
func AppSnapshots(in Inputs) []*eve.ZInfoApp {
	bp := in.Blueprint
	if bp == nil {
		return nil
	}
	x := indexSnapshots(in)
	var out []*eve.ZInfoApp
	for i := range bp.Apps {
		if a := x.app(&bp.Apps[i]); len(a.Snapshots) > 0 {
			out = append(out, a)
		}
	}
	return out
}

// snapIndex is what AppSnapshots knows of every snapshot: found on
// disk, wanted by the config, failed, worked on now, and its lineage.
type snapIndex struct {
	bp *materials.Blueprint
	// found is every snapshot per volume uuid, any generation: an
	// app-update snapshot lives on the generation the update replaced.
	found    map[string][]materials.SnapshotInfo
	failures map[string]*Failure
	lv       *view
	// lineage is the journal's, by snapshot ref id: whose snapshot, for
	// which config version, taken when.
	lineage map[string][]materials.SnapshotLineage
	wanted  map[string]*materials.Snapshot
	owner   map[string]string // snapshot id -> the app the config lists it for
}

func indexSnapshots(in Inputs) *snapIndex {
	bp := in.Blueprint
	x := &snapIndex{bp: bp, found: map[string][]materials.SnapshotInfo{}, failures: map[string]*Failure{}, lv: in.Live.view(),
		lineage: map[string][]materials.SnapshotLineage{}, wanted: map[string]*materials.Snapshot{}, owner: map[string]string{}}
	if fp := in.Floorplan; fp != nil {
		for i := range fp.Volumes {
			f := &fp.Volumes[i]
			if f.ID == "" || f.Legacy != nil || f.State == materials.StateUnknown || f.Temp {
				continue
			}
			x.found[f.ID] = append(x.found[f.ID], f.Snapshots...)
		}
		for _, l := range fp.Journal.GetLineage() {
			ref := materials.SnapshotRefID(l.App, l.Snapshot)
			x.lineage[ref] = append(x.lineage[ref], l)
		}
	}
	for i := range in.Failures {
		if f := &in.Failures[i]; f.Target.Kind == materials.KindSnapshot {
			x.failures[f.Target.ID] = f
		}
	}
	for i := range bp.Snapshots {
		x.wanted[bp.Snapshots[i].Ref().ID] = &bp.Snapshots[i]
		x.owner[bp.Snapshots[i].ID] = bp.Snapshots[i].App
	}
	return x
}

// app is app's ZInfoApp with its snapshots, oldest first.
func (x *snapIndex) app(app *materials.App) *eve.ZInfoApp {
	a := &eve.ZInfoApp{AppID: app.ID, AppVersion: app.Version, AppName: app.DisplayName}
	for _, r := range app.VolumeRefs {
		a.VolumeRefs = append(a.VolumeRefs, r.Volume)
	}
	for id := range x.ids(app) {
		ref := materials.SnapshotRefID(app.ID, id)
		if x.lv.gone[materials.MaterialRef{Kind: materials.KindSnapshot, ID: ref}] {
			continue // deleted in this apply; the survey is older
		}
		var live *snapLive
		if l, ok := x.lv.snaps[ref]; ok {
			live = &l
		}
		if zs := snapshotInfo(app, id, x.wanted[ref], x.failures[ref], x.found, x.lineage[ref], live); zs != nil {
			a.Snapshots = append(a.Snapshots, zs)
		}
	}
	sort.Slice(a.Snapshots, func(i, j int) bool { return takenBefore(a.Snapshots[i], a.Snapshots[j]) })
	return a
}

// ids are the snapshot ids to report for app: the config's, our own
// found on any of the app's volumes, and those this apply is working on
// or failed on.
func (x *snapIndex) ids(app *materials.App) map[string]bool {
	ids := map[string]bool{}
	for _, s := range x.bp.Snapshots {
		if s.App == app.ID {
			ids[s.ID] = true
		}
	}
	for _, r := range app.VolumeRefs {
		for _, s := range x.found[r.Volume] {
			if o, listed := x.owner[s.Name]; isOurs(s.Name) && (!listed || o == app.ID) {
				ids[s.Name] = true
			}
		}
	}
	for ref := range x.lv.snaps {
		if a, id, ok := strings.Cut(ref, "/"); ok && a == app.ID {
			ids[id] = true
		}
	}
	return ids
}

// takenBefore orders snapshots by creation time, those failed before
// being taken (no time) last, then by id.
func takenBefore(x, y *eve.ZInfoSnapshot) bool {
	if x.CreateTime == nil || y.CreateTime == nil {
		if (x.CreateTime == nil) != (y.CreateTime == nil) {
			return x.CreateTime != nil
		}
		return x.Id < y.Id
	}
	if tx, ty := x.GetCreateTime().AsTime(), y.GetCreateTime().AsTime(); !tx.Equal(ty) {
		return tx.Before(ty)
	}
	return x.Id < y.Id
}

// isOurs: edgewright names its snapshots by their lower-case uuid.
func isOurs(name string) bool {
	u, err := uuid.Parse(name)
	return err == nil && len(name) == 36 && u.String() == name
}

// snapshotInfo is one snapshot's message, or nil when there is nothing to
// report (not taken yet, not being taken, not failed). config_id is the
// app's uuid; type, config_version and create_time come from the
// journal's lineage when it has the snapshot (the config's type first),
// else from the config and the disk's dates. Live is this apply's work
// on it: a take in flight is reported without create_time (EVE's "not
// taken yet"), one done that the survey does not show yet with the time
// it ended; a failure of a take, rollback or delete (live, else from the
// journal's last apply) is snap_err.
func snapshotInfo(app *materials.App, id string, want *materials.Snapshot, fail *Failure, found map[string][]materials.SnapshotInfo,
	lineage []materials.SnapshotLineage, live *snapLive) *eve.ZInfoSnapshot {
	zs := &eve.ZInfoSnapshot{Id: id, ConfigId: app.ID}
	var recorded time.Time
	for _, l := range lineage {
		zs.ConfigVersion = l.ConfigVersion
		zs.Type = snapshotTypes[l.Type]
		if l.Taken.After(recorded) {
			recorded = l.Taken
		}
	}
	if want != nil {
		zs.Type = snapshotTypes[want.Type]
	}
	var created time.Time
	var damaged []string
	on := 0
	for _, r := range app.VolumeRefs {
		var hit *materials.SnapshotInfo
		for j := range found[r.Volume] {
			if s := &found[r.Volume][j]; s.Name == id {
				hit = s
				break
			}
		}
		switch {
		case hit == nil:
		case hit.State == materials.StateBroken:
			damaged = append(damaged, "volume "+r.Volume+": "+hit.Reason)
		default:
			on++
			if hit.Created.After(created) {
				created = hit.Created
			}
		}
	}
	if !recorded.IsZero() {
		created = recorded
	}
	everywhere := on == len(app.VolumeRefs) && on > 0
	if live != nil && live.failure != nil && (fail == nil || !live.failure.At.Before(fail.At)) {
		fail = live.failure
	}
	taking := live != nil && live.action == remodel.ActionSnapshot && live.inFlight
	tookNow := live != nil && live.action == remodel.ActionSnapshot && !live.inFlight && live.failure == nil
	switch {
	case fail != nil:
		zs.SnapErr = errorInfo(fail)
	case len(damaged) > 0:
		zs.SnapErr = &eve.ErrorInfo{Description: "snapshot copy damaged: " + strings.Join(damaged, "; "), Severity: eve.Severity_SEVERITY_ERROR}
	case taking:
		return zs // being taken: no create_time yet
	case tookNow && !everywhere:
		zs.CreateTime = timestamppb.New(live.at)
		return zs
	case !everywhere:
		// Not taken yet; or, for a snapshot the config does not list,
		// not this app's (it is not on all its volumes).
		return nil
	}
	if everywhere && !created.IsZero() {
		zs.CreateTime = timestamppb.New(created)
	}
	return zs
}

// AppMessages wraps ZInfoApps in EVE's ZInfoMsg envelopes (ztype ZiApp,
// ainfo), one per app; at as in InfoMessages.
func AppMessages(apps []*eve.ZInfoApp, devID string, at time.Time) []*eve.ZInfoMsg {
	var ts *timestamppb.Timestamp
	if !at.IsZero() {
		ts = timestamppb.New(at)
	}
	out := make([]*eve.ZInfoMsg, 0, len(apps))
	for _, a := range apps {
		out = append(out, &eve.ZInfoMsg{Ztype: eve.ZInfoTypes_ZiApp, DevId: devID, AtTimeStamp: ts,
			InfoContent: &eve.ZInfoMsg_Ainfo{Ainfo: a}})
	}
	return out
}
