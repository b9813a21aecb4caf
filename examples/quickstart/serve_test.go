package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
)

// TestServeThenWrightByHand does what the README's "By hand" tells a user:
// serve the quickstart's content, then run the real wright binary on the
// config it wrote. The apply converges with every volume on disk, a
// second apply and a plan find nothing to do, and the next config purges
// and drops as it says.
func TestServeThenWrightByHand(t *testing.T) {
	testenv.QemuImg(t)
	wright := filepath.Join(t.TempDir(), "wright")
	if out, err := exec.Command("go", "build", "-o", wright, "github.com/edgewright/edgewright/examples/wright").CombinedOutput(); err != nil {
		t.Fatalf("go build wright: %v\n%s", err, out)
	}

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	var banner bytes.Buffer
	go func() {
		done <- serve(ctx, serveOptions{dir: dir, ready: func(string) { close(ready) }}, &banner)
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, banner.String())
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve after cancel: %v", err)
		}
	}()
	cfg, next, root := filepath.Join(dir, "config.json"), filepath.Join(dir, "config-next.json"), filepath.Join(dir, "root")
	// The commands serve prints are the README's "By hand" lines, with
	// DIR for the directory.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		line, _, _ = strings.Cut(line, "#")
		documented[strings.TrimSpace(line)] = true
	}
	printed := 0
	for _, line := range strings.Split(banner.String(), "\n") {
		cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "go run ./examples/wright ")
		if !ok {
			continue
		}
		printed++
		if doc := "go run ./examples/wright " + strings.ReplaceAll(cmd, dir, "DIR"); !documented[doc] {
			t.Errorf("README.md lacks the command serve prints: %q", doc)
		}
	}
	if !strings.Contains(banner.String(), "go run ./examples/wright apply  --config "+cfg+" --root "+root) || printed != 4 {
		t.Errorf("serve printed %d wright commands, want plan, apply, status and apply of config-next on %s:\n%s", printed, cfg, banner.String())
	}

	wrightRun := func(args ...string) (string, int) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(wright, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("wright %v: %v", args, err)
		}
		if code != 0 {
			t.Logf("wright %v exited %d; stderr:\n%s", args, code, stderr.String())
		}
		return stdout.String(), code
	}
	volumes := func() []string {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(root, "persist/vault/volumes"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	planCount := func(cfg string) int {
		t.Helper()
		out, code := wrightRun("plan", "--config", cfg, "--root", root, "--json")
		if code != 0 {
			t.Fatalf("wright plan exited %d:\n%s", code, out)
		}
		var p struct {
			Remodels []json.RawMessage `json:"remodels"`
			Held     []json.RawMessage `json:"held"`
		}
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("plan JSON: %v\n%s", err, out)
		}
		return len(p.Remodels) + len(p.Held)
	}

	if n := planCount(cfg); n == 0 {
		t.Fatal("the first plan on an empty root plans nothing")
	}
	if out, code := wrightRun("apply", "--config", cfg, "--root", root); code != 0 || !strings.Contains(out, "converged") {
		t.Fatalf("wright apply exited %d:\n%s", code, out)
	}
	want := []string{volRoot + "#1.raw", volData + "#1.qcow2", volAppFS + "#1.container", volScratch + "#1.qcow2"}
	if got := volumes(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("volumes after apply %v, want %v", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(root, "persist/vault/volumes", volAppFS+"#1.container", "etc/motd")); err != nil || string(b) != "hello from edgewright\n" {
		t.Errorf("container volume etc/motd: %q, %v", b, err)
	}
	if n := planCount(cfg); n != 0 {
		t.Errorf("plan after apply: %d remodels, want none", n)
	}
	out, code := wrightRun("apply", "--config", cfg, "--root", root, "--json")
	if code != 0 {
		t.Fatalf("second wright apply exited %d:\n%s", code, out)
	}
	var res struct {
		Converged bool              `json:"converged"`
		Reports   []json.RawMessage `json:"reports"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Converged || len(res.Reports) != 0 {
		t.Errorf("second apply: converged %v with %d reports (%v), want converged with nothing applied:\n%s", res.Converged, len(res.Reports), err, out)
	}

	if out, code := wrightRun("apply", "--config", next, "--root", root); code != 0 {
		t.Fatalf("wright apply of config-next exited %d:\n%s", code, out)
	}
	want = []string{volRoot + "#1.raw", volData + "#2.qcow2", volAppFS + "#1.container"}
	if got := volumes(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("volumes after config-next %v, want %v", got, want)
	}
}
