package reporter

import (
	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// overlayRefs counts, per blob, the volume files on disk that read
// through it: a qcow2 overlay whose backing chain (as the survey
// followed it) names the blob, once per file however deep in its chain.
// Such a blob is referenced by the volume as surely as by the content
// tree it was fetched for (the foreman keeps it for the same reason), so
// its ZInfoBlob's refCount counts each. A link whose file is missing
// reads nothing and counts nothing; `.tmp` work is not a volume yet.
func overlayRefs(fp *materials.Floorplan) map[digest.Digest]uint32 {
	refs := map[digest.Digest]uint32{}
	if fp == nil {
		return refs
	}
	for i := range fp.Volumes {
		f := &fp.Volumes[i]
		if f.Temp || f.State == materials.StateUnknown {
			continue
		}
		seen := map[digest.Digest]bool{}
		for _, l := range f.Backing {
			if l.Blob != "" && !l.Missing && !seen[l.Blob] {
				seen[l.Blob] = true
				refs[l.Blob]++
			}
		}
	}
	return refs
}
