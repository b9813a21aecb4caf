package assembler

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// fixture is a loopback datastore with generated raw, qcow2 and vmdk
// images, and the Blueprint that asks for volumes made of them.
type fixture struct {
	ds               *datastore
	raw1, raw2, raw3 []byte // the guest-visible contents
	srcDir           string // the raw contents as files, for qemu-img compare
	bp               *materials.Blueprint
}

func convertImage(t testing.TB, raw []byte, format string) []byte {
	t.Helper()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.WriteFile(src, raw, 0o600)
	if out, err := exec.Command(testenv.QemuImg(t), "convert", "-f", "raw", "-O", format, src, dst).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert -O %s: %v: %s", format, err, out)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	testenv.QemuImg(t)
	f := &fixture{ds: newDatastore(t, false), raw1: rawImage(101, 4<<20), raw2: rawImage(102, 3<<20), raw3: rawImage(103, 2<<20), srcDir: t.TempDir()}
	qcow := convertImage(t, f.raw2, "qcow2")
	vmdk := convertImage(t, f.raw3, "vmdk")
	f.ds.put("/images/disk.raw", f.raw1)
	f.ds.put("/images/disk.qcow2", qcow)
	f.ds.put("/images/disk.vmdk", vmdk)
	for name, b := range map[string][]byte{"raw1": f.raw1, "raw2": f.raw2, "raw3": f.raw3} {
		os.WriteFile(filepath.Join(f.srcDir, name), b, 0o600)
	}
	ds := f.ds.materials("11111111-0000-0000-0000-000000000001")
	ct := func(id, url string, data []byte, format materials.Format) materials.ContentTree {
		return materials.ContentTree{ID: id, URL: url, Format: format, SHA256: sha(data), MaxSizeBytes: uint64(len(data)), Datastores: []string{ds.ID}}
	}
	f.bp = &materials.Blueprint{
		Complete:   true,
		Datastores: []materials.Datastore{ds},
		ContentTrees: []materials.ContentTree{
			ct("22222222-0000-0000-0000-000000000001", "disk.raw", f.raw1, materials.FormatRaw),
			ct("22222222-0000-0000-0000-000000000002", "disk.qcow2", qcow, materials.FormatQcow2),
			ct("22222222-0000-0000-0000-000000000003", "disk.vmdk", vmdk, materials.FormatVMDK),
		},
		Volumes: []materials.Volume{
			{ID: "33333333-0000-0000-0000-00000000000a", Generation: 1, Origin: materials.OriginDownload, ContentTree: "22222222-0000-0000-0000-000000000001", Format: materials.FormatRaw, MaxSizeBytes: 8 << 20, RefCount: 1},
			{ID: "33333333-0000-0000-0000-00000000000b", Generation: 1, Origin: materials.OriginDownload, ContentTree: "22222222-0000-0000-0000-000000000002", Format: materials.FormatQcow2, MaxSizeBytes: 3 << 20, RefCount: 1},
			{ID: "33333333-0000-0000-0000-00000000000c", Generation: 1, Origin: materials.OriginBlank, Format: materials.FormatQcow2, MaxSizeBytes: 16 << 20, RefCount: 1},
			{ID: "33333333-0000-0000-0000-00000000000d", Generation: 1, Origin: materials.OriginDownload, ContentTree: "22222222-0000-0000-0000-000000000003", Format: materials.FormatQcow2, MaxSizeBytes: 2 << 20, RefCount: 1},
			{ID: "33333333-0000-0000-0000-00000000000e", Generation: 1, Origin: materials.OriginBlank, Format: materials.FormatRaw, MaxSizeBytes: 1 << 20, RefCount: 1},
		},
	}
	return f
}

// source is the raw file a volume's content must equal ("" for blank).
func (f *fixture) source(v materials.Volume) string {
	switch v.ContentTree {
	case "22222222-0000-0000-0000-000000000001":
		return filepath.Join(f.srcDir, "raw1")
	case "22222222-0000-0000-0000-000000000002":
		return filepath.Join(f.srcDir, "raw2")
	case "22222222-0000-0000-0000-000000000003":
		return filepath.Join(f.srcDir, "raw3")
	}
	return ""
}

func qemuInfo(t testing.TB, path string) (info ImageInfo) {
	t.Helper()
	testenv.QemuInfo(t, path, &info)
	return info
}

// checkVolumes asserts every volume of the Blueprint is on disk in its
// format, size and content, and that no other volume file (nor any .tmp)
// is left under the volumes directories.
func (f *fixture) checkVolumes(t testing.TB, root string) { f.checkVolumesOf(t, root, f.bp) }

