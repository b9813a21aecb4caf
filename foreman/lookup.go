package foreman

import (
	"cmp"
	"slices"
	"sort"
	"strings"

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
	return sortedPtrs(vs, volumeID, byGeneration)
}

// sortedTrees returns pointers to ts ordered by id, stable.
func sortedTrees(ts []materials.ContentTree) []*materials.ContentTree {
	return sortedPtrs(ts, treeID, nil)
}

func treeID(t *materials.ContentTree) string { return t.ID }

// maxMergeRuns is how many ascending runs sortedPtrs merges rather than
// sorting: a sorted list with a few batches of records appended.
const maxMergeRuns = 4

// sortedPtrs returns pointers to xs ordered by id and then by tie (nil:
// ids alone), stable. The input usually arrives sorted, or as a
// few sorted runs (a sorted list with records appended): one pass of
// compares finds the runs, and they are merged by galloping, so the long
// run's elements are copied in blocks without being compared (or read)
// again. Once the input outgrows the cache every extra pass over it is a
// cache miss per element. Anything else is radix-sorted by id.
func sortedPtrs[T any](xs []T, id func(*T) string, tie func(a, b *T) int) []*T {
	compare := func(a, b *T) int {
		if c := strings.Compare(id(a), id(b)); c != 0 || tie == nil {
			return c
		}
		return tie(a, b)
	}
	out := make([]*T, len(xs))
	var starts [maxMergeRuns + 1]int
	runs := 1
	for i := range xs {
		out[i] = &xs[i]
		if i > 0 && runs <= maxMergeRuns && compare(&xs[i-1], &xs[i]) > 0 {
			starts[runs] = i // runs <= maxMergeRuns < len(starts)
			runs++
		}
	}
	switch {
	case runs == 1:
		return out
	case runs > maxMergeRuns:
		byKey(out, id, tie)
		return out
	}
	// Merge run after run into what is merged so far.
	merged := out[:starts[1]]
	for r := 1; r < runs; r++ {
		end := len(out)
		if r+1 < runs {
			end = starts[r+1]
		}
		merged = gallopMerge(make([]*T, 0, end), merged, out[starts[r]:end], compare)
	}
	return merged
}

// gallopMerge appends to dst the stable merge of a and b (both sorted by
// cmp; a's elements first on ties). Each side's next stretch is found by
// exponential then binary search, and copied whole.
func gallopMerge[T any](dst, a, b []*T, cmp func(x, y *T) int) []*T {
	for len(a) > 0 && len(b) > 0 {
		// a's elements up to b[0] (ties included) go first.
		k := gallop(len(a), func(i int) bool { return cmp(a[i], b[0]) <= 0 })
		dst, a = append(dst, a[:k]...), a[k:]
		if len(a) == 0 {
			break
		}
		// Then b's elements below a[0] (ties stay behind a's).
		k = gallop(len(b), func(i int) bool { return cmp(b[i], a[0]) < 0 })
		dst, b = append(dst, b[:k]...), b[k:]
	}
	dst = append(dst, a...)
	return append(dst, b...)
}

// gallop returns the length of the prefix of [0, n) for which in holds
// (in must hold for a prefix and not after it), probing 0, 1, 3, 7, ...
// and then searching binary within the last step.
func gallop(n int, in func(i int) bool) int {
	lo, hi := 0, n
	for step := 1; ; step *= 2 {
		probe := lo + step - 1
		if probe >= n {
			break
		}
		if !in(probe) {
			hi = probe
			break
		}
		lo = probe + 1
	}
	return lo + sort.Search(hi-lo, func(j int) bool { return !in(lo + j) })
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
	// Every i < lo has less(i): gallop forward from lo.
	f.at = lo + gallop(n-lo, func(j int) bool { return less(lo + j) })
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

// findTree is the index of the first tree with that id in ids (the
// trees' ids, sorted), or -1.
func findTree(ids []string, id string, f *finger) int {
	i := f.search(len(ids), func(i int) bool { return ids[i] < id })
	if i < len(ids) && ids[i] == id {
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
	if i := findTree(p.lastTreeIDs, id, nil); i >= 0 {
		return p.lastTrees[i]
	}
	return nil
}

// stateOf is the state of the desired tree with that id (the first, if
// the id is repeated), or nil.
func (p *planner) stateOf(id string) *treeState {
	if i := findTree(p.treeIDs, id, nil); i >= 0 {
		return &p.stateArr[i]
	}
	return nil
}

// tree is the desired content tree with that id, or nil.
func (p *planner) tree(id string) *materials.ContentTree {
	if i := findTree(p.treeIDs, id, nil); i >= 0 {
		return p.trees[i]
	}
	return nil
}

// sortLatches orders latches by (tree, generation), the most recent
// first within one.
func sortLatches(ls []materials.TagLatch) []*materials.TagLatch {
	return sortedPtrs(ls, latchTree, byLatchAge)
}

func latchTree(l *materials.TagLatch) string { return l.ContentTree }

// byLatchAge orders the latches of one tree by generation, the most
// recent first within one.
func byLatchAge(a, b *materials.TagLatch) int {
	if c := cmp.Compare(a.Generation, b.Generation); c != 0 {
		return c
	}
	return b.ResolvedAt.Compare(a.ResolvedAt)
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
		for j < len(p.treeIDs) && p.treeIDs[j] < ids[k] {
			j++
		}
		if j < len(p.treeIDs) && p.treeIDs[j] == ids[k] {
			out[items[k]] = p.firstTree[j]
		}
	}
	return out
}
