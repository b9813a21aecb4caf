package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/internal/durable"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// Method says how a snapshot or a rollback was made, for the report: the
// cost of a copy is the volume's size, the others are metadata only. It
// is package device's, so the Snapshotter is the device.Snapshotter role.
type Method = device.SnapshotMethod

const (
	// MethodQcow2Internal: an internal snapshot taken, restored or deleted
	// in the qcow2 file by qemu-img (clusters shared, copy-on-write).
	MethodQcow2Internal Method = "qcow2-internal"
	// MethodQcow2OnCopy: a rollback of a qcow2 whose L1 table spans more
	// than one sector, so qemu-img's in-place revert would not be one
	// atomic write: the revert is applied to a copy (reflink when
	// possible) that then takes the volume's place.
	MethodQcow2OnCopy Method = "qcow2-internal-on-copy"
	// MethodReflink: a copy sharing the extents of its source (FICLONE).
	MethodReflink Method = "reflink"
	// MethodCopy: a byte copy (sparse: holes are skipped), because the
	// file system cannot reflink.
	MethodCopy Method = "copy"
)

// Result is what one operation did (device.SnapshotResult): Bytes is how
// many bytes were copied (0 for a reflink or a qcow2 internal snapshot);
// AlreadyDone is true when there was nothing to do (Take found the
// snapshot already there, Delete found it already gone: a step retried
// after a crash).
type Result = device.SnapshotResult

// The Snapshotter is the executor's snapshot role.
var _ device.Snapshotter = (*Snapshotter)(nil)

// ErrNotFound is wrapped when the snapshot a Rollback restores does not
// exist.
var ErrNotFound = errors.New("snapshot not found")

// ErrAmbiguous is wrapped when a qcow2 holds more than one internal
// snapshot of the name (made by someone else: edgewright never makes a
// second): which one to restore or delete is not ours to guess.
var ErrAmbiguous = errors.New("more than one snapshot of this name")

// ErrUnsupported is wrapped for a volume format without snapshots.
var ErrUnsupported = errors.New("snapshots not supported")

// Snapshotter takes, restores and deletes snapshots of volumes under a
// root, by the volume's format: qcow2 internally with qemu-img; raw and
// container as copies beside the volume (layout.SnapshotPath).
type Snapshotter struct {
	// QemuImg is qemu-img's path; "" looks it up on PATH.
	QemuImg string
	Log     *zap.Logger
}

func (s *Snapshotter) log() *zap.Logger {
	if s.Log == nil {
		return zap.NewNop()
	}
	return s.Log
}

func (s *Snapshotter) qemuImg() string {
	if s.QemuImg == "" {
		return "qemu-img"
	}
	return s.QemuImg
}

// volumePath resolves v under root and refuses a symlink or a wrong type
// at the volume's name.
func volumePath(root string, v materials.Volume) (string, error) {
	p, err := layout.VolumePath(root, v)
	if err != nil {
		return "", err
	}
	st, err := os.Lstat(p)
	if err != nil {
		return "", fmt.Errorf("volume %s: %w", v.Key(), err)
	}
	wantDir := v.Format == materials.FormatContainer
	if st.Mode()&os.ModeSymlink != 0 || st.IsDir() != wantDir || (!wantDir && !st.Mode().IsRegular()) {
		return "", fmt.Errorf("volume %s: %s is a %s, not a %s volume", v.Key(), p, st.Mode().Type(), v.Format)
	}
	return p, nil
}

// Take makes snapshot snap (a lower-case UUID) of volume v. It is
// idempotent: a snapshot already there is kept (Result.AlreadyDone).
func (s *Snapshotter) Take(ctx context.Context, root string, v materials.Volume, snap string) (Result, error) {
	start := time.Now()
	r, err := s.take(ctx, root, v, snap)
	s.done("take", v, snap, r, err, start)
	return r, err
}

