package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// chainRoot is blob (raw, 1 MiB of 1s) <- mid.qcow2 (1 MiB of 2s at 1M)
// <- top.qcow2 (512 KiB of 3s at 2M), with relative backing names, and
// ref.qcow2, a copy of top, to compare the guest's bytes against.
func chainRoot(t *testing.T) (dir string, chain []device.Link) {
	t.Helper()
	qimg := testenv.QemuImg(t)
	qio := testenv.LookPath(t, "qemu-io")
	dir = t.TempDir()
	blobs, vols := filepath.Join(dir, "blobs"), filepath.Join(dir, "vols")
	for _, d := range []string{blobs, vols} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(bin string, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = vols
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
		}
	}
	run(qimg, "create", "-q", "-f", "raw", "../blobs/base", "4M")
	run(qio, "-f", "raw", "-c", "write -P 1 0 1M", "../blobs/base")
	run(qimg, "create", "-q", "-f", "qcow2", "-b", "../blobs/base", "-F", "raw", "mid.qcow2")
	run(qio, "-c", "write -P 2 1M 1M", "mid.qcow2")
	run(qimg, "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2")
	run(qio, "-c", "write -P 3 2M 512k", "top.qcow2")
	run("cp", "top.qcow2", "ref.qcow2")
	return dir, []device.Link{
		{Name: "mid.qcow2", Path: filepath.Join(vols, "mid.qcow2"), Format: materials.FormatQcow2},
		{Name: "../blobs/base", Path: filepath.Join(blobs, "base"), Format: materials.FormatRaw},
	}
}

// same wants path's guest bytes equal to ref.qcow2's (through its own chain).
func same(t *testing.T, dir, path string) {
	t.Helper()
	cmd := exec.Command("qemu-img", "compare", "-F", "qcow2", filepath.Join(dir, "vols/ref.qcow2"), path)
	cmd.Dir = filepath.Join(dir, "vols")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qemu-img compare: %v\n%s", err, out)
	}
}

func backingOf(t *testing.T, path string) string {
	t.Helper()
	h, err := readHeader(path)
	if err != nil {
		t.Fatal(err)
	}
	return h.BackingFile
}

func TestFixes(t *testing.T) {
	ctx := context.Background()
	q := &Volumes{}
	tests := []struct {
		name        string
		do          func(path string, chain []device.Link) error
		wantBacking string
	}{
		{name: "merge", wantBacking: "../blobs/base", do: func(p string, c []device.Link) error { return q.Merge(ctx, p, c, nil) }},
		{name: "flatten", wantBacking: "", do: func(p string, c []device.Link) error { return q.Flatten(ctx, p, c, nil) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, chain := chainRoot(t)
			top := filepath.Join(dir, "vols/top.qcow2")
			if err := tc.do(top, chain); err != nil {
				t.Fatal(err)
			}
			if got := backingOf(t, top); got != tc.wantBacking {
				t.Errorf("backing file %q, want %q", got, tc.wantBacking)
			}
			same(t, dir, top)
			if _, err := os.Stat(top + ".tmp"); !os.IsNotExist(err) {
				t.Errorf("%s.tmp left: %v", top, err)
			}
			// Again (a step retried after a crash): nothing changes.
			if err := tc.do(top, chain); err != nil {
				t.Fatalf("again: %v", err)
			}
			same(t, dir, top)
		})
	}
}

// TestFixRefusesOtherFiles: a chain link whose header is not what the
// survey said is refused before qemu-img opens anything.
func TestFixRefusesOtherFiles(t *testing.T) {
	dir, chain := chainRoot(t)
	top := filepath.Join(dir, "vols/top.qcow2")
	chain[0].Format = materials.FormatVMDK
	err := (&Volumes{}).Flatten(context.Background(), top, chain, nil)
	if err == nil || !strings.Contains(err.Error(), "its header says qcow2") {
		t.Fatalf("err %v", err)
	}
	if err := (&Volumes{}).Flatten(context.Background(), top, nil, nil); err == nil {
		t.Fatal("an overlay flattened with no surveyed chain")
	}
}

func TestRepairLeaks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v.qcow2")
	testenv.Qcow2(t, p)
	testenv.LeakQcow2Cluster(t, p)
	if out, err := exec.Command("qemu-img", "check", p).CombinedOutput(); err == nil {
		t.Fatalf("no leak made:\n%s", out)
	}
	var done, known int64
	if err := (&Volumes{}).RepairLeaks(context.Background(), p, func(d, k int64) { done, known = d, k }); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qemu-img", "check", p).CombinedOutput(); err != nil {
		t.Fatalf("after repair: %v\n%s", err, out)
	}
	if known == 0 || done != known {
		t.Errorf("progress %d/%d", done, known)
	}
}

func TestSparsify(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v.raw")
	data := make([]byte, 4<<20)
	copy(data[1<<20:], "data")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&Volumes{}).Sparsify(context.Background(), p, nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != string(data) {
		t.Fatalf("bytes changed (%v)", err)
	}
	if alloc := allocated(t, p); alloc >= int64(len(data)) {
		t.Errorf("allocated %d of %d: no holes", alloc, len(data))
	}
}
