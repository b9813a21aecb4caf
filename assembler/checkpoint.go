package assembler

import (
	"slices"

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
	cp = w.keepRollbackCounters(cp)
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

// keepRollbackCounters leaves the last applied rollback counter of an app
// whose rollback remodel is not done: the request stays a request and
// the next plan asks for the rollback again.
func (w *walk) keepRollbackCounters(cp *materials.Blueprint) *materials.Blueprint {
	var out *materials.Blueprint
	for _, n := range w.nodes {
		p, ok := n.r.Payload.(*remodel.RollbackPayload)
		if !ok || n.result.Status == StatusDone {
			continue
		}
		if out == nil {
			c := *cp
			c.Apps = slices.Clone(cp.Apps)
			out = &c
		}
		for i := range out.Apps {
			if out.Apps[i].ID == p.App {
				out.Apps[i].RollbackCounter = p.LastCounter
			}
		}
	}
	if out == nil {
		return cp
	}
	return out
}
