package journal

import "github.com/edgewright/edgewright/materials"

// LiveLatches is the latch rule of a checkpoint: once bp is the last
// applied Blueprint, a tag latch still pins something when its tree is
// in bp at the latch's generation, or when bp does not list the tree but
// still names it (withheld by an error for now, or the content of a
// volume bp carries): a config that is bad for a while must not make its
// tag resolve anew and so re-make the volumes built from the old digest.
// Any other latch (a tree gone from the config, a generation the tree
// has left) pins nothing; without this rule a device whose controller
// bumps tag generations for years keeps every latch it ever made. Both
// journals apply it in the checkpoint's own write.
func LiveLatches(bp *materials.Blueprint, latches []materials.TagLatch) (keep, drop []materials.TagLatch) {
	if bp == nil {
		return latches, nil
	}
	gen := make(map[string]int64, len(bp.ContentTrees))
	for _, t := range bp.ContentTrees {
		gen[t.ID] = t.Generation
	}
	named := map[string]bool{}
	for _, w := range bp.Withheld {
		if w.Kind == materials.KindContentTree {
			named[w.ID] = true
		}
	}
	for _, v := range bp.Volumes {
		if v.ContentTree != "" {
			named[v.ContentTree] = true
		}
	}
	for _, l := range latches {
		g, listed := gen[l.ContentTree]
		if (listed && g == l.Generation) || (!listed && named[l.ContentTree]) {
			keep = append(keep, l)
		} else {
			drop = append(drop, l)
		}
	}
	return keep, drop
}
