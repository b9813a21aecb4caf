package assembler

import (
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// checkpoint is the Blueprint to record as last applied: the foreman's
// (Plan.Checkpoint: bp plus the dropped volumes still on disk), less the
// carried volumes this apply removed (a delete of the volume, or the
// purge that replaced it, done). The executor knows only the outcomes;
// the rule is the foreman's. A plan without one records bp.
func (w *walk) checkpoint(plan *remodel.Plan, bp *materials.Blueprint) *materials.Blueprint {
	cp := plan.Checkpoint
	if cp == nil {
		return bp
	}
	gone := map[materials.VolumeKey]bool{}
	for _, n := range w.nodes {
		if n.result.Status != StatusDone {
			continue
		}
		switch p := n.r.Payload.(type) {
		case *remodel.PurgePayload:
			gone[p.Replaces] = true
		case *remodel.DeletePayload:
			if k, err := materials.ParseVolumeKey(n.r.Target.ID); err == nil && n.r.Target.Kind == materials.KindVolume {
				gone[k] = true
			}
		}
	}
	if len(gone) == 0 {
		return cp
	}
	want := make(map[materials.VolumeKey]bool, len(bp.Volumes))
	for _, v := range bp.Volumes {
		want[v.Key()] = true
	}
	out := *cp
	out.Volumes = make([]materials.Volume, 0, len(cp.Volumes))
	for _, v := range cp.Volumes {
		if want[v.Key()] || !gone[v.Key()] {
			out.Volumes = append(out.Volumes, v)
		}
	}
	return &out
}
