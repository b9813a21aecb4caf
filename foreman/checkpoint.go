package foreman

import (
	"slices"
	"sort"

	"github.com/edgewright/edgewright/materials"
)

// checkpoint is the Blueprint the journal records as last applied once
// the plan is carried out: bp, plus every volume the previous checkpoint
// named that bp dropped but the disk still holds (its delete held by a
// guard, failed before, or in this plan). Without them the three-way diff
// would forget those volumes were ever configured and only report them
// from then on; with them they stay "dropped from the config" until they
// are really gone. A carried volume has no apps and a refcount of 0. The
// executor leaves out the carried volumes this plan's deletes and purges
// did remove. Only a complete Blueprint is checkpointed: nil otherwise.
// keepCounters leaves in the checkpoint the last applied rollback counter
// of every app whose rollback was asked for and is not in the plan (held,
// or impossible for now): the request stays a request. The executor does
// the same for a planned rollback that is not done
// (RollbackPayload.LastCounter).
func (p *planner) keepCounters(cp *materials.Blueprint) *materials.Blueprint {
	if cp == nil || len(p.rollbackPending) == 0 {
		return cp
	}
	planned := map[string]bool{}
	for _, n := range p.rollbacks {
		if !n.held {
			planned[n.app] = true
		}
	}
	out := *cp
	out.Apps = slices.Clone(cp.Apps)
	for i := range out.Apps {
		if last, ok := p.rollbackPending[out.Apps[i].ID]; ok && !planned[out.Apps[i].ID] {
			out.Apps[i].RollbackCounter = last
		}
	}
	return &out
}

func checkpoint(bp *materials.Blueprint, fp *materials.Floorplan) *materials.Blueprint {
	if bp == nil || !bp.Complete {
		return nil
	}
	var prev *materials.Blueprint
	if fp.Journal != nil {
		prev = fp.Journal.LastApplied
	}
	if prev == nil {
		return bp
	}
	want := make(map[materials.VolumeKey]bool, len(bp.Volumes))
	for _, v := range bp.Volumes {
		want[v.Key()] = true
	}
	onDisk := make(map[materials.VolumeKey]bool, len(fp.Volumes))
	for _, f := range fp.Volumes {
		// Any state: a file that cannot be read is no proof it is gone.
		if f.ID != "" && f.Legacy == nil {
			onDisk[f.Key()] = true
		}
	}
	var carry []materials.Volume
	for _, v := range prev.Volumes {
		if !want[v.Key()] && onDisk[v.Key()] {
			v.RefCount, v.Apps = 0, nil
			carry = append(carry, v)
		}
	}
	if len(carry) == 0 {
		return bp
	}
	cp := *bp
	cp.Volumes = append(append([]materials.Volume(nil), bp.Volumes...), carry...)
	sort.Slice(cp.Volumes, func(i, j int) bool { return cp.Volumes[i].Key().Less(cp.Volumes[j].Key()) })
	return &cp
}