// Rollback restores volume v to snapshot snap, exactly and atomically: a
// crash at any point leaves the volume either as it was or restored. The
// snapshot stays. The caller must have stopped the app that uses v.
func (s *Snapshotter) Rollback(ctx context.Context, root string, v materials.Volume, snap string) (Result, error) {
	start := time.Now()
	r, err := s.rollback(ctx, root, v, snap)
	s.done("rollback", v, snap, r, err, start)
	return r, err
}

// Delete removes snapshot snap of volume v; one already gone is success
// (Result.AlreadyDone).
func (s *Snapshotter) Delete(ctx context.Context, root string, v materials.Volume, snap string) (Result, error) {
	start := time.Now()
	r, err := s.delete(ctx, root, v, snap)
	s.done("delete", v, snap, r, err, start)
	return r, err
}

func (s *Snapshotter) done(op string, v materials.Volume, snap string, r Result, err error, start time.Time) {
	f := []zap.Field{zap.String("op", op), zap.Stringer("volume", v.Key()), zap.String("snapshot", snap),
		zap.String("method", string(r.Method)), zap.Int64("bytes", r.Bytes), zap.Bool("alreadyDone", r.AlreadyDone),
		zap.Duration("took", time.Since(start))}
	if err != nil {
		s.log().Warn("snapshot operation failed", append(f, zap.Error(err))...)
		return
	}
	s.log().Info("snapshot operation", f...)
}

func (s *Snapshotter) take(ctx context.Context, root string, v materials.Volume, snap string) (Result, error) {
	if err := layout.CheckSnapshotID(snap); err != nil {
		return Result{}, err
	}
	vp, err := volumePath(root, v)
	if err != nil {
		return Result{}, err
	}
	switch v.Format {
	case materials.FormatQcow2:
		return s.qcow2Take(ctx, vp, snap)
	case materials.FormatRaw, materials.FormatContainer:
		sp, err := layout.SnapshotPath(root, v, snap)
		if err != nil {
			return Result{}, err
		}
		if st, err := os.Lstat(sp); err == nil {
			// Ours only if it is what a Take makes: a file for raw, a
			// directory for container, never a symlink planted there.
			if st.Mode()&os.ModeSymlink != 0 || st.IsDir() != (v.Format == materials.FormatContainer) ||
				(!st.IsDir() && !st.Mode().IsRegular()) {
				return Result{}, fmt.Errorf("volume %s: %s is a %s, not a snapshot this craft made", v.Key(), sp, st.Mode().Type())
			}
			return Result{Method: methodOf(v), AlreadyDone: true}, nil
		}
		tmp := sp + layout.TempSuffix
		if v.Format == materials.FormatRaw {
			m, n, err := copyFileAtomic(ctx, vp, tmp, sp)
			return Result{Method: m, Bytes: n}, err
		}
		return copyTreeAtomic(ctx, vp, tmp, sp)
	}
	return Result{}, fmt.Errorf("volume %s: format %q: %w", v.Key(), v.Format, ErrUnsupported)
}

// methodOf is the method reported for a snapshot found already made.
func methodOf(v materials.Volume) Method {
	if v.Format == materials.FormatQcow2 {
		return MethodQcow2Internal
	}
	return ""
}

