package device

import (
	"testing"

	"github.com/edgewright/edgewright/materials"
)

func TestResumeFrom(t *testing.T) {
	for _, tc := range []struct {
		name       string
		max        uint64 // the content tree's maxSizeBytes
		blob, free int64
		held, size int64 // size -1: the source's size is not known
		want       int64
	}{
		{"nothing held", 100, 0, 0, 0, -1, 0},
		{"nothing bounds it, size unknown", 0, 0, 0, 5000, -1, 5000},
		{"within maxSizeBytes", 100, 0, 0, 60, -1, 60},
		{"as long as maxSizeBytes", 100, 0, 0, 100, -1, 100},
		{"past maxSizeBytes: not its prefix", 100, 0, 0, 101, -1, 0},
		{"past the descriptor size", 0, 80, 0, 81, -1, 0},
		{"free space bounds the body, not the partial", 0, 0, 10, 500, -1, 500},
		{"as long as the source", 0, 0, 0, 70, 70, 70},
		{"past the source's size", 0, 0, 0, 71, 70, 0},
		{"past an empty source", 0, 0, 0, 1, 0, 0},
		{"within both", 100, 0, 0, 50, 70, 50},
		{"within the source, past maxSizeBytes", 100, 0, 0, 150, 200, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := FetchRequest{ContentTree: materials.ContentTree{MaxSizeBytes: tc.max}, Blob: materials.Blob{Size: tc.blob}, FreeBytes: tc.free}
			if got := req.ResumeFrom(tc.held, tc.size); got != tc.want {
				t.Errorf("ResumeFrom(%d, %d) = %d, want %d", tc.held, tc.size, got, tc.want)
			}
		})
	}
}
