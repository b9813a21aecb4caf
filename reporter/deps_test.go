package reporter

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoGRPCDependencies: the reporter builds messages, and the foreman
// and architect are pure; none of them may pull in gRPC or containerd
// (through the executor's event types, as the reporter once did), so a
// simulator or a controller-side tool links only what it uses.
func TestNoGRPCDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".", "../foreman", "../architect").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "google.golang.org/grpc") || strings.Contains(p, "github.com/containerd/") ||
			strings.HasSuffix(p, "edgewright/assembler") {
			t.Errorf("reporter, foreman or architect depends on %s", p)
		}
	}
}

// TestSimulatorLinksNoDaemon: a fleet simulator imports the executor and
// the in-memory device; neither may pull in containerd's client or gRPC
// (the containerd crafts live in assembler/crafts/containerd).
func TestSimulatorLinksNoDaemon(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "../assembler", "../assembler/sim").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "google.golang.org/grpc") || strings.Contains(p, "github.com/containerd/containerd") {
			t.Errorf("the executor or the in-memory device depends on %s", p)
		}
	}
}
