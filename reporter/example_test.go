package reporter_test

import (
	"os"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/reporter"
)

// Build reports what the controller would hear about a device: here a
// volume the config asks for and the disk does not hold yet.
func ExampleBuild() {
	bp := architect.Load([]byte(`{"volumes": [
  {"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11", "displayName": "scratch", "origin": {"type": "VCOT_BLANK"},
   "generationCount": "1", "maxsizebytes": "1048576"}]}`))
	rep := reporter.Build(reporter.Inputs{Blueprint: bp, Floorplan: &materials.Floorplan{Root: "/persist-root"}})
	rep.WriteTable(os.Stdout)
	// Output:
	// KIND    ID                  GEN  STATE    PROGRESS  USED/MAX   REFS
	// volume  scratch (7d1f0c2a)  1    INITIAL  0%        0B/1.0MiB  1
}
