package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/internal/durable"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// MethodQcow2Convert: a rollback across generations of a qcow2: the
// snapshot's disk state is written out of the old generation's file by
// `qemu-img convert -l snapshot.name=` into a fresh image that takes the
// new generation's place (a copy of the data, none of the old file's
// other snapshots).
const MethodQcow2Convert Method = "qcow2-convert"

var _ device.SnapshotRestorer = (*Snapshotter)(nil)

// RestoreFrom rolls volume to back to snapshot snap that another
// generation of it, from, holds (an app-update snapshot of the generation
// an update replaced). The restored bytes are written at to's rollback
// temp, fsynced and renamed over to, so a crash leaves to as it was or
// restored; from and its snapshot are left as they are. A qcow2 is
// converted out of the snapshot (the new image holds none of from's
// snapshots, and to's own internal snapshots are replaced with it: the
// planner does not ask for this when to holds any); a qcow2 grows to
// to's virtual size when that is larger, since the update may have grown
// the volume. A raw or directory snapshot is its copy, copied again (a
// reflink where the file system can). The caller has stopped the app.
func (s *Snapshotter) RestoreFrom(ctx context.Context, root string, from materials.Volume, snap string, to materials.Volume) (Result, error) {
	start := time.Now()
	r, err := s.restoreFrom(ctx, root, from, snap, to)
	s.done("restore-from "+from.Key().String(), to, snap, r, err, start)
	return r, err
}

func (s *Snapshotter) restoreFrom(ctx context.Context, root string, from materials.Volume, snap string, to materials.Volume) (Result, error) {
	if err := layout.CheckSnapshotID(snap); err != nil {
		return Result{}, err
	}
	if from.ID != to.ID {
		return Result{}, fmt.Errorf("restore snapshot %s of volume %s into %s: not generations of one volume", snap, from.Key(), to.Key())
	}
	if from.Key() == to.Key() {
		return s.rollback(ctx, root, to, snap)
	}
	if (from.Format == materials.FormatContainer) != (to.Format == materials.FormatContainer) {
		return Result{}, fmt.Errorf("restore snapshot %s of volume %s (%s) into %s (%s): %w", snap, from.Key(), from.Format, to.Key(), to.Format, ErrUnsupported)
	}
	tp, err := volumePath(root, to)
	if err != nil {
		return Result{}, err
	}
	tmp, err := layout.RollbackTempPath(root, to)
	if err != nil {
		return Result{}, err
	}
	switch from.Format {
	case materials.FormatQcow2:
		fp, err := volumePath(root, from)
		if err != nil {
			return Result{}, err
		}
		return s.qcow2RestoreFrom(ctx, fp, snap, tp, tmp, to.Format)
	case materials.FormatRaw, materials.FormatContainer:
		if to.Format != from.Format {
			return Result{}, fmt.Errorf("restore %s snapshot %s into %s volume %s: %w", from.Format, snap, to.Format, to.Key(), ErrUnsupported)
		}
		return restoreCopy(ctx, root, from, snap, tmp, tp)
	}
	return Result{}, fmt.Errorf("volume %s: format %q: %w", from.Key(), from.Format, ErrUnsupported)
}

// qcow2RestoreFrom converts snapshot snap of the qcow2 at src into a new
// image of format out at tmp, grows it to dst's virtual size when that is
// larger, fsyncs it and renames it over dst.
func (s *Snapshotter) qcow2RestoreFrom(ctx context.Context, src, snap, dst, tmp string, out materials.Format) (Result, error) {
	_, snaps, err := qcow2Image(src)
	if err != nil {
		return Result{}, err
	}
	if _, err := theOne(src, snaps, snap); err != nil {
		return Result{}, err
	}
	var want int64
	switch out {
	case materials.FormatQcow2:
		h, _, err := qcow2Image(dst)
		if err != nil {
			return Result{}, err
		}
		want = h.VirtualSize
	case materials.FormatRaw:
		st, err := os.Stat(dst)
		if err != nil {
			return Result{}, err
		}
		want = st.Size()
	default:
		return Result{}, fmt.Errorf("restore qcow2 snapshot %s into a %s volume: %w", snap, out, ErrUnsupported)
	}
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Result{}, fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	fail := func(err error) (Result, error) {
		os.Remove(tmp)
		return Result{Method: MethodQcow2Convert}, err
	}
	if err := s.run(ctx, "convert", "-q", "-O", string(out), "-l", "snapshot.name="+snap, untrusted(src), tmp); err != nil {
		return fail(err)
	}
	if err := s.growTo(ctx, tmp, out, want); err != nil {
		return fail(err)
	}
	if err := fsyncFile(tmp); err != nil {
		return fail(err)
	}
	st, err := os.Stat(tmp)
	if err != nil {
		return fail(err)
	}
	if err := durable.Rename(tmp, dst); err != nil {
		return fail(err)
	}
	return Result{Method: MethodQcow2Convert, Bytes: st.Size()}, nil
}

// growTo grows the image at p to size bytes when it is smaller.
func (s *Snapshotter) growTo(ctx context.Context, p string, format materials.Format, size int64) error {
	if format == materials.FormatRaw {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.Size() < size {
			return os.Truncate(p, size)
		}
		return nil
	}
	h, _, err := qcow2Image(p)
	if err != nil {
		return err
	}
	if h.VirtualSize >= size {
		return nil
	}
	return s.run(ctx, "resize", "-q", "-f", "qcow2", p, strconv.FormatInt(size, 10))
}