// copyTreeAtomic copies the tree src to tmp and renames it to dst.
func copyTreeAtomic(ctx context.Context, src, tmp, dst string) (Result, error) {
	if err := os.RemoveAll(tmp); err != nil {
		return Result{}, fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	st, err := copyTree(ctx, src, tmp)
	r := Result{Method: st.method(), Bytes: st.Bytes}
	if err == nil {
		err = durable.Rename(tmp, dst)
	}
	if err != nil {
		os.RemoveAll(tmp)
	}
	return r, err
}

func (s *Snapshotter) rollback(ctx context.Context, root string, v materials.Volume, snap string) (Result, error) {
	if err := layout.CheckSnapshotID(snap); err != nil {
		return Result{}, err
	}
	vp, err := volumePath(root, v)
	if err != nil {
		return Result{}, err
	}
	switch v.Format {
	case materials.FormatQcow2:
		tmp, err := layout.RollbackTempPath(root, v)
		if err != nil {
			return Result{}, err
		}
		return s.qcow2Rollback(ctx, vp, tmp, snap)
	case materials.FormatRaw, materials.FormatContainer:
		tmp, err := layout.RollbackTempPath(root, v)
		if err != nil {
			return Result{}, err
		}
		return restoreCopy(ctx, root, v, snap, tmp, vp)
	}
	return Result{}, fmt.Errorf("volume %s: format %q: %w", v.Key(), v.Format, ErrUnsupported)
}

// restoreCopy restores the raw or directory copy of snapshot snap of v
// into the volume at dst through tmp: a file is copied beside and renamed
// over it (rename replaces a file in one step), a tree swapped in
// (rollbackTree).
func restoreCopy(ctx context.Context, root string, v materials.Volume, snap, tmp, dst string) (Result, error) {
	sp, err := layout.SnapshotPath(root, v, snap)
	if err != nil {
		return Result{}, err
	}
	st, err := os.Lstat(sp)
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, fmt.Errorf("volume %s: snapshot %s: %w", v.Key(), snap, ErrNotFound)
	}
	if err != nil {
		return Result{}, err
	}
	if v.Format == materials.FormatRaw {
		if !st.Mode().IsRegular() {
			return Result{}, fmt.Errorf("snapshot %s is a %s, not a file", sp, st.Mode().Type())
		}
		m, n, err := copyFileAtomic(ctx, sp, tmp, dst)
		return Result{Method: m, Bytes: n}, err
	}
	if !st.IsDir() || st.Mode()&os.ModeSymlink != 0 {
		return Result{}, fmt.Errorf("snapshot %s is a %s, not a directory", sp, st.Mode().Type())
	}
	return rollbackTree(ctx, sp, tmp, dst)
}

// rollbackTree copies the snapshot tree to tmp, swaps it with the volume
// in one renameat2(RENAME_EXCHANGE), and removes what is then at tmp (the
// old content). Before the swap the volume is untouched; after it, it is
// the restored copy; the old tree at tmp is a temp the next run removes.
func rollbackTree(ctx context.Context, snap, tmp, vol string) (Result, error) {
	if err := os.RemoveAll(tmp); err != nil {
		return Result{}, fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	st, err := copyTree(ctx, snap, tmp)
	r := Result{Method: st.method(), Bytes: st.Bytes}
	if err == nil {
		err = exchangeDurable(tmp, vol)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return r, err
	}
	if err := os.RemoveAll(tmp); err != nil {
		return r, fmt.Errorf("restored %s; remove the old tree at %s: %w", vol, tmp, err)
	}
	return r, nil
}

func (s *Snapshotter) delete(ctx context.Context, root string, v materials.Volume, snap string) (Result, error) {
	if err := layout.CheckSnapshotID(snap); err != nil {
		return Result{}, err
	}
	switch v.Format {
	case materials.FormatQcow2:
		vp, err := volumePath(root, v)
		if err != nil {
			return Result{}, err
		}
		return s.qcow2Delete(ctx, vp, snap)
	case materials.FormatRaw, materials.FormatContainer:
		// The volume itself may be gone already: its snapshots still go.
		sp, err := layout.SnapshotPath(root, v, snap)
		if err != nil {
			return Result{}, err
		}
		if _, err := os.Lstat(sp); errors.Is(err, os.ErrNotExist) {
			return Result{AlreadyDone: true}, nil
		}
		return Result{}, removeDurable(sp, sp+layout.TempSuffix)
	}
	return Result{}, fmt.Errorf("volume %s: format %q: %w", v.Key(), v.Format, ErrUnsupported)
}
