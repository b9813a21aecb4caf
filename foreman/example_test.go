package foreman_test

import (
	"fmt"
	"time"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
)

// Plan diffs a Blueprint against a Floorplan: here an empty device, on
// which the blank volume is to be created. It changes nothing.
func ExamplePlan() {
	bp := architect.Load([]byte(`{"volumes": [
  {"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11", "origin": {"type": "VCOT_BLANK"},
   "generationCount": "1", "maxsizebytes": "1048576"}]}`))
	fp := &materials.Floorplan{Root: "/persist-root"}
	p := foreman.Plan(bp, fp, foreman.Options{Now: time.Unix(0, 0)})
	fmt.Println(p.Summary.Text)
	for _, r := range p.Remodels {
		fmt.Println(r.Action, r.Target)
	}
	// Output:
	// Plan: 1 to create.
	// create volume 7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11#1
}
