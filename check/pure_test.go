package check

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPure: package check does no I/O and reads no clock of its own; its
// direct imports say so (time is imported for time.Time and Duration
// only, which a reader checks in a diff; os, io, net and syscall may not
// appear at all).
func TestPure(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH")
	}
	out, err := exec.Command(gobin, "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{"fmt": true, "sort": true, "strconv": true, "time": true,
		"github.com/edgewright/edgewright/materials": true,
		// layout names paths and labels lexically; it does no I/O.
		"github.com/edgewright/edgewright/layout": true,
		// remodel is the plan's vocabulary, pure itself.
		"github.com/edgewright/edgewright/remodel": true, "strings": true}
	for _, p := range strings.Fields(string(out)) {
		if !allowed[p] {
			t.Errorf("package check imports %s; it must stay pure (no I/O)", p)
		}
	}
}
