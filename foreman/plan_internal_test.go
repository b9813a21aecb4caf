package foreman

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// The blob index finds every record of every digest: random and
// structured digests, odd ones, two stores, any input order.
func TestBlobIndex(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	recs := []materials.BlobRecord{
		{Digest: "md5:odd", Store: materials.BlobStoreDir},
		{Digest: dg("ab"), Store: materials.BlobStoreContainerd},
	}
	for i := 0; i < 3000; i++ {
		recs = append(recs, materials.BlobRecord{Digest: hexOf(r), Store: materials.BlobStoreDir})
		// Structured digests share long prefixes; they must spread too.
		recs = append(recs, materials.BlobRecord{Digest: digest.Digest("sha256:" + strings.Repeat("0", 56) + string(rune('a'+i%6)) + strings.Repeat("1", 7-len(itoa(int64(i)))) + itoa(int64(i))), Store: materials.BlobStoreDir})
	}
	recs = append(recs, materials.BlobRecord{Digest: dg("ab"), Store: materials.BlobStoreDir})
	// Near misses of a sha256 digest (upper case, one digit short, a bad
	// digit): each is found as itself only.
	recs = append(recs, materials.BlobRecord{Digest: digest.Digest("sha256:" + strings.ToUpper(hex64("ab")))}, materials.BlobRecord{Digest: digest.Digest(strings.ToUpper(string(dg("ab"))))},
		materials.BlobRecord{Digest: dg("ab")[:70]}, materials.BlobRecord{Digest: dg("ab")[:70] + "g"})
	for name, in := range map[string][]materials.BlobRecord{"mixed": recs, "empty": nil, "one": recs[:1]} {
		x := newBlobIndex(in)
		want := map[digest.Digest]int{}
		for _, b := range in {
			want[b.Digest]++
		}
		longest := 0
		for d, n := range want {
			lo, hi, h := x.bucketOf(d)
			found := 0
			for q := lo; q < hi; q++ {
				if x.match(q, d, h) >= 0 {
					found++
				}
			}
			if found != n {
				t.Fatalf("%s: %s: %d records found, want %d", name, d, found, n)
			}
			if hi-lo > longest {
				longest = hi - lo
			}
		}
		if longest > 24 {
			t.Errorf("%s: a bucket holds %d records; the hash does not spread", name, longest)
		}
		if lo, hi, h := x.bucketOf(dg("cd")); lo != hi && x.match(lo, dg("cd"), h) >= 0 {
			t.Errorf("%s: found a digest never entered", name)
		}
	}
}

func TestImageTree(t *testing.T) {
	bp := &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{{ID: "a"}, {ID: "ct-1"}, {ID: "ct-1", URL: "repeated"}, {ID: "0c0c0c0c-0000-4000-8000-000000000001"}}}
	fp := &materials.Floorplan{Journal: &materials.JournalState{LastApplied: &materials.Blueprint{ContentTrees: []materials.ContentTree{{ID: "a-b"}, {ID: "old-tree"}}}}}
	p := newPlanner(bp, fp, Options{})
	tests := []struct{ name, want string }{
		{"a-b-library/x:1", "a-b"}, // the longest known id, from either Blueprint
		{"a-c-library/x:1", "a"},
		{"ct-1-apps/ct-1:1.0", "ct-1"},
		{"old-tree-repo/y:2", "old-tree"},
		{"0c0c0c0c-0000-4000-8000-000000000001-library/redis:7", "0c0c0c0c-0000-4000-8000-000000000001"},
		{"1d1d1d1d-0000-4000-8000-000000000002-library/redis:7", "1d1d1d1d-0000-4000-8000-000000000002"}, // unknown uuid
		{"zz-url", "zz"},
		{"nodash", "nodash"},
	}
	for _, tc := range tests {
		got, at := p.imageTree(tc.name)
		if got != tc.want {
			t.Errorf("imageTree(%q) = %q, want %q", tc.name, got, tc.want)
		}
		// The index, when given, is the first desired tree of that id.
		if want := findTree(p.treeIDs, got, nil); at >= 0 && at != want {
			t.Errorf("imageTree(%q) gives tree %d, want %d", tc.name, at, want)
		}
	}
}
