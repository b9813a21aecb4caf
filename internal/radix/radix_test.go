package radix

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestOrder checks Order against a stable comparison sort on keys built to
// stress it: long shared prefixes, NUL bytes, keys that end inside a
// window, duplicates, high bytes, and sizes around the small-run cut-off.
func TestOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	parts := []string{"", "a", "b", "\x00", "\xff", "sha256:", "0000000", "vol-0000", "#1", "#10", "#2", "ü"}
	gen := map[string]func(i int) string{
		"random": func(int) string {
			var b strings.Builder
			for range r.IntN(6) {
				b.WriteString(parts[r.IntN(len(parts))])
			}
			return b.String()
		},
		"digests": func(i int) string { return fmt.Sprintf("download:blob/sha256:%x%09d%02d", 'l', r.IntN(500), r.IntN(3)) },
		"uuids": func(int) string {
			return fmt.Sprintf("%08x-0000-4000-8000-%012x#%d", r.Uint32(), r.Uint64()>>16, r.IntN(12))
		},
		"same": func(int) string { return "create:volume/the-same-key" },
	}

	for name, g := range gen {
		for _, n := range []int{0, 1, 2, smallRun - 1, smallRun, smallRun + 1, 300, 5000} {
			keys := make([]string, n)
			for i := range keys {
				keys[i] = g(i)
			}
			want := make([]int32, n)
			for i := range want {
				want[i] = int32(i)
			}
			slices.SortStableFunc(want, func(a, b int32) int { return strings.Compare(keys[a], keys[b]) })
			got := Order(n, func(i int) string { return keys[i] })
			if !slices.Equal(got, want) {
				for k := range got {
					if got[k] != want[k] {
						t.Fatalf("%s n=%d: position %d holds %d (%q), want %d (%q)", name, n, k, got[k], keys[got[k]], want[k], keys[want[k]])
					}
				}
			}
			sortedKeys := make([]string, n)
			for k, i := range got {
				sortedKeys[k] = keys[i]
			}
			if !Sorted(n, func(i int) string { return sortedKeys[i] }) || Sorted(n, func(i int) string { return keys[i] }) != slices.IsSorted(keys) {
				t.Fatalf("%s n=%d: Sorted disagrees", name, n)
			}
		}
	}
}

// TestOrderRuns checks the merge of inputs made of a few sorted runs
// (one more than maxRuns goes to the radix sort): duplicates within and
// across runs, empty-string keys, runs of one key.
func TestOrderRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for trial := range 200 {
		k := 1 + trial%(maxRuns+1)
		var keys []string
		for range k {
			run := make([]string, 1+r.IntN(60))
			for i := range run {
				run[i] = strings.Repeat("v", r.IntN(3)) + fmt.Sprint(r.IntN(40))
			}
			slices.Sort(run)
			keys = append(keys, run...)
		}
		runs := 1 // a run that happens to continue the last one's order joins it
		for i := 1; i < len(keys); i++ {
			if keys[i] < keys[i-1] {
				runs++
			}
		}
		found := ascendingRuns(len(keys), func(i int) string { return keys[i] })
		if runs <= maxRuns && len(found) != runs+1 || runs > maxRuns && found != nil {
			t.Fatalf("trial %d: runs found %v, want %d", trial, found, runs)
		}
		want := make([]int32, len(keys))
		for i := range want {
			want[i] = int32(i)
		}
		slices.SortStableFunc(want, func(a, b int32) int { return strings.Compare(keys[a], keys[b]) })
		if got := Order(len(keys), func(i int) string { return keys[i] }); !slices.Equal(got, want) {
			t.Fatalf("trial %d (%d runs): got %v, want %v for %q", trial, k, got, want, keys)
		}
	}
}

func BenchmarkOrder(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{3000, 30000} {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("download:blob/sha256:%016x%016x", r.Uint64(), r.Uint64())
		}
		b.Run(fmt.Sprint("radix/n=", n), func(b *testing.B) {
			for b.Loop() {
				Order(n, func(i int) string { return keys[i] })
			}
		})
		b.Run(fmt.Sprint("compare/n=", n), func(b *testing.B) {
			idx := make([]int32, n)
			for b.Loop() {
				for i := range idx {
					idx[i] = int32(i)
				}
				slices.SortStableFunc(idx, func(a, c int32) int { return strings.Compare(keys[a], keys[c]) })
			}
		})
	}
}
