package journal

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/edgewright/edgewright/materials"
)

// lineageKey orders records by app, snapshot, volume key: `app\0snap\0key`.
func lineageKey(app, snap string, k materials.VolumeKey) []byte {
	return []byte(app + "\x00" + snap + "\x00" + k.String())
}

// PutLineage durably records the snapshots in list (one transaction),
// replacing any record of the same app, snapshot and volume generation.
func (j *Journal) PutLineage(list []materials.SnapshotLineage) error {
	err := j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLineage)
		for _, l := range list {
			v, err := json.Marshal(l)
			if err != nil {
				return err
			}
			if err := b.Put(lineageKey(l.App, l.Snapshot, l.Volume), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal lineage: %w", err)
	}
	return nil
}

// DropLineage durably removes the records of snapshot snap of app on the
// volume generations vols (one transaction); records not there are no
// error.
func (j *Journal) DropLineage(app, snap string, vols []materials.VolumeKey) error {
	err := j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLineage)
		for _, k := range vols {
			if err := b.Delete(lineageKey(app, snap, k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal lineage of %s: %w", materials.SnapshotRefID(app, snap), err)
	}
	return nil
}

// Lineage lists the snapshot records, sorted by app, snapshot, volume key.
// A record that does not decode is skipped: the lineage informs the
// report and the planner's stale-record rule, never a delete of data.
func (j *Journal) Lineage() ([]materials.SnapshotLineage, error) {
	var out []materials.SnapshotLineage
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLineage)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var l materials.SnapshotLineage
			if json.Unmarshal(v, &l) == nil {
				out = append(out, l)
			}
			return nil
		})
	})
	SortLineage(out)
	return out, err
}

// SortLineage sorts records by app, snapshot, volume id, generation: the
// order JournalState gives, on the bbolt journal and the in-memory one.
func SortLineage(list []materials.SnapshotLineage) {
	slices.SortFunc(list, func(a, b materials.SnapshotLineage) int {
		if c := strings.Compare(a.App, b.App); c != 0 {
			return c
		}
		if c := strings.Compare(a.Snapshot, b.Snapshot); c != 0 {
			return c
		}
		if c := strings.Compare(a.Volume.ID, b.Volume.ID); c != 0 {
			return c
		}
		return int(a.Volume.Generation - b.Volume.Generation)
	})
}
