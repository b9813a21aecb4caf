package foreman

import (
	"testing"

	"github.com/edgewright/edgewright/materials"
)

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
		if got := p.facts.imageTree(tc.name); got != tc.want {
			t.Errorf("imageTree(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
