package check

import (
	"strconv"
	"strings"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// fixPlanner indexes a Floorplan for PlanFixes and gathers its remodels.
type fixPlanner struct {
	c        *checker
	remodels []remodel.Remodel
	index    map[remodel.ID]int
	// neededBlobs are named by the last applied config or an overlay;
	// kept the paths of volume files and complete blobs (never deleted
	// as a file).
	neededBlobs map[string]bool
	kept        map[string]bool
	// complete are the stores holding each complete blob, by digest.
	complete map[string][]*materials.BlobRecord
	// needs are the Blueprints of needs PlanFixes was given.
	needs []*materials.Blueprint
}

func newFixPlanner(fp *materials.Floorplan, opts Options) *fixPlanner {
	c := newChecker(fp, opts)
	p := &fixPlanner{c: c, index: map[remodel.ID]int{}, neededBlobs: map[string]bool{}, kept: map[string]bool{},
		complete: map[string][]*materials.BlobRecord{}}
	for d := range c.backing {
		p.neededBlobs[d] = true
	}
	for _, t := range c.lastTrees {
		if d := t.Digest(); d != "" {
			p.neededBlobs[string(d)] = true
		}
	}
	for i := range fp.Volumes {
		if v := &fp.Volumes[i]; !v.Temp {
			p.kept[v.Path] = true
		}
	}
	for i := range fp.Blobs {
		if b := &fp.Blobs[i]; b.State == materials.StateComplete {
			p.complete[string(b.Digest)] = append(p.complete[string(b.Digest)], b)
			if b.Path != "" {
				p.kept[b.Path] = true
			}
		}
	}
	return p
}

// add puts r in the plan once (two fixes may need the same download)
// and returns its ID.
func (p *fixPlanner) add(r remodel.Remodel) remodel.ID {
	if _, ok := p.index[r.ID]; !ok {
		p.index[r.ID] = len(p.remodels)
		if r.DependsOn == nil {
			r.DependsOn = []remodel.ID{}
		}
		p.remodels = append(p.remodels, r)
	}
	return r.ID
}

// plan adds f's remodels and returns their IDs, or why f is refused.
func (p *fixPlanner) plan(f Fix) ([]remodel.ID, string) {
	reason := "fix " + f.ID + ": " + f.Reason
	switch f.Remedy {
	case RemedyDelete:
		return p.delete(f, reason)
	case RemedyRefetch:
		v := p.volumeOf(f)
		if v == nil {
			return nil, "no volume file is " + f.Target.String()
		}
		l := missingLink(v)
		if l == nil || l.Blob == "" {
			return nil, "the volume's backing chain misses no blob any more"
		}
		ct := p.c.treeOf(string(l.Blob))
		if ct == nil {
			return nil, "no content tree of the last applied config has blob " + string(l.Blob)
		}
		// Into the store whose file the chain names.
		return []remodel.ID{p.download(*ct, materials.Blob{Digest: l.Blob}, p.linkStore(l), reason)}, ""
	case RemedyRecreate:
		return p.recreate(f, reason)
	case RemedyRepairLeaks, RemedySparsify, RemedyFlatten, RemedyMerge:
		return p.inPlace(f, reason)
	}
	return nil, "remedy " + strconv.Quote(string(f.Remedy)) + " is not one a fix runner knows"
}

func (p *fixPlanner) download(ct materials.ContentTree, d materials.Blob, store materials.BlobStore, reason string) remodel.ID {
	t := materials.MaterialRef{Kind: materials.KindBlob, ID: string(d.Digest)}
	return p.add(remodel.Remodel{ID: remodel.NewID(remodel.ActionDownload, t), Action: remodel.ActionDownload, Target: t, Reason: reason,
		Payload: &remodel.DownloadPayload{ContentTree: ct, Blob: d, Store: store}})
}

// store is where the device keeps blobs.
func (p *fixPlanner) store() materials.BlobStore {
	if p.c.opts.Store == "" {
		return materials.BlobStoreDir
	}
	return p.c.opts.Store
}

// linkStore is the store a backing link names a blob of: containerd's
// content directory for an absolute name outside the root (the only
// such name the inspector follows), else the blob directory.
func (p *fixPlanner) linkStore(l *materials.BackingLink) materials.BlobStore {
	root := strings.TrimSuffix(p.c.fp.Root, "/") + "/"
	if strings.HasPrefix(l.Name, "/") && (p.c.fp.Root == "" || !strings.HasPrefix(l.Name, root)) {
		return materials.BlobStoreContainerd
	}
	return materials.BlobStoreDir
}

// delete is a clean: a leftover file, a leaked ingest, a blob past its
// grace period in every store holding it.
func (p *fixPlanner) delete(f Fix, reason string) ([]remodel.ID, string) {
	t := f.Target
	switch t.Kind {
	case materials.KindFile:
		if p.kept[t.ID] {
			return nil, t.ID + " is a volume or a complete blob, which a clean never deletes as a file"
		}
		return []remodel.ID{p.add(remodel.Remodel{ID: remodel.NewID(remodel.ActionDelete, t), Action: remodel.ActionDelete, Target: t,
			Reason: reason, Payload: &remodel.DeletePayload{Path: t.ID}})}, ""
	case materials.KindImage:
		return p.deleteImage(f, reason)
	case materials.KindLease:
		return p.deleteLease(f, reason)
	case materials.KindBlob:
		if f.ID != fixID(f.Type, t) {
			// A containerd ingest: only while no complete copy is there.
			for _, b := range p.complete[t.ID] {
				if b.Store == materials.BlobStoreContainerd {
					return nil, "blob " + t.ID + " is complete in containerd: its ingest is not removed with it"
				}
			}
			return []remodel.ID{p.add(remodel.Remodel{ID: remodel.NewStoreID(remodel.ActionDelete, t, materials.BlobStoreContainerd),
				Action: remodel.ActionDelete, Target: t, Reason: reason, Payload: &remodel.DeletePayload{Store: materials.BlobStoreContainerd}})}, ""
		}
		if p.neededBlobs[t.ID] {
			return nil, "blob " + t.ID + " is named by the last applied config or read through by an overlay"
		}
		var ids []remodel.ID
		for _, b := range p.complete[t.ID] {
			store := b.Store
			if store == materials.BlobStoreDir {
				store = "" // where downloads go: the plain ID
			}
			ids = append(ids, p.add(remodel.Remodel{ID: remodel.NewStoreID(remodel.ActionDelete, t, store), Action: remodel.ActionDelete,
				Target: t, Reason: reason, Payload: &remodel.DeletePayload{Blob: &materials.Blob{Digest: b.Digest, Size: b.Size}, Store: b.Store, Path: b.Path}}))
		}
		if len(ids) == 0 {
			return nil, "blob " + t.ID + " is in no store any more"
		}
		return ids, ""
	}
	return nil, "a clean of a " + string(t.Kind) + " is not one a fix runner does"
}

// recreate re-creates a damaged volume file from its content, after
// downloading the content's blob when no store holds it.
func (p *fixPlanner) recreate(f Fix, reason string) ([]remodel.ID, string) {
	v := p.volumeOf(f)
	if v == nil {
		return nil, "no volume file is " + f.Target.String()
	}
	lv, ct := p.c.lastVols[v.Key()], p.c.content(v)
	if lv == nil || ct == nil || ct.Digest() == "" {
		return nil, "the last applied config does not say what content " + v.Key().String() + " was made from"
	}
	var ids []remodel.ID
	if len(p.complete[string(ct.Digest())]) == 0 {
		ids = append(ids, p.download(*ct, materials.Blob{Digest: ct.Digest()}, p.store(), reason))
	}
	vol := *lv
	vol.ClearText = v.ClearText
	if v.Format == materials.FormatRaw || v.Format == materials.FormatQcow2 {
		// The file's format, as its name says: under space a volume from
		// raw content is a qcow2 overlay although the config's volume is
		// raw, and a file is never re-created in another format than its
		// name's.
		vol.Format = v.Format
	}
	id := remodel.NewID(remodel.ActionRecreate, f.Target)
	stage := 0
	if len(ids) > 0 {
		stage = 1
	}
	pl := &remodel.RecreatePayload{Volume: vol, ContentTree: *ct, Path: v.Path, Fix: f.ID}
	bytes := vol.MaxSizeBytes
	// Under space a VM volume from raw or qcow2 content is made again as
	// an overlay on the content blob, as its create made it.
	if p.c.strategy(v) == StrategySpace && vol.Format == materials.FormatQcow2 &&
		(ct.Format == materials.FormatRaw || ct.Format == materials.FormatQcow2) {
		pl.Build = &remodel.VolumeBuild{Strategy: materials.StrategySpace, Backing: ct.Digest(), Why: "the volume's strategy is space, as the check was told"}
		bytes = 1 << 20
	}
	p.add(remodel.Remodel{ID: id, Action: remodel.ActionRecreate, Target: f.Target, Reason: reason, DependsOn: append([]remodel.ID{}, ids...),
		Stage: stage, Bytes: bytes, Payload: pl})
	return append(ids, id), ""
}

// inPlace is a fix that rewrites the volume file beside itself.
func (p *fixPlanner) inPlace(f Fix, reason string) ([]remodel.ID, string) {
	v := p.volumeOf(f)
	if v == nil {
		return nil, "no volume file is " + f.Target.String()
	}
	vf := remodel.VolumeFix{Path: v.Path, Format: v.Format, Fix: f.ID}
	if f.Remedy == RemedyFlatten || f.Remedy == RemedyMerge {
		for _, l := range v.Backing {
			link := remodel.ChainLink{Name: l.Name, Path: l.Path, Format: l.Format}
			if l.Blob != "" {
				link.Path = ""
				for _, b := range p.complete[string(l.Blob)] {
					if b.Path != "" {
						link.Path = b.Path
					}
				}
			}
			if link.Path == "" || l.Missing {
				return nil, "backing link " + strconv.Quote(l.Name) + " is not a file of the root's stores"
			}
			vf.Chain = append(vf.Chain, link)
		}
	}
	var a remodel.Action
	var pl remodel.Payload
	switch f.Remedy {
	case RemedyRepairLeaks:
		a, pl = remodel.ActionRepairLeaks, &remodel.RepairLeaksPayload{VolumeFix: vf}
	case RemedySparsify:
		a, pl = remodel.ActionSparsify, &remodel.SparsifyPayload{VolumeFix: vf}
	case RemedyFlatten:
		a, pl = remodel.ActionFlatten, &remodel.FlattenPayload{VolumeFix: vf}
	default:
		a, pl = remodel.ActionMerge, &remodel.MergePayload{VolumeFix: vf}
	}
	// The copy beside the file is what the fix writes at most.
	bytes := max(v.AllocatedSize, -f.Bytes+v.AllocatedSize)
	return []remodel.ID{p.add(remodel.Remodel{ID: remodel.NewID(a, f.Target), Action: a, Target: f.Target, Reason: reason, Bytes: bytes, Payload: pl})}, ""
}

// volumeOf is the volume file a fix targets (by key or by path).
func (p *fixPlanner) volumeOf(f Fix) *materials.VolumeFile {
	for i := range p.c.fp.Volumes {
		v := &p.c.fp.Volumes[i]
		if !v.Temp && p.c.volumeTarget(v) == f.Target {
			return v
		}
	}
	return nil
}
