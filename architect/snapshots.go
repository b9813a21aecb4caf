package architect

import (
	"fmt"
	"strconv"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

var snapshotTypes = map[eve.SnapshotType]materials.SnapshotType{
	eve.SnapshotType_SNAPSHOT_TYPE_APP_UPDATE: materials.SnapshotAppUpdate,
	eve.SnapshotType_SNAPSHOT_TYPE_IMMEDIATE:  materials.SnapshotImmediate,
}

// appSnapshots is an app's SnapshotConfig as drawn: the snapshots that
// stand and the app's rollback fields.
type appSnapshots struct {
	snaps            []materials.Snapshot
	active           string
	counter, max     uint32
	rollbackWithheld bool
}

// snapshots checks an app's SnapshotConfig (at path, e.g. apps[2]). Every
// problem is reported; a snapshot an error keeps out is withheld under
// owner (the app's canonical id, or its raw id when the app is withheld)
// so that no stage deletes a snapshot the config may still want. When keep
// is false (the app itself is left out) every listed snapshot is withheld.
func (d *drawer) snapshots(path, owner string, keep bool, sc *eve.SnapshotConfig) appSnapshots {
	var out appSnapshots
	if sc == nil {
		return out
	}
	sp := path + ".snapshot"
	list := sc.GetSnapshots()
	out.counter, out.max = sc.GetRollbackCmd().GetCounter(), sc.GetMaxSnapshots()
	withhold := func(id string) {
		if id != "" {
			d.withhold(materials.KindSnapshot, materials.SnapshotRefID(owner, id))
		}
	}
	dup := duplicates(len(list), func(i int) string { return list[i].GetId() })
	listed := map[string]bool{} // canonical ids, standing or withheld
	for j, s := range list {
		jp := fmt.Sprintf("%s.snapshots[%d]", sp, j)
		raw := s.GetId()
		id, p := canonicalUUID(raw)
		if p != "" {
			if raw == "" {
				p = "snapshot id is empty: " + p
			}
			d.err(jp+".id", raw, p)
			withhold(raw)
			continue
		}
		listed[id] = true
		if f, isDup := dup[id]; isDup {
			withhold(id)
			if f != j {
				d.err(jp+".id", raw, fmt.Sprintf("duplicate snapshot id (also at snapshots[%d]); every definition is withheld", f))
			}
			continue
		}
		typ, ok := snapshotTypes[s.GetType()]
		if !ok {
			msg := "snapshot type is not set: nothing says when to take it"
			if s.GetType() != eve.SnapshotType_SNAPSHOT_TYPE_UNSPECIFIED {
				msg = "unknown snapshot type"
			}
			d.err(jp+".type", s.GetType().String(), msg)
			withhold(id)
			continue
		}
		out.snaps = append(out.snaps, materials.Snapshot{ID: id, Type: typ, Index: j})
	}
	if out.max == 0 && len(list) > 0 {
		d.err(sp+".max_snapshots", "0",
			fmt.Sprintf("max_snapshots is 0 but %d snapshots are listed: none is taken or deleted", len(list)))
		for _, s := range out.snaps {
			withhold(s.ID)
		}
		out.snaps = nil
	}
	if raw := sc.GetActiveSnapshot(); raw != "" {
		id, p := canonicalUUID(raw)
		switch {
		case p != "":
			d.err(sp+".active_snapshot", raw, p)
			out.rollbackWithheld = true
		case !listed[id]:
			d.err(sp+".active_snapshot", raw, "no snapshot with this id in snapshots")
			out.rollbackWithheld = true
		default:
			for i := range out.snaps {
				if out.snaps[i].ID == id {
					out.snaps[i].Active, out.active = true, id
				}
			}
			// Listed but withheld: its own diagnostic says why, and
			// there is no rollback to it.
			out.rollbackWithheld = out.active == ""
		}
	} else if out.counter > 0 {
		// The config alone cannot tell whether the counter just went up
		// (the foreman compares it with the last applied one); if it did,
		// there is nothing to restore.
		d.warn(sp+".rollback_cmd.counter", strconv.FormatUint(uint64(out.counter), 10),
			"no active_snapshot: a rollback asked by an increase of the counter has nothing to roll back to")
	}
	if !keep {
		for _, s := range out.snaps {
			withhold(s.ID)
		}
		out.snaps = nil
	}
	return out
}
