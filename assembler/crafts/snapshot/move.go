package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/internal/durable"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// MethodQcow2Move: a rollback across generations of a qcow2 by moving the
// old generation's file, reverted in place, over the new generation (no
// data copied; the old file's snapshots move with it).
const MethodQcow2Move Method = "qcow2-move"

// ErrNotMovable is device.ErrNotMovable: PrepareMove and MoveOver refuse a
// pair of generations a rename cannot carry whole, before changing
// anything.
var ErrNotMovable = device.ErrNotMovable

var _ device.SnapshotMover = (*Snapshotter)(nil)

// PrepareMove is step one of a move (see the package doc): it reverts
// from's qcow2 to snapshot snap in place and grows it to to's virtual size
// when that is larger. to is not touched. Once from is gone and to holds
// snap (the move was done and this is a retry) it reports AlreadyDone.
func (s *Snapshotter) PrepareMove(ctx context.Context, root string, from materials.Volume, snap string, to materials.Volume) (Result, error) {
	start := time.Now()
	r, err := s.prepareMove(ctx, root, from, snap, to)
	s.done("prepare-move "+from.Key().String(), to, snap, r, err, start)
	return r, err
}

// MoveOver is step two: it renames from's file over to's and fsyncs the
// directory. The caller ran PrepareMove first. Once from is gone and to
// holds snap it reports AlreadyDone.
func (s *Snapshotter) MoveOver(ctx context.Context, root string, from materials.Volume, snap string, to materials.Volume) (Result, error) {
	start := time.Now()
	r, err := s.moveOver(root, from, snap, to)
	s.done("move-over "+from.Key().String(), to, snap, r, err, start)
	return r, err
}

// movePaths checks that from's file can be moved over to's and returns
// both paths; done is true when the move is already done (from gone, to
// holding snap). It refuses with ErrNotMovable a pair that is not two
// qcow2 generations of one volume in one directory, and a to that holds
// internal snapshots of its own (the rename would drop them).
func movePaths(root string, from materials.Volume, snap string, to materials.Volume) (fp, tp string, done bool, err error) {
	if err := layout.CheckSnapshotID(snap); err != nil {
		return "", "", false, err
	}
	if from.ID != to.ID || from.Key() == to.Key() {
		return "", "", false, fmt.Errorf("move %s over %s: not two generations of one volume: %w", from.Key(), to.Key(), ErrNotMovable)
	}
	if from.Format != materials.FormatQcow2 || to.Format != materials.FormatQcow2 {
		return "", "", false, fmt.Errorf("move %s (%s) over %s (%s): only a qcow2 carries its snapshots inside: %w", from.Key(), from.Format, to.Key(), to.Format, ErrNotMovable)
	}
	fp, err = layout.VolumePath(root, from)
	if err != nil {
		return "", "", false, err
	}
	if tp, err = volumePath(root, to); err != nil {
		return "", "", false, err
	}
	if filepath.Dir(fp) != filepath.Dir(tp) {
		return "", "", false, fmt.Errorf("move %s over %s: %s and %s are not in one directory: %w", from.Key(), to.Key(), fp, tp, ErrNotMovable)
	}
	_, tsnaps, err := qcow2Image(tp)
	if err != nil {
		return "", "", false, err
	}
	if _, err := os.Lstat(fp); errors.Is(err, os.ErrNotExist) {
		if len(named(tsnaps, snap)) == 1 {
			return fp, tp, true, nil
		}
		return "", "", false, fmt.Errorf("move %s over %s: %w", from.Key(), to.Key(), err)
	}
	if len(tsnaps) > 0 {
		return "", "", false, fmt.Errorf("move %s over %s: %s holds %d internal snapshots of its own: %w", from.Key(), to.Key(), tp, len(tsnaps), ErrNotMovable)
	}
	if fp, err = volumePath(root, from); err != nil {
		return "", "", false, err
	}
	return fp, tp, false, nil
}

func (s *Snapshotter) prepareMove(ctx context.Context, root string, from materials.Volume, snap string, to materials.Volume) (Result, error) {
	fp, tp, done, err := movePaths(root, from, snap, to)
	if err != nil || done {
		return Result{Method: MethodQcow2Move, AlreadyDone: done}, err
	}
	h, snaps, err := qcow2Image(fp)
	if err != nil {
		return Result{}, err
	}
	sn, err := theOne(fp, snaps, snap)
	if err != nil {
		return Result{}, err
	}
	// The revert is one write of the active L1 table; beyond a sector it
	// could tear, and a torn table is not a state to rename over a volume.
	if h.L1Size > atomicL1 || sn.L1Size > atomicL1 {
		return Result{}, fmt.Errorf("%s: L1 tables of %d and %d entries, more than the %d one sector holds: %w", fp, h.L1Size, sn.L1Size, atomicL1, ErrNotMovable)
	}
	th, _, err := qcow2Image(tp)
	if err != nil {
		return Result{}, err
	}
	if err := s.run(ctx, "snapshot", "-q", "-a", snap, untrusted(fp)); err != nil {
		return Result{}, err
	}
	// The revert set the snapshot's virtual size; the update may have
	// grown the volume since, and the new generation's size stands.
	if err := s.growTo(ctx, fp, materials.FormatQcow2, th.VirtualSize); err != nil {
		return Result{}, err
	}
	if err := fsyncFile(fp); err != nil {
		return Result{}, err
	}
	return Result{Method: MethodQcow2Move}, nil
}

func (s *Snapshotter) moveOver(root string, from materials.Volume, snap string, to materials.Volume) (Result, error) {
	fp, tp, done, err := movePaths(root, from, snap, to)
	if err != nil || done {
		return Result{Method: MethodQcow2Move, AlreadyDone: done}, err
	}
	_, snaps, err := qcow2Image(fp)
	if err != nil {
		return Result{}, err
	}
	if _, err := theOne(fp, snaps, snap); err != nil {
		return Result{}, err
	}
	if err := durable.Rename(fp, tp); err != nil {
		return Result{}, err
	}
	return Result{Method: MethodQcow2Move}, nil
}
