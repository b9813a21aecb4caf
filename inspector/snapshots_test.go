package inspector

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgewright/edgewright/materials"
)

const (
	snapA = "5a0e0000-0000-4000-8000-00000000000a"
	snapB = "5a0e0000-0000-4000-8000-00000000000b"
)

// TestSurveySnapshots: a qcow2's internal snapshots are read from its
// table; raw and container snapshot copies are listed under their
// volumes, not as volumes; temps stay as partial temps of their volume;
// an orphan copy and a name that is almost a snapshot's are unknown; a
// corrupt table is broken and one past the bounds only a warning.
func TestSurveySnapshots(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, vault, clear)
	v := func(name string) string { return filepath.Join(root, vault, name) }

	before := time.Now().Add(-time.Second)
	q := v(uuidA + "#1.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", q, "16M")
	qemuImg(t, "snapshot", "-c", snapA, q)
	qemuImg(t, "snapshot", "-c", "someone-else", q)
	corrupt := v(uuidB + "#1.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", corrupt, "16M")
	qemuImg(t, "snapshot", "-c", snapA, corrupt)
	patchFile(t, corrupt, 64, be64(1<<40)) // snapshots_offset outside the file
	many := v("6ba7b810-9dad-11d1-80b4-00c04fd43000#1.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", many, "16M")
	qemuImg(t, "snapshot", "-c", snapA, many)
	patchFile(t, many, 60, be32(5000)) // nb_snapshots past the bound

	raw := uuidA + "#2.raw"
	writeFile(t, v(raw), []byte("volume"))
	writeFile(t, v(uuidA+"#2@"+snapA+".raw"), []byte("snap-a"))
	writeFile(t, v(uuidA+"#2@"+snapB+".raw"), []byte("snap-bb"))
	writeFile(t, v(uuidA+"#2@"+snapB+".raw.tmp"), []byte("half"))
	writeFile(t, v(uuidA+"#2@rollback.raw.tmp"), []byte("half"))
	writeFile(t, v(uuidA+"#2@nope.raw"), []byte("?"))
	writeFile(t, v(uuidA+"#9@"+snapA+".raw"), []byte("orphan"))

	ctr := uuidB + "#0.container"
	writeFile(t, filepath.Join(root, clear, ctr, "etc/conf"), []byte("a=1"))
	writeFile(t, filepath.Join(root, clear, uuidB+"#0@"+snapA+".container", "etc/conf"), []byte("a=0"))

	fp := survey(t, Options{Root: root})
	byPath := map[string]materials.VolumeFile{}
	for _, f := range fp.Volumes {
		byPath[f.Path] = f
	}
	names := func(f materials.VolumeFile) string {
		var out []string
		for _, s := range f.Snapshots {
			out = append(out, s.Name+"@"+s.Path+":"+string(s.State))
		}
		return strings.Join(out, ",")
	}

	tests := []struct {
		path      string
		state     materials.State
		snapshots string
		reason    string // substring
		absent    bool
	}{
		{path: vault + uuidA + "#1.qcow2", state: materials.StateComplete, snapshots: snapA + "@:complete,someone-else@:complete"},
		{path: vault + uuidB + "#1.qcow2", state: materials.StateBroken, reason: "snapshots_offset"},
		{path: vault + "6ba7b810-9dad-11d1-80b4-00c04fd43000#1.qcow2", state: materials.StateComplete},
		{path: vault + raw, state: materials.StateComplete,
			snapshots: snapA + "@" + vault + uuidA + "#2@" + snapA + ".raw:complete," + snapB + "@" + vault + uuidA + "#2@" + snapB + ".raw:complete"},
		{path: vault + uuidA + "#2@" + snapA + ".raw", absent: true},
		{path: vault + uuidA + "#2@" + snapB + ".raw.tmp", state: materials.StatePartial, reason: "snapshot " + snapB + " copy of " + raw + " in progress"},
		{path: vault + uuidA + "#2@rollback.raw.tmp", state: materials.StatePartial, reason: "rollback copy of " + raw + " in progress"},
		{path: vault + uuidA + "#2@nope.raw", state: materials.StateUnknown},
		{path: vault + uuidA + "#9@" + snapA + ".raw", state: materials.StateUnknown, reason: "which is not on disk"},
		{path: clear + ctr, state: materials.StateComplete, snapshots: snapA + "@" + clear + uuidB + "#0@" + snapA + ".container:complete"},
		{path: clear + uuidB + "#0@" + snapA + ".container", absent: true},
	}
	for _, tt := range tests {
		f, ok := byPath[tt.path]
		if tt.absent {
			if ok {
				t.Errorf("%s listed as a volume: %+v", tt.path, f)
			}
			continue
		}
		if !ok {
			t.Errorf("%s not listed", tt.path)
			continue
		}
		if f.State != tt.state || names(f) != tt.snapshots || !strings.Contains(f.Reason, tt.reason) {
			t.Errorf("%s: state %s reason %q snapshots %q; want %s %q %q", tt.path, f.State, f.Reason, names(f), tt.state, tt.reason, tt.snapshots)
		}
	}
	for _, tmp := range []string{uuidA + "#2@" + snapB + ".raw.tmp", uuidA + "#2@rollback.raw.tmp"} {
		if f := byPath[vault+tmp]; f.ID != uuidA || f.Generation != 2 || !f.Temp {
			t.Errorf("%s: %+v; want the temp of volume %s#2", tmp, f, uuidA)
		}
	}
	if f := byPath[vault+uuidA+"#9@"+snapA+".raw"]; f.ID != "" {
		t.Errorf("orphan copy keeps a volume id: %+v", f)
	}
	qs := byPath[vault+uuidA+"#1.qcow2"].Snapshots
	if len(qs) == 2 && (qs[0].Created.Before(before) || qs[0].VirtualSize != 16<<20) {
		t.Errorf("qcow2 snapshot %+v: want its date and 16 MiB disk size", qs[0])
	}
	warned := false
	for _, d := range fp.Diagnostics {
		if d.Path == vault+"6ba7b810-9dad-11d1-80b4-00c04fd43000#1.qcow2" && strings.HasPrefix(d.Message, "qcow2 snapshots not listed") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning for a table past the bounds: %v", fp.Diagnostics)
	}

	// A new snapshot copy changes the fingerprint, though it is not a
	// volume of its own.
	writeFile(t, filepath.Join(root, clear, uuidB+"#0@"+snapB+".container", "x"), []byte("y"))
	fp2, err := Survey(context.Background(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if fp2.Fingerprint == fp.Fingerprint {
		t.Error("a new snapshot copy did not change the fingerprint")
	}
	if len(fp2.Volumes) != len(fp.Volumes) {
		t.Errorf("a snapshot copy changed the volume count: %d then %d", len(fp.Volumes), len(fp2.Volumes))
	}
	os.RemoveAll(root)
}
