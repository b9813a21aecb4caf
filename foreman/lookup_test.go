package foreman

import (
	"math/rand/v2"
	"sort"
	"testing"
)

// TestFingerSearch checks the galloping search against sort.Search for
// keys asked in order, out of order, repeated, and beyond either end.
func TestFingerSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 3, 7, 100, 1000} {
		xs := make([]int, n)
		for i := range xs {
			xs[i] = r.IntN(n*2 + 1)
		}
		sort.Ints(xs)
		var f finger
		queries := make([]int, 3*n+5)
		for i := range queries {
			queries[i] = r.IntN(n*2+3) - 1
		}
		sort.Ints(queries[:len(queries)/2]) // half in order, then random
		for _, q := range queries {
			want := sort.Search(n, func(i int) bool { return xs[i] >= q })
			got := f.search(n, func(i int) bool { return xs[i] < q })
			if got != want {
				t.Fatalf("n=%d: search for %d gave %d, want %d (xs=%v)", n, q, got, want, xs)
			}
		}
	}
}

// TestSortedPtrs checks sortedPtrs against a stable sort for input that
// is sorted, made of two to four ascending runs (merged by galloping), of
// more runs (radix-sorted), with repeated ids whose order must hold.
func TestSortedPtrs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	type rec struct {
		id  string
		gen int64
		at  int // input position, for stability
	}
	cmpRec := func(a, b *rec) int {
		if a.id != b.id {
			if a.id < b.id {
				return -1
			}
			return 1
		}
		switch {
		case a.gen < b.gen:
			return -1
		case a.gen > b.gen:
			return 1
		}
		return 0
	}
	for trial := 0; trial < 3000; trial++ {
		n := r.IntN(60)
		runs := 1 + r.IntN(7)
		xs := make([]rec, 0, n)
		for k := 0; k < runs; k++ {
			m := n / runs
			run := make([]rec, m)
			for i := range run {
				run[i] = rec{id: string(rune('a' + r.IntN(6))), gen: int64(r.IntN(3))}
			}
			sort.SliceStable(run, func(i, j int) bool { return cmpRec(&run[i], &run[j]) < 0 })
			xs = append(xs, run...)
		}
		for i := range xs {
			xs[i].at = i
		}
		want := make([]rec, len(xs))
		copy(want, xs)
		sort.SliceStable(want, func(i, j int) bool { return cmpRec(&want[i], &want[j]) < 0 })
		got := sortedPtrs(xs, func(x *rec) string { return x.id }, func(a, b *rec) int { return cmpRec(a, b) })
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d elements, want %d", trial, len(got), len(want))
		}
		for i := range want {
			if *got[i] != want[i] {
				t.Fatalf("trial %d (%d runs of %d): position %d is %+v, want %+v", trial, runs, n/max(runs, 1), i, *got[i], want[i])
			}
		}
	}
}
