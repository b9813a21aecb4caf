package sim

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// snap is one snapshot of an entry: what the volume was when it was
// taken. A qcow2's is internal (it costs nothing, as qemu-img's shares
// clusters); a raw or container volume's is a copy beside it, charged
// the volume's allocated size, as the craft's sparse copy is.
type snap struct {
	name    string
	created time.Time
	virtual int64
	alloc   int64
	// charged is the disk the copy takes (0 for a qcow2 internal one).
	charged int64
}

// snapshots is the sim's device.Snapshotter: the snapshot craft's rules
// (idempotent Take and Delete, Rollback of a missing snapshot refused,
// snapshot ids checked as layout does) over the device's entries.
type snapshots struct{ d *Device }

var _ device.Snapshotter = snapshots{}

// snapEntry is v's entry, checked for the snapshot operation op. The
// caller holds d.mu.
func (d *Device) snapEntry(op, root string, v materials.Volume, id string) (*entry, error) {
	if err := d.alive(); err != nil {
		return nil, err
	}
	if _, err := layout.SnapshotPath(root, v, id); err != nil {
		return nil, fmt.Errorf("%s snapshot of volume %s: %w", op, v.Key(), err)
	}
	p, err := layout.VolumePath(root, v)
	if err != nil {
		return nil, err
	}
	e, ok := d.entries[filepath.Clean(p)]
	if !ok {
		return nil, fmt.Errorf("%s snapshot %s of volume %s: %w", op, id, v.Key(), fs.ErrNotExist)
	}
	if e.dir != (v.Format == materials.FormatContainer) {
		return nil, fmt.Errorf("%s snapshot %s of volume %s: %s is not a %s volume", op, id, v.Key(), p, v.Format)
	}
	return e, nil
}

func method(v materials.Volume) device.SnapshotMethod {
	if v.Format == materials.FormatQcow2 {
		return "qcow2-internal"
	}
	return "copy"
}

func (s snapshots) Take(ctx context.Context, root string, v materials.Volume, id string) (device.SnapshotResult, error) {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.snapEntry("take", root, v, id)
	if err != nil {
		return device.SnapshotResult{}, err
	}
	r := device.SnapshotResult{Method: method(v)}
	if e.snapIndex(id) >= 0 {
		r.AlreadyDone = true
		return r, nil
	}
	sn := snap{name: id, created: d.now(), virtual: e.virtual, alloc: e.alloc}
	if v.Format != materials.FormatQcow2 {
		sn.charged = e.alloc
		if err := d.reserve(sn.charged); err != nil {
			return device.SnapshotResult{}, fmt.Errorf("take snapshot %s of volume %s: %w", id, v.Key(), err)
		}
		r.Bytes = sn.charged
	}
	e.snaps = append(e.snaps, sn)
	return r, nil
}

func (s snapshots) Rollback(ctx context.Context, root string, v materials.Volume, id string) (device.SnapshotResult, error) {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.snapEntry("rollback to", root, v, id)
	if err != nil {
		return device.SnapshotResult{}, err
	}
	i := e.snapIndex(id)
	if i < 0 {
		return device.SnapshotResult{}, fmt.Errorf("rollback of volume %s to snapshot %s: snapshot not found", v.Key(), id)
	}
	sn := e.snaps[i]
	r := device.SnapshotResult{Method: method(v)}
	if v.Format != materials.FormatQcow2 {
		r.Bytes = sn.alloc
	}
	// The restored volume replaces the old one in one step, as the
	// craft's rename does.
	d.release(e.alloc)
	if err := d.reserve(sn.alloc); err != nil {
		d.used += e.alloc
		return device.SnapshotResult{}, fmt.Errorf("rollback of volume %s to snapshot %s: %w", v.Key(), id, err)
	}
	if e.planted != nil {
		e.format, e.planted = e.planted.Format, nil
	}
	e.virtual, e.alloc, e.mod = sn.virtual, sn.alloc, d.now()
	return r, nil
}

var _ device.SnapshotRestorer = snapshots{}

