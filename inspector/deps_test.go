package inspector

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestNoDaemonDependencies: package inspector surveys files. containerd's
// gRPC API belongs to inspector/ctrsurvey; imported here, gRPC's and
// protobuf's package init would cost every survey-only program its
// start-up time (about 1.3 ms).
func TestNoDaemonDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH")
	}
	// One line a package: its path, then what it imports. -deps lists the
	// named package last.
	cmd := exec.Command(gobin, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, ".")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list -deps: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -deps: %v", err)
	}
	imports := map[string][]string{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		imports[f[0]] = f[1:]
		order = append(order, f[0])
	}
	if len(order) < 2 {
		t.Fatalf("go list -deps listed %d packages:\n%s", len(order), out)
	}
	root := order[len(order)-1]
	if !strings.HasSuffix(root, "/inspector") {
		t.Fatalf("go list -deps listed %s last, want the inspector package", root)
	}
	forbidden := func(p string) bool {
		return strings.Contains(p, "grpc") || strings.Contains(p, "google.golang.org/protobuf") ||
			strings.Contains(p, "containerd")
	}
	var bad []string
	for _, p := range order {
		if forbidden(p) {
			bad = append(bad, p)
		}
	}
	// The first few chains say where to cut; the rest follow from them.
	const shown = 10
	for _, p := range bad[:min(len(bad), shown)] {
		t.Errorf("%s depends on %s: %s", root, p, strings.Join(importChain(imports, root, p), " -> "))
	}
	if len(bad) > shown {
		t.Errorf("and %d more: %s", len(bad)-shown, strings.Join(bad[shown:], " "))
	}
}

// importChain is a shortest chain of imports from one package to another
// (breadth first), for a failure message that says where to cut.
func importChain(imports map[string][]string, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append([]string{p}, chain...)
			}
			return chain
		}
		for _, q := range imports[p] {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return []string{from, "?", to}
}
