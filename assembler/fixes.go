package assembler

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// The storage check's fixes (package check plans them as remodels): a
// recreate goes through the volume builder as a create does; the
// in-place fixes through the device's VolumeFixer, which the volume
// builder implements.

// fixOp is one in-place fix of the VolumeFixer.
type fixOp func(f device.VolumeFixer, ctx context.Context, path string, chain []device.Link, progress func(done, known int64)) error

func (w *walk) recreate(ctx context.Context, r *remodel.Remodel, p *remodel.RecreatePayload) (outcome, error) {
	path, err := w.underRoot(p.Path)
	if err != nil {
		return outcome{}, terminal("recreate %s: %v", r.ID, err)
	}
	unlock, err := w.a.keys.lock(ctx, volumeKey(p.Volume.Key()), "file:"+path)
	if err != nil {
		return outcome{}, err
	}
	defer unlock()
	v := p.Volume
	if v.Format == materials.FormatContainer || v.Origin != materials.OriginDownload {
		return outcome{}, terminal("recreate %s: volume %s: only a raw or qcow2 volume from content is re-created", r.ID, v.Key())
	}
	ct := w.pinned(p.ContentTree)
	store, src, err := w.contentSource(ctx, ct)
	if err != nil {
		return outcome{}, err
	}
	if src == "" {
		staged, remove, err := w.stage(ctx, store, ct.Digest())
		if err != nil {
			return outcome{}, fmt.Errorf("recreate volume %s: %w", v.Key(), err)
		}
		defer remove()
		src = staged
	}
	if p.Build != nil && p.Build.Strategy == materials.StrategySpace {
		// The overlay is made at <path>.tmp and renamed over the file.
		return w.overlay(ctx, path, v, ct, p.Build, store, src)
	}
	progress := func(done, known int64) {
		w.gate.emit(Event{RemodelID: r.ID, Kind: r.Target.Kind, ID: r.Target.ID, Done: done, Known: known})
	}
	// The builder writes <path>.tmp and renames it over the damaged file.
	if err := w.a.crafts.Volumes.CreateFrom(ctx, path, v.Format, src, ct.Format, v.MaxSizeBytes, progress); err != nil {
		if ctx.Err() != nil {
			return outcome{}, ctx.Err()
		}
		return outcome{}, &terminalError{Err: fmt.Errorf("recreate volume %s from content tree %s: %w", v.Key(), ct.ID, err)}
	}
	return outcome{reason: "re-created from content tree " + ct.ID}, nil
}

// fixVolume runs one in-place fix on the payload's file under its locks.
func (w *walk) fixVolume(ctx context.Context, r *remodel.Remodel, p *remodel.VolumeFix, op fixOp) (outcome, error) {
	fixer, ok := w.a.crafts.Volumes.(device.VolumeFixer)
	if !ok {
		return outcome{}, &terminalError{Err: fmt.Errorf("%s %s: the volume builder fixes no volume: %w", r.Action, r.ID, ErrNoCraft)}
	}
	path, err := w.underRoot(p.Path)
	if err != nil {
		return outcome{}, terminal("%s %s: %v", r.Action, r.ID, err)
	}
	chain := make([]device.Link, 0, len(p.Chain))
	for _, l := range p.Chain {
		lp, err := w.underRoot(l.Path)
		if err != nil {
			return outcome{}, terminal("%s %s: backing link %q: %v", r.Action, r.ID, l.Name, err)
		}
		chain = append(chain, device.Link{Name: l.Name, Path: lp, Format: l.Format})
	}
	keys := []string{"file:" + path}
	if k, err := materials.ParseVolumeKey(r.Target.ID); err == nil && r.Target.Kind == materials.KindVolume {
		keys = append(keys, volumeKey(k))
	}
	unlock, err := w.a.keys.lock(ctx, keys...)
	if err != nil {
		return outcome{}, err
	}
	defer unlock()
	if ok, err := w.exists(path); err != nil {
		return outcome{}, err
	} else if !ok {
		return outcome{}, terminal("%s %s: %s is gone", r.Action, r.ID, p.Path)
	}
	progress := func(done, known int64) {
		w.gate.emit(Event{RemodelID: r.ID, Kind: r.Target.Kind, ID: r.Target.ID, Done: done, Known: known})
	}
	if err := op(fixer, ctx, path, chain, progress); err != nil {
		if ctx.Err() != nil {
			return outcome{}, ctx.Err()
		}
		if errors.Is(err, ErrImageRefused) {
			return outcome{}, &terminalError{Err: err}
		}
		return outcome{}, fmt.Errorf("%s %s: %w", r.Action, p.Path, err)
	}
	return outcome{}, nil
}

func (w *walk) repairLeaks(ctx context.Context, r *remodel.Remodel, p *remodel.RepairLeaksPayload) (outcome, error) {
	return w.fixVolume(ctx, r, &p.VolumeFix, func(f device.VolumeFixer, ctx context.Context, path string, _ []device.Link, pr func(int64, int64)) error {
		return f.RepairLeaks(ctx, path, pr)
	})
}

// sparsify makes holes where the raw volume holds zeros, then journals
// the file's size and mtime as the fix left it (materials.DenseFile): a
// volume with no zero block stays fully allocated, and the check, which
// cannot read data, lists it again only once it changed. (The root's
// lock is held: nothing else writes the file in between.)
func (w *walk) sparsify(ctx context.Context, r *remodel.Remodel, p *remodel.SparsifyPayload) (outcome, error) {
	out, err := w.fixVolume(ctx, r, &p.VolumeFix, func(f device.VolumeFixer, ctx context.Context, path string, _ []device.Link, pr func(int64, int64)) error {
		return f.Sparsify(ctx, path, pr)
	})
	if err != nil {
		return out, err
	}
	path, err := w.underRoot(p.Path)
	if err != nil {
		return outcome{}, terminal("%s %s: %v", r.Action, r.ID, err)
	}
	size, mod, err := w.a.files.Stat(path)
	if err != nil {
		return outcome{}, fmt.Errorf("%s %s: stat the sparsified volume: %w", r.Action, p.Path, err)
	}
	if err := w.s.journal.PutDense(materials.DenseFile{Path: p.Path, Size: size, ModTime: mod}); err != nil {
		w.setJournalErr(err)
		return outcome{}, err
	}
	return out, nil
}

func (w *walk) flatten(ctx context.Context, r *remodel.Remodel, p *remodel.FlattenPayload) (outcome, error) {
	return w.fixVolume(ctx, r, &p.VolumeFix, device.VolumeFixer.Flatten)
}

func (w *walk) merge(ctx context.Context, r *remodel.Remodel, p *remodel.MergePayload) (outcome, error) {
	return w.fixVolume(ctx, r, &p.VolumeFix, device.VolumeFixer.Merge)
}
