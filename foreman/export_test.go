package foreman

import "github.com/edgewright/edgewright/materials"

// What the transcripts (package foreman_test, so that they can drive the
// in-memory device, whose executor imports this package) need of the
// package's insides; test builds only.
var (
	CopyBlueprint = copyBlueprint
	CopyFloorplan = copyFloorplan
)

// Budget is the space disk admission may charge, and whether it is known.
func Budget(s materials.Space) (int64, bool) { return budget(s) }
