package foreman

import (
	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// overlayBytes is what disk admission charges a space overlay: its
// metadata when made (a few hundred KiB of qcow2 tables at most). What
// the guest writes later is the guest's, as with a blank qcow2.
const overlayBytes = 1 << 20

// readStrategies keeps the strategy Additions, in Blueprint order.
func (p *planner) readStrategies(bp *materials.Blueprint) {
	for _, a := range bp.Additions {
		if a.Kind == materials.AdditionStrategy && a.Target.Kind == materials.KindVolume {
			p.strategies = append(p.strategies, a)
		}
	}
}

// strategyFor is the strategy asked for volume v and where it comes from:
// an Addition naming its generation, else one naming its uuid, else the
// device default. Unset when nobody chose.
func (p *planner) strategyFor(v *materials.Volume) (materials.Strategy, string) {
	var byID *materials.Addition
	for i := range p.strategies {
		a := &p.strategies[i]
		switch a.Target.ID {
		case v.Key().String():
			return a.Strategy, "local addition for generation " + itoa(v.Generation) + reasonSuffix(a.Reason)
		case v.ID:
			byID = a
		}
	}
	if byID != nil {
		return byID.Strategy, "local addition for volume " + v.ID + reasonSuffix(byID.Reason)
	}
	if p.opts.Strategy != materials.StrategyUnset {
		return p.opts.Strategy, "device default"
	}
	return materials.StrategyUnset, ""
}

// volumeBuild chooses how volume v is made from tree: nil for a blank or
// container volume, or when no strategy was chosen (a full copy). Space
// makes a qcow2 overlay on the tree's top blob when that can be done
// safely, else falls back to a copy and says why. It returns the volume
// as the remodel carries it (an overlay is always a .qcow2 file).
func (p *planner) volumeBuild(v *materials.Volume, tree *materials.ContentTree) (*remodel.VolumeBuild, materials.Volume) {
	vc := *v
	if tree == nil || v.Origin != materials.OriginDownload || v.Format == materials.FormatContainer {
		return nil, vc // a strategy is about copying content into a VM volume
	}
	st, why := p.strategyFor(v)
	switch st {
	case materials.StrategyUnset:
		return nil, vc
	case materials.StrategyPerformance:
		return &remodel.VolumeBuild{Strategy: st, Why: why}, vc
	}
	fallback := func(because string) (*remodel.VolumeBuild, materials.Volume) {
		return &remodel.VolumeBuild{Strategy: materials.StrategyPerformance, Why: "space asked (" + why + ") but " + because + ": a full copy"}, vc
	}
	switch {
	case tree.Format != materials.FormatRaw && tree.Format != materials.FormatQcow2:
		return fallback("the content is " + string(tree.Format) + "; an overlay is backed only by raw or qcow2")
	case p.store != materials.BlobStoreDir && !(p.store == materials.BlobStoreContainerd && p.opts.ContentDirKnown):
		// Without its content directory a containerd blob has no file an
		// overlay could name.
		return fallback("the content is in the " + string(p.store) + " store; overlays are backed only by the blob directory")
	}
	ts := p.trees[tree.ID]
	if ts == nil || ts.top == "" {
		return fallback("the content's digest is not known")
	}
	vc.Format = materials.FormatQcow2
	return &remodel.VolumeBuild{Strategy: st, Backing: ts.top, Why: why}, vc
}

// buildBytes is what a create or purge charges: an overlay's metadata
// under space, else the copy's size.
func buildBytes(b *remodel.VolumeBuild, copyBytes int64) int64 {
	if b != nil && b.Strategy == materials.StrategySpace {
		return overlayBytes
	}
	return copyBytes
}

// backingBlobs are the blobs some overlay on disk reads through, from the
// survey's backing chains: they are needed whatever the config says, so
// no delete is planned and no grace clock started while an overlay names
// them (the Floorplan of every run carries the overlays, so the reference
// survives restarts with nothing journaled).
func backingBlobs(fp *materials.Floorplan) map[digest.Digest]string {
	var out map[digest.Digest]string
	for i := range fp.Volumes {
		f := &fp.Volumes[i]
		for _, l := range f.Backing {
			if l.Blob == "" || l.Missing {
				continue
			}
			if out == nil {
				out = map[digest.Digest]string{}
			}
			if _, seen := out[l.Blob]; !seen {
				out[l.Blob] = f.Path
			}
		}
	}
	return out
}

// overlayOfImage is an overlay on disk that reads through a blob image
// record im keeps (its target or a child), and that blob; "" when none.
// containerd collects a blob once no image record references it, so
// such a record is needed while the overlay is there.
func (p *planner) overlayOfImage(im *materials.ImageRecord) (string, digest.Digest) {
	if path, ok := p.backing[im.Target]; ok {
		return path, im.Target
	}
	for _, d := range im.Blobs {
		if path, ok := p.backing[d]; ok {
			return path, d
		}
	}
	return "", ""
}