// RestoreFrom is the craft's rollback across generations: to takes the
// snapshot's size from the generation from that holds it, in one step;
// a qcow2 is converted out of the snapshot, so to holds none of from's
// snapshots and loses its own internal ones (the planner does not ask
// for this when it has any); copies beside a raw or directory volume stay.
func (s snapshots) RestoreFrom(ctx context.Context, root string, from materials.Volume, id string, to materials.Volume) (device.SnapshotResult, error) {
	if from.Key() == to.Key() {
		return s.Rollback(ctx, root, to, id)
	}
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if from.ID != to.ID || (from.Format == materials.FormatContainer) != (to.Format == materials.FormatContainer) {
		return device.SnapshotResult{}, fmt.Errorf("restore snapshot %s of volume %s into %s: not generations of one volume of one kind", id, from.Key(), to.Key())
	}
	src, err := d.snapEntry("restore from", root, from, id)
	if err != nil {
		return device.SnapshotResult{}, err
	}
	e, err := d.snapEntry("restore into", root, to, id)
	if err != nil {
		return device.SnapshotResult{}, err
	}
	i := src.snapIndex(id)
	if i < 0 {
		return device.SnapshotResult{}, fmt.Errorf("restore of volume %s from %s snapshot %s: snapshot not found", to.Key(), from.Key(), id)
	}
	sn := src.snaps[i]
	r := device.SnapshotResult{Method: method(from), Bytes: sn.alloc}
	if from.Format == materials.FormatQcow2 {
		r.Method = "qcow2-convert"
	}
	d.release(e.alloc)
	if err := d.reserve(sn.alloc); err != nil {
		d.used += e.alloc
		return device.SnapshotResult{}, fmt.Errorf("restore of volume %s from %s snapshot %s: %w", to.Key(), from.Key(), id, err)
	}
	if e.planted != nil {
		e.format, e.planted = e.planted.Format, nil
	}
	if to.Format == materials.FormatQcow2 {
		for _, o := range e.snaps {
			d.release(o.charged)
		}
		e.snaps = nil
	}
	// The craft grows a converted qcow2 to the new generation's size; a
	// raw or directory copy is the snapshot's, size and all.
	virtual := sn.virtual
	if to.Format == materials.FormatQcow2 {
		virtual = max(e.virtual, sn.virtual)
	}
	e.virtual, e.alloc, e.mod = virtual, sn.alloc, d.now()
	return r, nil
}

func (s snapshots) Delete(ctx context.Context, root string, v materials.Volume, id string) (device.SnapshotResult, error) {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.snapEntry("delete", root, v, id)
	if err != nil {
		return device.SnapshotResult{}, err
	}
	r := device.SnapshotResult{Method: method(v)}
	i := e.snapIndex(id)
	if i < 0 {
		r.AlreadyDone = true
		return r, nil
	}
	d.release(e.snaps[i].charged)
	e.snaps = slices.Delete(e.snaps, i, i+1)
	return r, nil
}

func (e *entry) snapIndex(id string) int {
	return slices.IndexFunc(e.snaps, func(s snap) bool { return s.name == id })
}

// snapCharge is the disk e's snapshot copies take.
func (e *entry) snapCharge() int64 {
	var n int64
	for _, s := range e.snaps {
		n += s.charged
	}
	return n
}

// snapshotInfos is what the inspector reports of e's snapshots: a qcow2's
// internal ones in table order with no path, a copy's named beside the
// volume by layout's rule, sorted by name.
func (e *entry) snapshotInfos(rel string) []materials.SnapshotInfo {
	if len(e.snaps) == 0 {
		return nil
	}
	out := make([]materials.SnapshotInfo, 0, len(e.snaps))
	dir, base := filepath.Split(rel)
	key := strings.TrimSuffix(base, filepath.Ext(base))
	for _, s := range e.snaps {
		si := materials.SnapshotInfo{Name: s.name, Created: s.created, State: materials.StateComplete, VirtualSize: s.virtual}
		if e.format != materials.FormatQcow2 || e.dir {
			f := e.format
			if e.dir {
				f = materials.FormatContainer
			}
			si.Path = dir + key + layout.SnapshotSep + s.name + "." + string(f)
			si.Size, si.VirtualSize = s.virtual, 0
			if e.dir {
				si.Size = s.alloc
			}
		}
		out = append(out, si)
	}
	if e.format != materials.FormatQcow2 || e.dir {
		slices.SortFunc(out, func(a, b materials.SnapshotInfo) int { return strings.Compare(a.Name, b.Name) })
	}
	return out
}

// plantSnapshots gives a loaded entry the snapshots its file lists.
func (e *entry) plantSnapshots(vf *materials.VolumeFile) {
	for _, si := range vf.Snapshots {
		sn := snap{name: si.Name, created: si.Created, virtual: e.virtual, alloc: e.alloc}
		if si.Path != "" {
			sn.charged = e.alloc
		}
		e.snaps = append(e.snaps, sn)
	}
}

