package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ReflinkDir returns a directory on a file system that can reflink (a
// fresh XFS with reflink=1, loop-mounted for the test and unmounted when
// it ends), or skips (fails under CI) when mkfs.xfs is missing or the
// test cannot mount (not root, no loop devices).
func ReflinkDir(t testing.TB) string {
	t.Helper()
	mkfs := LookPath(t, "mkfs.xfs")
	if os.Geteuid() != 0 {
		Need(t, "a reflink file system needs root to loop-mount")
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "xfs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: room for the benchmarks' 1 GiB volume and its copies, at
	// the cost of what is written only (XFS's minimum is 300 MiB).
	if err := f.Truncate(8 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command(mkfs, "-q", "-m", "reflink=1", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v\n%s", err, out)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		Need(t, "cannot loop-mount an XFS image: "+string(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	return mnt
}
