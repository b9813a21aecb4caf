package radix

import (
	"encoding/binary"
	"slices"
	"strings"
)

// smallRun is the length below which a run is finished by a comparison
// sort: fewer elements than a radix pass has buckets.
const smallRun = 48

// Order returns the permutation that sorts n keys in byte order (as
// strings.Compare), stable: out[k] is the index of the k-th smallest key,
// equal keys in index order. key is called O(n) times plus a few times per
// element of a run that shares a long prefix.
func Order(n int, key func(i int) string) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	if n < 2 {
		return out
	}
	// Input that arrives sorted (a Blueprint's volumes, a journal's
	// records), or as a few sorted runs (a sorted list with records
	// appended), is merged in one sequential pass; a radix sort would
	// read every key again per pass in permuted order, a cache miss per
	// key once the input outgrows the cache. Finding the runs stops at
	// the first few inversions of unordered input.
	if runs := ascendingRuns(n, key); runs != nil {
		if len(runs) > 2 {
			mergeRuns(out, runs, key)
		}
		return out
	}
	s := sorter{key: key, keys: make([]entry, n), tmp: make([]entry, n)}
	s.sort(out)
	return out
}

// maxRuns is the most ascending runs Order merges rather than sorts: a
// merge compares each key with the other runs' heads.
const maxRuns = 4

// ascendingRuns returns the starts of the input's maximal ascending runs
// and n, or nil when there are more than maxRuns.
func ascendingRuns(n int, key func(i int) string) []int {
	runs := []int{0}
	prev := key(0)
	for i := 1; i < n; i++ {
		k := key(i)
		if k < prev {
			if len(runs) == maxRuns {
				return nil
			}
			runs = append(runs, i)
		}
		prev = k
	}
	return append(runs, n)
}

// mergeRuns writes into out the stable merge of the ascending runs
// [runs[r], runs[r+1]): each step takes the smallest head, the earliest
// run on ties, so equal keys keep their input order.
func mergeRuns(out []int32, runs []int, key func(i int) string) {
	k := len(runs) - 1
	var (
		pos, end [maxRuns]int
		head     [maxRuns]string
	)
	for r := range k {
		pos[r], end[r] = runs[r], runs[r+1]
		head[r] = key(pos[r])
	}
	for o := range out {
		best := -1
		for r := range k {
			if pos[r] < end[r] && (best < 0 || head[r] < head[best]) {
				best = r
			}
		}
		out[o] = int32(pos[best])
		pos[best]++
		if pos[best] < end[best] {
			head[best] = key(pos[best])
		}
	}
}

// Sorted reports whether the n keys are already in order (the common case
// for a Blueprint or Floorplan, which arrive sorted): n-1 comparisons.
func Sorted(n int, key func(i int) string) bool {
	for i := 1; i < n; i++ {
		if key(i) < key(i-1) {
			return false
		}
	}
	return true
}

type entry struct {
	window uint64
	i      int32
}

type sorter struct {
	key       func(i int) string
	keys, tmp []entry
}

// sort orders idx (a run of indexes) by key, stably, in place.
func (s *sorter) sort(idx []int32) {
	if len(idx) < smallRun {
		slices.SortStableFunc(idx, func(a, b int32) int { return strings.Compare(s.key(int(a)), s.key(int(b))) })
		return
	}
	// The run's common prefix decides nothing: skip it.
	first := s.key(int(idx[0]))
	lcp := len(first)
	for _, i := range idx[1:] {
		k := s.key(int(i))
		lcp = min(lcp, len(k))
		for j := 0; j < lcp; j++ {
			if k[j] != first[j] {
				lcp = j
				break
			}
		}
		if lcp == 0 {
			break
		}
	}
	keys, tmp := s.keys[:len(idx)], s.tmp[:len(idx)]
	for j, i := range idx {
		keys[j] = entry{window: window(s.key(int(i)), lcp), i: i}
	}
	sorted := lsd(keys, tmp)
	for j := range sorted {
		idx[j] = sorted[j].i
	}
	// Runs that share the window are sorted on what follows it. keys/tmp
	// are reused by the recursion, so the runs are found first.
	var runs [][2]int
	for lo := 0; lo < len(sorted); {
		hi := lo + 1
		for hi < len(sorted) && sorted[hi].window == sorted[lo].window {
			hi++
		}
		if hi-lo > 1 {
			runs = append(runs, [2]int{lo, hi})
		}
		lo = hi
	}
	for _, r := range runs {
		run := idx[r[0]:r[1]]
		short := false // a key that ends inside the window (zero-padded)
		for _, i := range run {
			if len(s.key(int(i))) <= lcp+8 {
				short = true
				break
			}
		}
		if short {
			// Padding hides trailing NULs and lengths: compare in full
			// (rare). Otherwise every key of the run is longer than the
			// window, so the recursion's prefix is at least 8 bytes
			// longer and it ends.
			slices.SortStableFunc(run, func(a, b int32) int { return strings.Compare(s.key(int(a)), s.key(int(b))) })
			continue
		}
		s.sort(run)
	}
}

// window is the 8 bytes of k from off, big-endian, zero-padded.
func window(k string, off int) uint64 {
	var b [8]byte
	if off < len(k) {
		copy(b[:], k[off:])
	}
	return binary.BigEndian.Uint64(b[:])
}

// lsd sorts a by window, stably, least significant byte first, using tmp
// as the other buffer, and returns whichever holds the result. A byte
// that is the same in every window costs one counting pass.
func lsd(a, tmp []entry) []entry {
	for shift := 0; shift < 64; shift += 8 {
		var count [257]int
		for _, x := range a {
			count[(x.window>>shift)&0xff+1]++
		}
		if count[(a[0].window>>shift)&0xff+1] == len(a) {
			continue
		}
		for d := 1; d < len(count); d++ {
			count[d] += count[d-1]
		}
		for _, x := range a {
			d := (x.window >> shift) & 0xff
			tmp[count[d]] = x
			count[d]++
		}
		a, tmp = tmp, a
	}
	return a
}
