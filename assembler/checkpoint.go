package assembler

import (
	"sort"

	"github.com/edgewright/edgewright/materials"
)

// checkpointOf is the Blueprint to record as last applied: bp, plus every
// volume the previous checkpoint named that bp dropped but that is still
// on disk (its delete was held by a guard, failed, or is yet to come).
// Without them the foreman's three-way diff would forget those volumes
// were ever configured and only report them from then on; with them they
// stay "dropped from the config" until they are really gone. A carried
// volume has no apps and a refcount of 0: nothing refers to it now.
func (a *Assembler) checkpointOf(prev, bp *materials.Blueprint) *materials.Blueprint {
	if prev == nil {
		return bp
	}
	want := make(map[materials.VolumeKey]bool, len(bp.Volumes))
	for _, v := range bp.Volumes {
		want[v.Key()] = true
	}
	var carry []materials.Volume
	for _, v := range prev.Volumes {
		if want[v.Key()] {
			continue
		}
		p, err := VolumePath(a.opts.Root, v)
		if err != nil {
			continue
		}
		if ok, err := a.exists(p); ok || err != nil {
			// An error reading it is no proof it is gone: keep it named.
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
