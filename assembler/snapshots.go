package assembler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// snapOp is one snapshot operation of the craft on one volume.
type snapOp func(s device.Snapshotter, ctx context.Context, root string, v materials.Volume, snap string) (device.SnapshotResult, error)

// eachVolume runs op for every volume of the payload, each under its
// volume's key lock (so no create, purge or resize of the same volume
// runs meanwhile). The craft is idempotent, so a remodel the journal saw
// start and not finish is run again from the first volume. When
// goneIsDone, a volume no longer on disk counts as done (a snapshot
// delete: nothing is left to delete); otherwise it is an error.
func (w *walk) eachVolume(ctx context.Context, r *remodel.Remodel, p *remodel.SnapshotOf, op snapOp, goneIsDone bool) (outcome, error) {
	s := w.a.crafts.Snapshots
	if s == nil {
		return outcome{}, &terminalError{Err: fmt.Errorf("%s %s: %w", r.Action, r.ID, ErrNoCraft)}
	}
	if len(p.Volumes) == 0 {
		return outcome{}, terminal("%s %s: the payload names no volume", r.Action, r.ID)
	}
	var out outcome
	done := 0
	methods := map[device.SnapshotMethod]bool{}
	for _, v := range p.Volumes {
		unlock, err := w.a.keys.lock(ctx, volumeKey(v.Key()))
		if err != nil {
			return out, err
		}
		res, err := op(s, ctx, w.a.opts.Root, v, p.Snapshot)
		unlock()
		if err != nil {
			if goneIsDone && errors.Is(err, fs.ErrNotExist) {
				done++
				continue
			}
			return out, fmt.Errorf("%s %s of app %s, volume %s: %w", r.Action, p.Snapshot, p.App, v.Key(), err)
		}
		out.bytes += res.Bytes
		methods[res.Method] = true
		if res.AlreadyDone {
			done++
		}
	}
	var ms []string
	for m := range methods {
		ms = append(ms, string(m))
	}
	slices.Sort(ms)
	out.reason = strings.Join(ms, ", ")
	if done == len(p.Volumes) {
		out.reason = "already done"
	}
	return out, nil
}

// snapshot records the lineage of each volume's snapshot in the journal,
// then takes them. The record goes first so that no crash leaves a
// snapshot the journal does not know; a record whose snapshot a crash
// kept from being taken is rewritten when it is taken again, or dropped
// by the planner as stale.
func (w *walk) snapshot(ctx context.Context, r *remodel.Remodel, p *remodel.SnapshotPayload) (outcome, error) {
	now := w.a.now()
	list := make([]materials.SnapshotLineage, 0, len(p.Volumes))
	for _, v := range p.Volumes {
		list = append(list, materials.SnapshotLineage{App: p.App, Snapshot: p.Snapshot, Volume: v.Key(), Format: v.Format,
			Type: p.Type, Taken: now, ConfigVersion: p.ConfigVersion})
	}
	if err := w.s.journal.PutLineage(list); err != nil {
		w.setJournalErr(err)
		return outcome{}, err
	}
	return w.eachVolume(ctx, r, &p.SnapshotOf, device.Snapshotter.Take, false)
}

// rollback restores each volume to the snapshot, in place or, for a
// volume whose snapshot another generation holds (p.From), from that
// generation (device.SnapshotRestorer), under that generation's key lock
// too so it is not deleted meanwhile.
func (w *walk) rollback(ctx context.Context, r *remodel.Remodel, p *remodel.RollbackPayload) (outcome, error) {
	from := map[materials.VolumeKey]materials.Volume{}
	moves := map[materials.VolumeKey]bool{}
	for i, f := range p.From {
		if f.ID != "" && i < len(p.Volumes) && f.Key() != p.Volumes[i].Key() {
			from[p.Volumes[i].Key()] = f
			moves[p.Volumes[i].Key()] = p.Moves(i)
		}
	}
	if len(from) == 0 {
		return w.eachVolume(ctx, r, &p.SnapshotOf, device.Snapshotter.Rollback, false)
	}
	op := func(s device.Snapshotter, ctx context.Context, root string, v materials.Volume, snap string) (device.SnapshotResult, error) {
		f, ok := from[v.Key()]
		if !ok {
			return s.Rollback(ctx, root, v, snap)
		}
		rs, ok := s.(device.SnapshotRestorer)
		if !ok {
			return device.SnapshotResult{}, &terminalError{Err: fmt.Errorf("restore from generation %d: %w", f.Generation, ErrNoCraft)}
		}
		unlock, err := w.a.keys.lock(ctx, volumeKey(f.Key()))
		if err != nil {
			return device.SnapshotResult{}, err
		}
		defer unlock()
		if mv, ok := s.(device.SnapshotMover); ok && moves[v.Key()] {
			res, err := w.moveFrom(ctx, mv, root, f, snap, v, p.Lineage)
			if !errors.Is(err, device.ErrNotMovable) {
				return res, err
			}
			w.a.log.Info("rollback across generations: the old generation cannot be moved; restoring a copy",
				zap.Stringer("from", f.Key()), zap.Stringer("to", v.Key()), zap.Error(err))
		}
		return rs.RestoreFrom(ctx, root, f, snap, v)
	}
	return w.eachVolume(ctx, r, &p.SnapshotOf, op, false)
}

// moveFrom rolls to back by moving from's file over it: the craft reverts
// from in place, the journal then records from's snapshots (lineage, as
// the plan found it) on to, the craft renames from over to, and the
// journal drops from's records. A crash before the rename leaves to as it
// was (and records on to that the next plan's rollback writes again, or
// drops as stale); after it, records of from, whose file is gone, which
// the next plan drops as stale.
func (w *walk) moveFrom(ctx context.Context, mv device.SnapshotMover, root string, from materials.Volume, snap string, to materials.Volume, lineage []materials.SnapshotLineage) (device.SnapshotResult, error) {
	res, err := mv.PrepareMove(ctx, root, from, snap, to)
	if err != nil {
		return res, err
	}
	var moved []materials.SnapshotLineage
	for _, l := range lineage {
		if l.Volume == from.Key() {
			l.Volume = to.Key()
			moved = append(moved, l)
		}
	}
	if len(moved) > 0 {
		if err := w.s.journal.PutLineage(moved); err != nil {
			w.setJournalErr(err)
			return res, err
		}
	}
	if res, err = mv.MoveOver(ctx, root, from, snap, to); err != nil {
		return res, err
	}
	for _, l := range moved {
		if err := w.s.journal.DropLineage(l.App, l.Snapshot, []materials.VolumeKey{from.Key()}); err != nil {
			w.setJournalErr(err)
			return res, err
		}
	}
	return res, nil
}

// deleteSnapshot deletes the snapshot from each volume, then drops its
// lineage records. A crash in between leaves records of a snapshot no
// longer on disk, which the planner drops as stale.
func (w *walk) deleteSnapshot(ctx context.Context, r *remodel.Remodel, p *remodel.DeleteSnapshotPayload) (outcome, error) {
	out, err := w.eachVolume(ctx, r, &p.SnapshotOf, device.Snapshotter.Delete, true)
	if err != nil {
		return out, err
	}
	keys := make([]materials.VolumeKey, 0, len(p.Volumes))
	for _, v := range p.Volumes {
		keys = append(keys, v.Key())
	}
	if err := w.s.journal.DropLineage(p.App, p.Snapshot, keys); err != nil {
		w.setJournalErr(err)
		return out, err
	}
	return out, nil
}
