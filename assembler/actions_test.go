package assembler

import (
	"testing"

	"github.com/edgewright/edgewright/remodel"
)

// TestEveryActionHasWork: an action added to remodel's table without an
// executor here would fail at run time, on a device; fail here instead.
func TestEveryActionHasWork(t *testing.T) {
	for _, a := range remodel.Actions {
		j, ok := work[a]
		if !ok || j.do == nil {
			t.Errorf("action %s has no executor in the assembler's work table", a)
			continue
		}
		if f, _ := a.Facts(); j.payload != f.PayloadType() {
			t.Errorf("action %s: its work takes %v, its row in remodel's table declares %v", a, j.payload, f.PayloadType())
		}
	}
	if len(work) != len(remodel.Actions) {
		t.Errorf("work table has %d actions, remodel declares %d", len(work), len(remodel.Actions))
	}
}
