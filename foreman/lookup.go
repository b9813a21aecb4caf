package foreman

import (
	"cmp"
	"slices"
	"sort"

	"github.com/edgewright/edgewright/internal/radix"

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
		byKey(out, volumeID, byGeneration)
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
		byKey(out, func(t *materials.ContentTree) string { return t.ID }, nil)
	}
	return out
}

// byKey sorts xs stably by id, then by tie within one id, in linear time:
// a radix sort by id, then a comparison sort of the runs of one id (the
// generations of one volume: a handful).
func byKey[T any](xs []T, id func(T) string, tie func(a, b T) int) {
	order := radix.Order(len(xs), func(i int) string { return id(xs[i]) })
	sorted := make([]T, len(xs))
	for k, i := range order {
		sorted[k] = xs[i]
	}
	copy(xs, sorted)
	for lo := 0; lo < len(xs); {
		hi := lo + 1
		for hi < len(xs) && id(xs[hi]) == id(xs[lo]) {
			hi++
		}
		if hi-lo > 1 && tie != nil {
			slices.SortStableFunc(xs[lo:hi], tie)
		}
		lo = hi
	}
}

func volumeID(v *materials.Volume) string { return v.ID }

func byGeneration(a, b *materials.Volume) int { return cmp.Compare(a.Generation, b.Generation) }

// finger searches a sorted sequence for keys asked mostly in increasing
// order (the plan walks volumes and trees in key order): it gallops
// forward from the last answer, O(log distance), and falls back to a
// binary search when a key goes back. Keys in order then cost a compare or
// two each instead of a binary search's log n, which at 100,000 volumes is
// 17 compares over memory no longer in cache; that log factor was what
// made the plan grow faster than its input.
type finger struct{ at int }

// search returns the smallest i in [0, n) with !less(i), or n; less must
// be true for a prefix of [0, n) and false after it (as for sort.Search).
// A nil finger is a plain binary search, for keys asked in no order.
func (f *finger) search(n int, less func(i int) bool) int {
	if f == nil {
		return sort.Search(n, func(i int) bool { return !less(i) })
	}
	lo := min(f.at, n)
	if lo > 0 && !less(lo-1) {
		f.at = sort.Search(lo, func(i int) bool { return !less(i) })
		return f.at
	}
	// Every i < lo has less(i). Gallop: probe lo, lo+1, lo+3, lo+7, ...
	hi := n
	for step := 1; ; step *= 2 {
		probe := lo + step - 1
		if probe >= n {
			break
		}
		if !less(probe) {
			hi = probe
			break
		}
		lo = probe + 1
	}
	f.at = lo + sort.Search(hi-lo, func(j int) bool { return !less(lo + j) })
	return f.at
}

// findVolume is the first volume with key k in vs (sorted by key), or nil.
func findVolume(vs []*materials.Volume, k materials.VolumeKey, f *finger) *materials.Volume {
	i := f.search(len(vs), func(i int) bool { return vs[i].Key().Less(k) })
	if i < len(vs) && vs[i].ID == k.ID && vs[i].Generation == k.Generation {
		return vs[i]
	}
	return nil
}

// findTree is the index of the first tree with that id in ts (sorted by
// id), or -1.
func findTree(ts []*materials.ContentTree, id string, f *finger) int {
	i := f.search(len(ts), func(i int) bool { return ts[i].ID < id })
	if i < len(ts) && ts[i].ID == id {
		return i
	}
	return -1
}

// lastVolume is the last applied Blueprint's volume with key k, or nil.
func (p *planner) lastVolume(k materials.VolumeKey) *materials.Volume {
	return findVolume(p.lastVols, k, &p.lastVolFinger)
}

// lastTreeByID is the last applied Blueprint's tree with that id, or nil.
func (p *planner) lastTreeByID(id string) *materials.ContentTree {
	if i := findTree(p.lastTrees, id, nil); i >= 0 {
		return p.lastTrees[i]
	}
	return nil
}

// stateOf is the state of the desired tree with that id (the first, if
// the id is repeated), or nil.
func (p *planner) stateOf(id string) *treeState {
	if i := findTree(p.trees, id, nil); i >= 0 {
		return &p.stateArr[i]
	}
	return nil
}

// tree is the desired content tree with that id, or nil.
func (p *planner) tree(id string) *materials.ContentTree {
	if i := findTree(p.trees, id, nil); i >= 0 {
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
	byKey(out, func(l *materials.TagLatch) string { return l.ContentTree }, func(a, b *materials.TagLatch) int {
		if c := cmp.Compare(a.Generation, b.Generation); c != 0 {
			return c
		}
		return b.ResolvedAt.Compare(a.ResolvedAt)
	})
	return out
}

// latch is the most recent latch of a tree generation, or nil.
func (p *planner) latch(tree string, gen int64) *materials.TagLatch {
	ls := p.latchList
	i := p.latchFinger.search(len(ls), func(i int) bool {
		return ls[i].ContentTree < tree || ls[i].ContentTree == tree && ls[i].Generation < gen
	})
	if i < len(ls) && ls[i].ContentTree == tree && ls[i].Generation == gen {
		return ls[i]
	}
	return nil
}

// joinTrees finds, for each of n items that name a content tree (id(i)
// returns the id and whether item i names one), the index of the first
// desired tree with that id, or -1. The ids are radix-sorted and merged
// with the trees: linear, where a binary search per item costs log n
// cache misses once there are tens of thousands of trees.
func (p *planner) joinTrees(n int, id func(i int) (string, bool)) []int32 {
	out := make([]int32, n)
	items := make([]int32, 0, n) // the items that name a tree, and their ids
	ids := make([]string, 0, n)
	for i := range out {
		out[i] = -1
		if s, ok := id(i); ok {
			items = append(items, int32(i))
			ids = append(ids, s)
		}
	}
	j := 0
	for _, k := range radix.Order(len(ids), func(k int) string { return ids[k] }) {
		for j < len(p.trees) && p.trees[j].ID < ids[k] {
			j++
		}
		if j < len(p.trees) && p.trees[j].ID == ids[k] {
			out[items[k]] = p.firstTree[j]
		}
	}
	return out
}
