package inspector

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgewright/edgewright/materials"
)

const (
	uuidA = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	uuidB = "0b9a4bd4-6f7c-4d35-9a5e-3d0c8e2e5f10"
	shaA  = "a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
)

func TestParseVolumeName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		want   parsedName
		reason string // substring of the reason when the name is rejected
	}{
		{name: uuidA + "#1.qcow2", want: parsedName{id: uuidA, gen: 1, ext: "qcow2"}},
		{name: uuidA + "#0.raw", want: parsedName{id: uuidA, gen: 0, ext: "raw"}},
		{name: uuidA + "#12.container", want: parsedName{id: uuidA, gen: 12, ext: "container"}},
		{name: uuidA + "#3.qcow2.tmp", want: parsedName{id: uuidA, gen: 3, ext: "qcow2", temp: true}},
		{name: uuidA + "#3.tmp", reason: "no format extension"},
		{name: uuidA + "#1", reason: "no format extension"},
		{name: uuidA + "#1.exe", reason: "unknown format extension \"exe\""},
		{name: uuidA + ".raw", reason: "no '#<generation>'"},
		{name: "not-a-uuid#1.raw", reason: "is not a UUID"},
		{name: uuidA + "#01.raw", reason: "not a canonical"},
		{name: uuidA + "#-1.raw", reason: "not a canonical"},
		{name: uuidA + "#+1.raw", reason: "not a canonical"},
		{name: uuidA + "#x.raw", reason: "not a canonical"},
		{name: "noext", reason: "no format extension"},
		{name: strings.ToUpper(uuidA) + "#1.raw", reason: "is not lower case"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseVolumeName(tc.name)
			if tc.reason != "" {
				if !strings.Contains(got.reason, tc.reason) {
					t.Fatalf("reason %q, want it to contain %q", got.reason, tc.reason)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(parsedName{})); diff != "" {
				t.Fatalf("parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLegacyName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		want   *materials.LegacyName
		ext    string
		reason string
	}{
		{name: shaA + "-" + uuidB + ".qcow2", want: &materials.LegacyName{SHA256: shaA, App: uuidB}, ext: "qcow2"},
		{name: shaA + "-" + uuidB + "#2.raw", want: &materials.LegacyName{SHA256: shaA, App: uuidB, Purge: 2}, ext: "raw"},
		{name: shaA + "-" + uuidB + "#02.raw", reason: "purge counter"},
		{name: strings.ToUpper(shaA) + "-" + strings.ToUpper(uuidB) + "#3.raw", want: &materials.LegacyName{SHA256: shaA, App: uuidB, Purge: 3}, ext: "raw"},
		{name: shaA[:63] + "-" + uuidB + ".raw", reason: "does not start with <sha256>-"},
		{name: "z" + shaA[1:] + "-" + uuidB + ".raw", reason: "does not start with <sha256>-"},
		{name: shaA + "-nope.raw", reason: "does not start with"},
		{name: shaA + "-" + uuidB[:35] + "x.raw", reason: "is not a UUID"},
		{name: uuidA + "#1.raw", reason: "does not start with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseLegacyName(tc.name)
			if tc.reason != "" {
				if !strings.Contains(got.reason, tc.reason) {
					t.Fatalf("reason %q, want it to contain %q", got.reason, tc.reason)
				}
				return
			}
			if got.reason != "" || got.ext != tc.ext {
				t.Fatalf("got %+v", got)
			}
			if diff := cmp.Diff(tc.want, got.legacy); diff != "" {
				t.Fatalf("legacy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUntrusted(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  bool
	}{
		{uuidA + "#1.raw", false},
		{"..", true},
		{".", true},
		{"a..b", true},
		{"..hidden", true},
		{`back\slash`, true},
		{"line\nbreak", true},
		{"tab\tname", true},
		{"bad\xffutf8", true},
		{"plain.name", false},
	} {
		if got := untrusted(tc.name) != ""; got != tc.bad {
			t.Errorf("untrusted(%q) = %v, want %v", tc.name, got, tc.bad)
		}
	}
}

// TestSortDirents checks the radix sort against a plain comparison sort on
// names that share long prefixes, differ in length and in their high bit.
func TestSortDirents(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "#", ".", "0", "1", "ü", "\x7f", "aaaaaaaa", "aaaaaaaab"}
	for _, n := range []int{0, 1, 63, 64, 65, 500, 3000} {
		ents := make([]dirent, n)
		for i := range ents {
			var sb strings.Builder
			for range r.IntN(6) {
				sb.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			if sb.Len() == 0 {
				sb.WriteString("z")
			}
			ents[i] = dirent{name: sb.String(), path: "d/" + sb.String()}
		}
		want := slices.Clone(ents)
		slices.SortStableFunc(want, func(a, b dirent) int { return strings.Compare(a.name, b.name) })
		got := sortDirents(slices.Clone(ents))
		if len(got) != len(want) {
			t.Fatalf("n=%d: %d entries, want %d", n, len(got), len(want))
		}
		for i := range got {
			if got[i].name != want[i].name || got[i].path != want[i].path {
				t.Fatalf("n=%d: entry %d is %q, want %q", n, i, got[i].name, want[i].name)
			}
		}
	}
}