func (f *fixture) checkVolumesOf(t testing.TB, root string, bp *materials.Blueprint) {
	t.Helper()
	want := map[string]bool{}
	for _, v := range bp.Volumes {
		p, err := VolumePath(root, v)
		if err != nil {
			t.Fatal(err)
		}
		want[p] = true
		if _, err := os.Stat(p); err != nil {
			t.Errorf("volume %s: %v", v.Key(), err)
			continue
		}
		info := qemuInfo(t, p)
		if info.Format != string(v.Format) {
			t.Errorf("volume %s: format %s, want %s", v.Key(), info.Format, v.Format)
		}
		if info.VirtualSize != v.MaxSizeBytes {
			t.Errorf("volume %s: virtual size %d, want %d", v.Key(), info.VirtualSize, v.MaxSizeBytes)
		}
		if src := f.source(v); src != "" {
			// qemu-img compare checks the common part and that the grown
			// tail reads as zeros.
			qemuCompare(t, src, p)
		}
	}
	for _, dir := range []string{VolumesDir(root, false), VolumesDir(root, true)} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			if !want[p] {
				t.Errorf("unexpected file under the volumes: %s", p)
			}
		}
	}
}

func converge(t testing.TB, a *Assembler, bp *materials.Blueprint) *ConvergeResult {
	t.Helper()
	res, err := a.Converge(context.Background(), bp, ConvergeOptions{OnPlan: func(round int, p *remodel.Plan) {
		t.Logf("round %d: %s", round, p.Summary.Text)
	}})
	if err != nil {
		t.Fatalf("Converge: %v (failed: %+v)", err, res.Failed)
	}
	if !res.Converged || res.Held() {
		t.Fatalf("Converge: converged=%v held=%+v", res.Converged, res.Plan.Held)
	}
	return res
}

// TestEndToEnd applies a Blueprint with raw, qcow2, vmdk-converted and
// blank volumes from a loopback datastore, then bumps a generation, then
// drops a volume, checking the disk after each step.
func TestEndToEnd(t *testing.T) {
	f := newFixture(t)
	root := t.TempDir()
	var mu sync.Mutex
	var events []Event
	a, err := New(Options{Root: root, Retry: fastRetry(), Logger: zap.NewNop(), Progress: func(e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}

	res := converge(t, a, f.bp)
	t.Logf("apply: %d rounds", res.Rounds)
	f.checkVolumes(t, root)
	// Progress per blob, content tree and volume: monotone, ending whole.
	last := map[materials.MaterialRef]Event{}
	for _, e := range events {
		ref := materials.MaterialRef{Kind: e.Kind, ID: e.ID}
		if p, ok := last[ref]; ok && e.Done < p.Done {
			t.Errorf("progress of %v went back: %d after %d", ref, e.Done, p.Done)
		}
		last[ref] = e
	}
	kinds := map[materials.MaterialKind]int{}
	for ref, e := range last {
		kinds[ref.Kind]++
		if e.Known <= 0 || e.Done != e.Known {
			t.Errorf("last progress of %v: %d of %d", ref, e.Done, e.Known)
		}
	}
	if kinds[materials.KindBlob] != 3 || kinds[materials.KindContentTree] != 3 || kinds[materials.KindVolume] != 5 {
		t.Errorf("progress covered %v, want 3 blobs, 3 content trees, 5 volumes", kinds)
	}
	gets := len(f.ds.requests())
	if gets != 3 {
		t.Errorf("first apply made %d requests, want 3 (one per content tree)", gets)
	}

	// Bump a generation: the volume is purged and recreated.
	old, _ := VolumePath(root, f.bp.Volumes[0])
	f.bp.Volumes[0].Generation = 2
	converge(t, a, f.bp)
	f.checkVolumes(t, root)
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old generation %s still there", old)
	}
	if n := len(f.ds.requests()); n != gets {
		t.Errorf("the purge downloaded again: %d requests, want %d", n, gets)
	}

	// Drop a volume: it is deleted.
	dropped, _ := VolumePath(root, f.bp.Volumes[1])
	f.bp.Volumes = append(f.bp.Volumes[:1], f.bp.Volumes[2:]...)
	converge(t, a, f.bp)
	f.checkVolumes(t, root)
	if _, err := os.Stat(dropped); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dropped volume %s still there", dropped)
	}

	// Converged: another round has nothing to do.
	res = converge(t, a, f.bp)
	if res.Rounds != 1 || len(res.Reports) != 0 {
		t.Errorf("a converged root took %d rounds and %d applies", res.Rounds, len(res.Reports))
	}
}
