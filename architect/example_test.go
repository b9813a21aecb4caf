package architect_test

import (
	"fmt"

	"github.com/edgewright/edgewright/architect"
)

// Load draws a Blueprint from a controller config in proto-JSON (or
// binary protobuf); problems are diagnostics, never a panic.
func ExampleLoad() {
	bp := architect.Load([]byte(`{"volumes": [
  {"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11", "displayName": "scratch",
   "origin": {"type": "VCOT_BLANK"}, "generationCount": "1", "maxsizebytes": "1048576"}]}`))
	for _, v := range bp.Volumes {
		fmt.Println(v.ID, v.Generation, v.DisplayName, v.Origin)
	}
	fmt.Println("valid:", bp.Valid())
	// Output:
	// 7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11 1 scratch blank
	// valid: true
}
