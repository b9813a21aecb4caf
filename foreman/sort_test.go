package foreman

import (
	"sort"

	"github.com/edgewright/edgewright/materials"
)

// The convergence property test runs the real executor over the
// in-memory device: assembler/sim's TestConvergence.

func sortFloorplan(fp *materials.Floorplan) {
	sort.Slice(fp.Volumes, func(i, j int) bool { return fp.Volumes[i].Path < fp.Volumes[j].Path })
	sort.Slice(fp.Blobs, func(i, j int) bool {
		if fp.Blobs[i].Digest != fp.Blobs[j].Digest {
			return fp.Blobs[i].Digest < fp.Blobs[j].Digest
		}
		return fp.Blobs[i].Store < fp.Blobs[j].Store
	})
}