var _ device.SnapshotMover = snapshots{}

// moveEntries are the entries of a move of from's file over to's, checked
// as the craft checks them: two qcow2 generations of one volume in one
// directory, to holding no snapshot of its own (else device.ErrNotMovable,
// nothing changed). done is true once the move is done (from gone, to
// holding id). The caller holds d.mu.
func (d *Device) moveEntries(root string, from materials.Volume, id string, to materials.Volume) (src, dst *entry, fp, tp string, done bool, err error) {
	if err := d.alive(); err != nil {
		return nil, nil, "", "", false, err
	}
	if from.ID != to.ID || from.Key() == to.Key() || from.Format != materials.FormatQcow2 || to.Format != materials.FormatQcow2 {
		return nil, nil, "", "", false, fmt.Errorf("move %s over %s: not two qcow2 generations of one volume: %w", from.Key(), to.Key(), device.ErrNotMovable)
	}
	if dst, err = d.snapEntry("move onto", root, to, id); err != nil {
		return nil, nil, "", "", false, err
	}
	fp, _ = layout.VolumePath(root, from)
	tp, _ = layout.VolumePath(root, to)
	fp, tp = filepath.Clean(fp), filepath.Clean(tp)
	if filepath.Dir(fp) != filepath.Dir(tp) {
		return nil, nil, "", "", false, fmt.Errorf("move %s over %s: not in one directory: %w", from.Key(), to.Key(), device.ErrNotMovable)
	}
	if _, ok := d.entries[fp]; !ok && dst.snapIndex(id) >= 0 {
		return nil, dst, fp, tp, true, nil
	}
	if len(dst.snaps) > 0 {
		return nil, nil, "", "", false, fmt.Errorf("move %s over %s: it holds snapshots of its own: %w", from.Key(), to.Key(), device.ErrNotMovable)
	}
	if src, err = d.snapEntry("move from", root, from, id); err != nil {
		return nil, nil, "", "", false, err
	}
	if src.backing != "" {
		return nil, nil, "", "", false, fmt.Errorf("move %s over %s: an overlay: refused", from.Key(), to.Key())
	}
	if src.snapIndex(id) < 0 {
		return nil, nil, "", "", false, fmt.Errorf("move %s over %s: snapshot %s: snapshot not found", from.Key(), to.Key(), id)
	}
	return src, dst, fp, tp, false, nil
}

// moveStep runs one step of a move under d.mu once moveEntries allows it.
func (s snapshots) moveStep(root string, from materials.Volume, id string, to materials.Volume, step func(d *Device, src, dst *entry, fp, tp string) error) (device.SnapshotResult, error) {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	src, dst, fp, tp, done, err := d.moveEntries(root, from, id, to)
	r := device.SnapshotResult{Method: "qcow2-move", AlreadyDone: done}
	if err != nil || done {
		return r, err
	}
	if src.planted != nil {
		src.format, src.planted = src.planted.Format, nil
	}
	if err := step(d, src, dst, fp, tp); err != nil {
		return device.SnapshotResult{}, fmt.Errorf("move %s over %s: %w", from.Key(), to.Key(), err)
	}
	return r, nil
}

// PrepareMove is the craft's step one of a move: from's file takes the
// snapshot's content, grown to to's virtual size; to is not touched.
func (s snapshots) PrepareMove(ctx context.Context, root string, from materials.Volume, id string, to materials.Volume) (device.SnapshotResult, error) {
	return s.moveStep(root, from, id, to, func(d *Device, src, dst *entry, _, _ string) error {
		sn := src.snaps[src.snapIndex(id)]
		d.release(src.alloc)
		if err := d.reserve(sn.alloc); err != nil {
			d.used += src.alloc
			return err
		}
		src.virtual, src.alloc, src.mod = max(sn.virtual, dst.virtual), sn.alloc, d.now()
		return nil
	})
}

// MoveOver is step two: from's entry, with its snapshots, replaces to's in
// one step, as the craft's rename does.
func (s snapshots) MoveOver(ctx context.Context, root string, from materials.Volume, id string, to materials.Volume) (device.SnapshotResult, error) {
	return s.moveStep(root, from, id, to, func(d *Device, src, dst *entry, fp, tp string) error {
		d.release(dst.alloc)
		d.entries[tp] = src
		delete(d.entries, fp)
		return nil
	})
}
