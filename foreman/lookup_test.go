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
