package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
)

// TestSurveyCommand runs `wright survey` on a root holding a real qcow2
// and a .tmp, and checks the JSON keys the issue promises.
func TestSurveyCommand(t *testing.T) {
	root := t.TempDir()
	vols := filepath.Join(root, "persist/vault/volumes")
	if err := os.MkdirAll(vols, 0o755); err != nil {
		t.Fatal(err)
	}
	qemu := testenv.QemuImg(t)
	if out, err := exec.Command(qemu, "create", "-q", "-f", "qcow2",
		filepath.Join(vols, "6ba7b810-9dad-11d1-80b4-00c04fd430c8#2.qcow2"), "1G").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(vols, "6ba7b810-9dad-11d1-80b4-00c04fd430c8#3.raw.tmp"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctrd := testenv.StartContainerd(t)

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{name: "disk only", args: []string{"--root", root}},
		{name: "with containerd", args: []string{"--root", root, "--containerd", ctrd.Address, "--namespace", "edgewright"}},
		{name: "containerd unreachable", args: []string{"--root", root, "--containerd", filepath.Join(root, "no.sock")},
			code: 1, stderr: "containerd is unreachable"},
		{name: "root missing", args: []string{"--root", filepath.Join(root, "nope")}, code: 1, stderr: "no such file or directory"},
		{name: "no root", args: nil, code: 2, stderr: "--root is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"survey"}, tc.args...), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d stderr %q, want %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
			if code == 2 || strings.Contains(tc.stderr, "no such file") {
				return
			}
			var fp map[string]json.RawMessage
			if err := json.Unmarshal(stdout.Bytes(), &fp); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
			}
			for _, k := range []string{"volumes", "blobs", "images", "diagnostics"} {
				if v, ok := fp[k]; !ok || v[0] != '[' {
					t.Errorf("key %q: %s, want a list", k, v)
				}
			}
			var vols []map[string]any
			if err := json.Unmarshal(fp["volumes"], &vols); err != nil || len(vols) != 2 {
				t.Fatalf("volumes %s: %v", fp["volumes"], err)
			}
			for _, k := range []string{"id", "generation", "format", "path", "virtualSize", "allocatedSize", "state", "legacy"} {
				if _, ok := vols[0][k]; !ok {
					t.Errorf("volume key %q missing: %v", k, vols[0])
				}
			}
			if vols[0]["format"] != "qcow2" || vols[0]["virtualSize"] != float64(1<<30) || vols[0]["state"] != "complete" ||
				vols[1]["state"] != "partial" {
				t.Errorf("volumes %v", vols)
			}
		})
	}
}

// TestSurveyCommandJournal: a real journal at <root>/persist/edgewright
// with an intent left open marks its volume partial; while another process
// holds the journal for writing, the survey goes on without it.
func TestSurveyCommandJournal(t *testing.T) {
	root := t.TempDir()
	const id = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	vols := filepath.Join(root, "persist/vault/volumes")
	if err := os.MkdirAll(vols, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vols, id+"#1.raw"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(journal.Path(root)), 0o755); err != nil {
		t.Fatal(err)
	}
	j, err := journal.OpenRoot(root, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Begin(journal.Intent{ApplyID: "a1", RemodelID: "create " + id + "#1", Action: "create",
		Target: materials.MaterialRef{Kind: materials.KindVolume, ID: id + "#1"}, StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	state := func(t *testing.T) (string, string) {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"survey", "--root", root}, &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		var fp materials.Floorplan
		if err := json.Unmarshal(stdout.Bytes(), &fp); err != nil || len(fp.Volumes) != 1 {
			t.Fatalf("floorplan %s: %v", stdout.String(), err)
		}
		return string(fp.Volumes[0].State), stderr.String()
	}
	// Held open for writing by "the agent" (this process): not read.
	if st, stderr := state(t); st != "complete" || !strings.Contains(stderr, "journal not read") {
		t.Fatalf("state %s stderr %q while the journal is held", st, stderr)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if st, stderr := state(t); st != "partial" || stderr != "" {
		t.Fatalf("state %s stderr %q, want partial from the journal's open intent", st, stderr)
	}
}
