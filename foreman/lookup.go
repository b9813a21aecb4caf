package foreman

import (
	"sort"

	"github.com/edgewright/edgewright/materials"
)

// Lookups by binary search over sorted slices instead of hash maps. The
// architect and the inspector hand over sorted slices, and the foreman
// asks in sorted order (volumes by key, trees by id), so consecutive
// lookups walk neighbouring memory; a hash map would scatter them. At
// 100,000 volumes this is what keeps the plan's cost in line with its
// input's size. Unsorted input is sorted first (a copy of pointers).

// sortedVolumes returns pointers to vs ordered by key, stable.
func sortedVolumes(vs []materials.Volume) []*materials.Volume {
	out := make([]*materials.Volume, len(vs))
	sorted := true
	for i := range vs {
		out[i] = &vs[i]
		if i > 0 && vs[i].Key().Less(vs[i-1].Key()) {
			sorted = false
		}
	}
	if !sorted {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Key().Less(out[j].Key()) })
	}
	return out
}

// sortedTrees returns pointers to ts ordered by id, stable.
func sortedTrees(ts []materials.ContentTree) []*materials.ContentTree {
	out := make([]*materials.ContentTree, len(ts))
	sorted := true
	for i := range ts {
		out[i] = &ts[i]
		if i > 0 && ts[i].ID < ts[i-1].ID {
			sorted = false
		}
	}
	if !sorted {
		sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	}
	return out
}

// findVolume is the first volume with key k in vs (sorted by key), or nil.
func findVolume(vs []*materials.Volume, k materials.VolumeKey) *materials.Volume {
	i := sort.Search(len(vs), func(i int) bool { return !vs[i].Key().Less(k) })
	if i < len(vs) && vs[i].ID == k.ID && vs[i].Generation == k.Generation {
		return vs[i]
	}
	return nil
}

// findTree is the index of the first tree with that id in ts (sorted by
// id), or -1.
func findTree(ts []*materials.ContentTree, id string) int {
	i := sort.Search(len(ts), func(i int) bool { return ts[i].ID >= id })
	if i < len(ts) && ts[i].ID == id {
		return i
	}
	return -1
}

// lastVolume is the last applied Blueprint's volume with key k, or nil.
func (p *planner) lastVolume(k materials.VolumeKey) *materials.Volume {
	return findVolume(p.lastVols, k)
}

// lastTreeByID is the last applied Blueprint's tree with that id, or nil.
func (p *planner) lastTreeByID(id string) *materials.ContentTree {
	if i := findTree(p.lastTrees, id); i >= 0 {
		return p.lastTrees[i]
	}
	return nil
}

// stateOf is the state of the desired tree with that id (the first, if
// the id is repeated), or nil.
func (p *planner) stateOf(id string) *treeState {
	if i := findTree(p.trees, id); i >= 0 {
		return &p.stateArr[i]
	}
	return nil
}

// tree is the desired content tree with that id, or nil.
func (p *planner) tree(id string) *materials.ContentTree {
	if i := findTree(p.trees, id); i >= 0 {
		return p.trees[i]
	}
	return nil
}

// sortLatches orders latches by (tree, generation), the most recent
// first within one.
func sortLatches(ls []materials.TagLatch) []*materials.TagLatch {
	out := make([]*materials.TagLatch, len(ls))
	for i := range ls {
		out[i] = &ls[i]
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ContentTree != b.ContentTree {
			return a.ContentTree < b.ContentTree
		}
		if a.Generation != b.Generation {
			return a.Generation < b.Generation
		}
		return a.ResolvedAt.After(b.ResolvedAt)
	})
	return out
}

// latch is the most recent latch of a tree generation, or nil.
func (p *planner) latch(tree string, gen int64) *materials.TagLatch {
	ls := p.latchList
	i := sort.Search(len(ls), func(i int) bool {
		return ls[i].ContentTree > tree || ls[i].ContentTree == tree && ls[i].Generation >= gen
	})
	if i < len(ls) && ls[i].ContentTree == tree && ls[i].Generation == gen {
		return ls[i]
	}
	return nil
}
