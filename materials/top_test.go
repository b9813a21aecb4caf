package materials

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestTopDigest(t *testing.T) {
	hexA, hexB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	latch := func(url string) *TagLatch {
		return &TagLatch{ContentTree: "ct", Generation: 1, URL: url, Digest: digest.Digest("sha256:" + hexB)}
	}
	for _, tc := range []struct {
		name  string
		tree  ContentTree
		oci   bool
		latch *TagLatch
		want  digest.Digest
	}{
		{"configured sha256", ContentTree{ID: "ct", SHA256: hexA}, false, nil, digest.Digest("sha256:" + hexA)},
		{"configured sha256 wins over a latch", ContentTree{ID: "ct", Generation: 1, URL: "r:1", SHA256: hexA}, true, latch("r:1"), digest.Digest("sha256:" + hexA)},
		{"bad configured sha256", ContentTree{ID: "ct", SHA256: strings.ToUpper(hexA)}, false, nil, ""},
		{"pinned URL", ContentTree{ID: "ct", URL: "r@sha256:" + hexA}, true, nil, digest.Digest("sha256:" + hexA)},
		{"pinned URL of a non-OCI tree", ContentTree{ID: "ct", URL: "r@sha256:" + hexA}, false, nil, ""},
		{"latch for this URL", ContentTree{ID: "ct", Generation: 1, URL: "r:1"}, true, latch("r:1"), digest.Digest("sha256:" + hexB)},
		{"latch for another URL", ContentTree{ID: "ct", Generation: 1, URL: "r:2"}, true, latch("r:1"), ""},
		{"latch for another generation", ContentTree{ID: "ct", Generation: 2, URL: "r:1"}, true, latch("r:1"), ""},
		{"no latch", ContentTree{ID: "ct", Generation: 1, URL: "r:1"}, true, nil, ""},
	} {
		if got := TopDigest(&tc.tree, tc.oci, tc.latch); got != tc.want {
			t.Errorf("%s: TopDigest = %q, want %q", tc.name, got, tc.want)
		}
	}
}
