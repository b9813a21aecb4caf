package snapshot

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/reporter"
)

// TestConfigToReport runs this tranche end to end: a config with an
// app's SnapshotConfig drawn by the architect, each of the app's volumes
// (qcow2, raw, container) snapshotted by this craft, the root surveyed by
// the inspector, and the snapshot reported by the reporter as on the
// device; then a rollback restores every volume and the survey and report
// stand.
func TestConfigToReport(t *testing.T) {
	qemuImg := testenv.QemuImg(t)
	qemuIO := testenv.LookPath(t, "qemu-io")
	const (
		ds    = "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11"
		ctRaw = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01"
		ctOCI = "2e4f6a8c-0b1d-4e3f-9a5b-7c9d1e3f5a03"
		vQ    = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f20"
		vR    = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f21"
		vC    = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f22"
		app   = "3599588a-17d3-4d02-aae1-bcefe3706cf1"
	)
	cfg := fmt.Sprintf(`{
 "datastores": [{"id": %[1]q, "dType": "DsHttp", "fqdn": "http://images.example.net"}],
 "contentInfo": [
  {"uuid": %[2]q, "dsId": %[1]q, "URL": "disk.img", "iformat": "RAW", "sha256": %[9]q, "maxSizeBytes": "67108864"},
  {"uuid": %[3]q, "dsId": %[1]q, "URL": "app.tar", "iformat": "CONTAINER", "sha256": %[9]q}],
 "volumes": [
  {"uuid": %[4]q, "origin": {"type": "VCOT_BLANK"}, "maxsizebytes": "67108864"},
  {"uuid": %[5]q, "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": %[2]q}, "maxsizebytes": "67108864"},
  {"uuid": %[6]q, "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": %[3]q}}],
 "apps": [{"uuidandversion": {"uuid": %[7]q, "version": "1"}, "displayname": "vm",
   "volumeRefList": [{"uuid": %[4]q}, {"uuid": %[5]q}, {"uuid": %[6]q}],
   "snapshot": {"activeSnapshot": %[8]q, "maxSnapshots": 1, "snapshots": [{"id": %[8]q, "type": "SNAPSHOT_TYPE_IMMEDIATE"}]}}]}`,
		ds, ctRaw, ctOCI, vQ, vR, vC, app, snap1, strings.Repeat("a", 64))
	bp := architect.Load([]byte(cfg))
	if !bp.Valid() || len(bp.Snapshots) != 1 {
		t.Fatalf("blueprint: valid %v, snapshots %v, diagnostics %v", bp.Valid(), bp.Snapshots, bp.Diagnostics)
	}
	root := t.TempDir()
	paths := map[string]string{}
	for _, v := range bp.Volumes {
		p, err := layout.VolumePath(root, v)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(p[:strings.LastIndex(p, "/")], 0o700)
		paths[v.ID] = p
		switch v.Format {
		case materials.FormatQcow2:
			mustRun(t, qemuImg, "create", "-q", "-f", "qcow2", p, "64M")
			mustRun(t, qemuIO, "-f", "qcow2", "-c", "write -P 0x11 0 1M", p)
		case materials.FormatRaw:
			mustRun(t, "truncate", "-s", "64M", p)
			mustRun(t, qemuIO, "-f", "raw", "-c", "write -P 0x22 0 1M", p)
		case materials.FormatContainer:
			os.MkdirAll(p+"/etc", 0o755)
			os.WriteFile(p+"/etc/conf", []byte("a=1\n"), 0o644)
		}
	}
	refs := map[string]string{}
	for id, p := range paths {
		ref := t.TempDir() + "/ref"
		mustRun(t, "cp", "-a", "--sparse=always", p, ref)
		refs[id] = ref
	}
	s := &Snapshotter{QemuImg: qemuImg}
	ctx := context.Background()
	for _, v := range bp.Volumes {
		if _, err := s.Take(ctx, root, v, bp.Snapshots[0].ID); err != nil {
			t.Fatalf("take %s: %v", v.Key(), err)
		}
	}
	fp, err := inspector.Survey(ctx, inspector.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(fp.Volumes) != 3 {
		t.Fatalf("survey lists %d volumes, want 3 (snapshot copies are not volumes): %+v", len(fp.Volumes), fp.Volumes)
	}
	for _, f := range fp.Volumes {
		if len(f.Snapshots) != 1 || f.Snapshots[0].Name != snap1 || f.Snapshots[0].State != materials.StateComplete {
			t.Fatalf("%s: snapshots %+v", f.Path, f.Snapshots)
		}
	}
	apps := reporter.AppSnapshots(reporter.Inputs{Blueprint: bp, Floorplan: fp})
	if len(apps) != 1 || len(apps[0].Snapshots) != 1 || apps[0].Snapshots[0].Id != snap1 || apps[0].Snapshots[0].CreateTime == nil {
		t.Fatalf("report: %v", apps)
	}

	// The app changes every volume; a rollback restores every one.
	mustRun(t, qemuIO, "-f", "qcow2", "-c", "write -P 0xab 0 1M", paths[vQ])
	mustRun(t, qemuIO, "-f", "raw", "-c", "write -P 0xab 0 1M", paths[vR])
	os.WriteFile(paths[vC]+"/etc/conf", []byte("a=2\n"), 0o644)
	for _, v := range bp.Volumes {
		if _, err := s.Rollback(ctx, root, v, snap1); err != nil {
			t.Fatalf("rollback %s: %v", v.Key(), err)
		}
	}
	mustRun(t, qemuImg, "compare", "-q", "-f", "qcow2", "-F", "qcow2", paths[vQ], refs[vQ])
	mustRun(t, qemuImg, "compare", "-q", "-f", "raw", "-F", "raw", paths[vR], refs[vR])
	mustRun(t, "diff", "-r", paths[vC], refs[vC])
	fp2, err := inspector.Survey(ctx, inspector.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if got := reporter.AppSnapshots(reporter.Inputs{Blueprint: bp, Floorplan: fp2}); len(got) != 1 || len(got[0].Snapshots) != 1 {
		t.Fatalf("after the rollback the report is %v", got)
	}
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
