package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
)

// TestSnapshotsCommand: a qcow2 volume with two internal snapshots, one
// the last applied config asked for (app, type, active) and one nobody
// named: `wright snapshots --json` lists both, with the app for the first
// only; the table says the same; a root without snapshots says so.
func TestSnapshotsCommand(t *testing.T) {
	const (
		vol  = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
		app  = "0b000000-0000-4000-8000-000000000001"
		snap = "5a000000-0000-4000-8000-000000000001"
	)
	root := t.TempDir()
	vols := filepath.Join(root, "persist/vault/volumes")
	if err := os.MkdirAll(vols, 0o755); err != nil {
		t.Fatal(err)
	}
	qemu := testenv.QemuImg(t)
	img := filepath.Join(vols, vol+"#1.qcow2")
	for _, args := range [][]string{{"create", "-q", "-f", "qcow2", img, "64M"}, {"snapshot", "-c", snap, img}, {"snapshot", "-c", "someone-elses", img}} {
		if out, err := exec.Command(qemu, args...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
		}
	}
	j, err := journal.OpenRoot(root, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bp := &materials.Blueprint{Complete: true,
		Volumes:   []materials.Volume{{ID: vol, Generation: 1, Origin: materials.OriginBlank, Format: materials.FormatQcow2, MaxSizeBytes: 64 << 20, Apps: []string{app}, RefCount: 1}},
		Apps:      []materials.App{{ID: app, Version: "1", VolumeRefs: []materials.VolumeRef{{Volume: vol, Generation: 1}}}},
		Snapshots: []materials.Snapshot{{App: app, ID: snap, Type: materials.SnapshotImmediate, Active: true, Volumes: []materials.VolumeRef{{Volume: vol, Generation: 1}}}}}
	if err := j.Checkpoint(bp, time.Now()); err != nil {
		t.Fatal(err)
	}
	taken := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	lin := []materials.SnapshotLineage{
		{App: app, Snapshot: snap, Volume: materials.VolumeKey{ID: vol, Generation: 1}, Format: materials.FormatQcow2, Type: materials.SnapshotImmediate, Taken: taken, ConfigVersion: "v7"},
		// A record whose snapshot a crash kept off the disk.
		{App: app, Snapshot: "5a000000-0000-4000-8000-000000000002", Volume: materials.VolumeKey{ID: vol, Generation: 1}, Format: materials.FormatQcow2, Taken: taken},
	}
	if err := j.PutLineage(lin); err != nil {
		t.Fatal(err)
	}
	j.Close()

	var stdout, stderr bytes.Buffer
	if code := run([]string{"snapshots", "--root", root, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var out struct {
		Snapshots []snapshotLine `json:"snapshots"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	got := map[string]snapshotLine{}
	for _, l := range out.Snapshots {
		got[l.Name] = l
	}
	if l := got[snap]; l.Lineage == nil || l.Lineage.ConfigVersion != "v7" || !l.Lineage.Taken.Equal(taken) {
		t.Errorf("snapshot %s: lineage %+v, want the journal's record (config version v7)", snap, l.Lineage)
	}
	if l, ok := got[lin[1].Snapshot]; !ok || l.Lineage == nil || l.Reason == "" {
		t.Errorf("the record without its snapshot: %+v (listed %v)", l, ok)
	}
	delete(got, lin[1].Snapshot)
	out.Snapshots = slices.DeleteFunc(out.Snapshots, func(l snapshotLine) bool { return l.Name == lin[1].Snapshot })
	if l := got[snap]; len(out.Snapshots) != 2 || l.App != app || l.Type != materials.SnapshotImmediate || !l.Active || l.Volume != vol+"#1" || l.State != materials.StateComplete || l.Copy != "" {
		t.Errorf("snapshots: %+v", out.Snapshots)
	}
	if l, ok := got["someone-elses"]; !ok || l.App != "" {
		t.Errorf("the unnamed snapshot: %+v (present %v)", l, ok)
	}

	stdout.Reset()
	if code := run([]string{"snapshots", "--root", root}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "immediate (active)") || !strings.Contains(stdout.String(), "internal (qcow2)") || !strings.Contains(stdout.String(), "v7") {
		t.Errorf("table (exit %d):\n%s", code, stdout.String())
	}
	// wright status reports the app's snapshot as ZInfoApp (ZInfoSnapshot)
	// and in its table.
	stdout.Reset()
	if code := run([]string{"status", "--root", root, "--json"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), `"snapshots"`) || !strings.Contains(stdout.String(), snap) {
		t.Errorf("status --json (exit %d): no ZInfoSnapshot for %s:\n%s", code, snap, stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"status", "--root", root}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), app+"  "+snap) {
		t.Errorf("status table (exit %d):\n%s", code, stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"snapshots", "--root", t.TempDir()}, &stdout, &stderr); code != 0 || strings.TrimSpace(stdout.String()) != "no snapshots" {
		t.Errorf("empty root (exit %d): %q", code, stdout.String())
	}
	if code := run([]string{"snapshots"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("no --root: exit %d", code)
	}
}
