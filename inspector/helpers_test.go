package inspector

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// qemuImg runs the real qemu-img.
func qemuImg(t testing.TB, args ...string) {
	t.Helper()
	bin := testenv.QemuImg(t)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// mkdirs creates directories below root.
func mkdirs(t *testing.T, root string, rels ...string) {
	t.Helper()
	for _, r := range rels {
		if err := os.MkdirAll(filepath.Join(root, r), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// patchFile overwrites bytes at off, to corrupt a real qcow2 header.
func patchFile(t *testing.T, path string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}

func be32(v uint32) []byte { b := make([]byte, 4); binary.BigEndian.PutUint32(b, v); return b }
func be64(v uint64) []byte { b := make([]byte, 8); binary.BigEndian.PutUint64(b, v); return b }

func survey(t *testing.T, opts Options) *materials.Floorplan {
	t.Helper()
	fp, err := Survey(context.Background(), opts)
	if err != nil {
		t.Fatalf("Survey: %v", err)
	}
	return fp
}

func volumeAt(fp *materials.Floorplan, path string) *materials.VolumeFile {
	for i := range fp.Volumes {
		if fp.Volumes[i].Path == path {
			return &fp.Volumes[i]
		}
	}
	return nil
}

func diagAt(fp *materials.Floorplan, path string) *materials.Diagnostic {
	for i := range fp.Diagnostics {
		if fp.Diagnostics[i].Path == path {
			return &fp.Diagnostics[i]
		}
	}
	return nil
}

// du sums sizes below dir the way the inspector must, via the standard
// library (Lstat, never following), as an independent check.
func duTree(t *testing.T, dir string) (apparent, allocated int64) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		apparent += fi.Size()
		allocated += statBlocks(fi) * 512
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return apparent, allocated
}
