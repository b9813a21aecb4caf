package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/internal/diskimage"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

const (
	volID = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10"
	snap1 = "5a0e0000-0000-4000-8000-00000000000a"
	snap2 = "5a0e0000-0000-4000-8000-00000000000b"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// same runs qemu-img compare (exit 0: identical guest bytes, 1: differ).
func same(t *testing.T, qemuImg, format, a, b string) bool {
	t.Helper()
	cmd := exec.Command(qemuImg, "compare", "-q", "-f", format, "-F", format, a, b)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return false
	}
	t.Fatalf("qemu-img compare %s %s: %v\n%s", a, b, err, out)
	return false
}

func newVolume(t *testing.T, format materials.Format) (root string, v materials.Volume, path string) {
	t.Helper()
	return newVolumeIn(t, t.TempDir(), format)
}

func newVolumeIn(t *testing.T, root string, format materials.Format) (string, materials.Volume, string) {
	t.Helper()
	v := materials.Volume{ID: volID, Generation: 1, Format: format}
	path, err := layout.VolumePath(root, v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	return root, v, path
}

// fileSystems are the roots the copy-based tests run on: the temp dir's
// file system (ext4 here: no reflink), and a loop-mounted XFS that can.
// want is the method the copies must report on each.
func fileSystems(t *testing.T) []struct {
	name string
	root func(t *testing.T) string
	want Method
} {
	plain := MethodCopy
	if fsCanReflink(t, t.TempDir()) {
		plain = MethodReflink
	}
	return []struct {
		name string
		root func(t *testing.T) string
		want Method
	}{
		{"tempdir", func(t *testing.T) string { return t.TempDir() }, plain},
		{"xfs-reflink", func(t *testing.T) string { return testenv.ReflinkDir(t) }, MethodReflink},
	}
}

func tableNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	snaps, err := diskimage.Snapshots(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, s := range snaps {
		out = append(out, s.Name)
	}
	return out
}

// temps lists what is left under dir besides the volume and its snapshots.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), layout.TempSuffix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestQcow2 takes, restores and deletes internal snapshots with the real
// qemu-img, and checks the guest bytes with qemu-img compare after
// qemu-io changes the volume. The second case is a 40 GiB virtual disk,
// whose L1 table spans two sectors: the revert goes through a copy.
func TestQcow2(t *testing.T) {
	qemuImg := testenv.QemuImg(t)
	qemuIO := testenv.LookPath(t, "qemu-io")
	for _, tc := range []struct {
		size string
		want Method
	}{
		{"64M", MethodQcow2Internal},
		{"40G", MethodQcow2OnCopy},
	} {
		t.Run(tc.size, func(t *testing.T) {
			root, v, vol := newVolume(t, materials.FormatQcow2)
			run(t, qemuImg, "create", "-q", "-f", "qcow2", vol, tc.size)
			run(t, qemuIO, "-f", "qcow2", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 3M 64k", vol)
			ref := filepath.Join(t.TempDir(), "ref.qcow2")
			run(t, "cp", "--sparse=always", vol, ref)
			s := &Snapshotter{QemuImg: qemuImg}
			ctx := context.Background()

			r, err := s.Take(ctx, root, v, snap1)
			if err != nil || r.Method != MethodQcow2Internal || r.AlreadyDone {
				t.Fatalf("Take = %+v, %v", r, err)
			}
			if r, err := s.Take(ctx, root, v, snap1); err != nil || !r.AlreadyDone {
				t.Fatalf("second Take = %+v, %v; want already done", r, err)
			}
			if got := tableNames(t, vol); len(got) != 1 || got[0] != snap1 {
				t.Fatalf("snapshot table = %v", got)
			}
			run(t, qemuIO, "-f", "qcow2", "-c", "write -P 0xab 0 1M", "-c", "write -P 0xcd 8M 1M", vol)
			if same(t, qemuImg, "qcow2", vol, ref) {
				t.Fatal("qemu-io's writes did not change the volume: the test cannot tell a rollback")
			}
			r, err = s.Rollback(ctx, root, v, snap1)
			if err != nil || r.Method != tc.want {
				t.Fatalf("Rollback = %+v, %v; want method %s", r, err, tc.want)
			}
			if !same(t, qemuImg, "qcow2", vol, ref) {
				t.Fatal("after the rollback the volume's bytes differ from the snapshot's")
			}
			if got := tableNames(t, vol); len(got) != 1 || got[0] != snap1 {
				t.Fatalf("the rollback lost the snapshot: table = %v", got)
			}
			run(t, qemuImg, "check", "-q", vol)
			if left := temps(t, filepath.Dir(vol)); len(left) > 0 {
				t.Fatalf("temps left: %v", left)
			}
			if r, err := s.Delete(ctx, root, v, snap1); err != nil || r.AlreadyDone {
				t.Fatalf("Delete = %+v, %v", r, err)
			}
			if got := tableNames(t, vol); len(got) != 0 {
				t.Fatalf("after delete the table = %v", got)
			}
			if r, err := s.Delete(ctx, root, v, snap1); err != nil || !r.AlreadyDone {
				t.Fatalf("second Delete = %+v, %v; want already done", r, err)
			}
			if _, err := s.Rollback(ctx, root, v, snap1); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Rollback to a deleted snapshot: %v, want ErrNotFound", err)
			}
			if !same(t, qemuImg, "qcow2", vol, ref) {
				t.Fatal("deleting the snapshot changed the volume")
			}
		})
	}
}

// TestQcow2Refuses: someone else's duplicate name, and a volume whose
// header names a backing file, are refused before qemu-img runs.
func TestQcow2Refuses(t *testing.T) {
	qemuImg := testenv.QemuImg(t)
	s := &Snapshotter{QemuImg: qemuImg}
	ctx := context.Background()

	root, v, vol := newVolume(t, materials.FormatQcow2)
	run(t, qemuImg, "create", "-q", "-f", "qcow2", vol, "16M")
	run(t, qemuImg, "snapshot", "-c", snap1, vol)
	run(t, qemuImg, "snapshot", "-c", snap1, vol)
	for name, op := range map[string]func() (Result, error){
		"take":     func() (Result, error) { return s.Take(ctx, root, v, snap1) },
		"rollback": func() (Result, error) { return s.Rollback(ctx, root, v, snap1) },
		"delete":   func() (Result, error) { return s.Delete(ctx, root, v, snap1) },
	} {
		if _, err := op(); !errors.Is(err, ErrAmbiguous) {
			t.Errorf("%s with two entries of the name: %v, want ErrAmbiguous", name, err)
		}
	}

	root, v, vol = newVolume(t, materials.FormatQcow2)
	base := filepath.Join(t.TempDir(), "secret.qcow2")
	run(t, qemuImg, "create", "-q", "-f", "qcow2", base, "16M")
	run(t, qemuImg, "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", vol)
	if _, err := s.Take(ctx, root, v, snap1); !errors.Is(err, diskimage.ErrRefused) {
		t.Errorf("Take of a volume naming a backing file: %v, want ErrRefused", err)
	}
}

func TestBadArguments(t *testing.T) {
	s := &Snapshotter{}
	ctx := context.Background()
	root, v, vol := newVolume(t, materials.FormatRaw)
	if err := os.WriteFile(vol, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "../x", "5A0E0000-0000-4000-8000-00000000000A", "-a"} {
		if _, err := s.Take(ctx, root, v, id); err == nil {
			t.Errorf("Take(%q) succeeded", id)
		}
	}
	other := filepath.Join(t.TempDir(), "target")
	os.WriteFile(other, []byte("y"), 0o600)
	os.Remove(vol)
	if err := os.Symlink(other, vol); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(ctx, root, v, snap1); err == nil {
		t.Error("Take through a symlink at the volume's name succeeded")
	}
	// A symlink planted at the snapshot's name is not taken for it.
	os.Remove(vol)
	os.WriteFile(vol, []byte("x"), 0o600)
	sp, _ := layout.SnapshotPath(root, v, snap1)
	if err := os.Symlink(other, sp); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Take(ctx, root, v, snap1); err == nil {
		t.Errorf("Take with a symlink at the snapshot's name = %+v", r)
	}
	v.Format = materials.FormatVMDK
	if _, err := s.Take(ctx, root, v, snap1); err == nil {
		t.Error("Take of a vmdk succeeded")
	}
}

// TestRaw: a sparse raw volume is copied beside itself (a byte copy on
// this file system unless it can reflink), holes kept, and restored by a
// copy renamed over it.
func TestRaw(t *testing.T) {
	for _, fs := range fileSystems(t) {
		t.Run(fs.name, func(t *testing.T) { testRaw(t, fs.root(t), fs.want) })
	}
}

func testRaw(t *testing.T, dir string, want Method) {
	qemuImg := testenv.QemuImg(t)
	qemuIO := testenv.LookPath(t, "qemu-io")
	root, v, vol := newVolumeIn(t, dir, materials.FormatRaw)
	f, err := os.Create(vol)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(256 << 20)
	f.Close()
	run(t, qemuIO, "-f", "raw", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 100M 3M", vol)
	ref := filepath.Join(t.TempDir(), "ref.raw")
	run(t, "cp", "--sparse=always", vol, ref)
	s := &Snapshotter{}
	ctx := context.Background()

	r, err := s.Take(ctx, root, v, snap1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != want || (want == MethodCopy && r.Bytes != 4<<20) || (want == MethodReflink && r.Bytes != 0) {
		t.Fatalf("Take = %+v; want %s (a copy of the 4 MiB of data only)", r, want)
	}
	sp, _ := layout.SnapshotPath(root, v, snap1)
	if !same(t, qemuImg, "raw", sp, ref) {
		t.Fatal("the snapshot's bytes differ from the volume's")
	}
	var st unix.Stat_t
	unix.Stat(sp, &st)
	if st.Size != 256<<20 || st.Blocks*512 > 16<<20 {
		t.Fatalf("snapshot is %d bytes with %d allocated: not sparse", st.Size, st.Blocks*512)
	}
	if r, err := s.Take(ctx, root, v, snap1); err != nil || !r.AlreadyDone {
		t.Fatalf("second Take = %+v, %v", r, err)
	}
	run(t, qemuIO, "-f", "raw", "-c", "write -P 0xab 0 1M", "-c", "write -P 0xcd 200M 1M", vol)
	if same(t, qemuImg, "raw", vol, ref) {
		t.Fatal("the write did not change the volume")
	}
	if r, err := s.Rollback(ctx, root, v, snap1); err != nil || r.Method != want {
		t.Fatalf("Rollback = %+v, %v", r, err)
	}
	if !same(t, qemuImg, "raw", vol, ref) {
		t.Fatal("after the rollback the volume differs from the snapshot")
	}
	if left := temps(t, filepath.Dir(vol)); len(left) > 0 {
		t.Fatalf("temps left: %v", left)
	}
	if _, err := s.Delete(ctx, root, v, snap1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("snapshot still there after delete: %v", err)
	}
	if _, err := s.Rollback(ctx, root, v, snap1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Rollback to a deleted snapshot: %v", err)
	}
}

// TestInterrupted: an operation stopped midway (here: its context is
// cancelled, as a crash would stop it) leaves the volume as it was and a
// temp at most, which the next operation replaces; a stale temp with the
// name of a finished snapshot's is never taken for it.
func TestInterrupted(t *testing.T) {
	qemuImg := testenv.QemuImg(t)
	root, v, vol := newVolume(t, materials.FormatRaw)
	if err := os.WriteFile(vol, bytes.Repeat([]byte{0x11}, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Snapshotter{}
	sp, _ := layout.SnapshotPath(root, v, snap1)
	rb, _ := layout.RollbackTempPath(root, v)
	// Leftovers of a crash: a partial snapshot and a partial restore.
	os.WriteFile(sp+layout.TempSuffix, []byte("partial"), 0o600)
	os.WriteFile(rb, []byte("partial"), 0o600)
	if _, err := s.Take(context.Background(), root, v, snap1); err != nil {
		t.Fatal(err)
	}
	if !same(t, qemuImg, "raw", sp, vol) {
		t.Fatal("the snapshot is not the volume's bytes")
	}
	os.WriteFile(vol, bytes.Repeat([]byte{0xab}, 1<<20), 0o600)
	before, _ := os.ReadFile(vol)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Rollback(ctx, root, v, snap1); err == nil && !fsCanReflink(t, filepath.Dir(vol)) {
		t.Fatal("Rollback with a cancelled context succeeded")
	}
	after, _ := os.ReadFile(vol)
	if !bytes.Equal(before, after) && !bytes.Equal(after, bytes.Repeat([]byte{0x11}, 1<<20)) {
		t.Fatal("an interrupted rollback left a mix")
	}
	if _, err := s.Rollback(context.Background(), root, v, snap1); err != nil {
		t.Fatal(err)
	}
	if !same(t, qemuImg, "raw", sp, vol) {
		t.Fatal("the retried rollback did not restore the snapshot")
	}
	if left := temps(t, filepath.Dir(vol)); len(left) > 0 {
		t.Fatalf("temps left: %v", left)
	}
}

// fsCanReflink: a reflink finishes before any context check, so a
// cancelled context cannot stop it.
func fsCanReflink(t *testing.T, dir string) bool {
	a, _ := os.CreateTemp(dir, "probe")
	b, _ := os.CreateTemp(dir, "probe")
	defer os.Remove(a.Name())
	defer os.Remove(b.Name())
	defer a.Close()
	defer b.Close()
	return unix.IoctlFileClone(int(b.Fd()), int(a.Fd())) == nil
}

// buildTree makes a container volume's tree with everything a copy can
// get wrong: modes with set-id bits, owners, xattrs, hard links, a
// symlink to a host path (copied, never followed), a fifo, a device node,
// a read-only directory, mtimes.
func buildTree(t *testing.T, dir string) {
	t.Helper()
	root := os.Geteuid() == 0
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "etc/app"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "empty"), 0o700))
	must(os.WriteFile(filepath.Join(dir, "etc/app/conf"), []byte("a=1\n"), 0o640))
	must(os.WriteFile(filepath.Join(dir, "bin"), bytes.Repeat([]byte("ELF"), 5000), 0o755))
	must(os.Chmod(filepath.Join(dir, "bin"), 0o4755))
	must(os.Link(filepath.Join(dir, "bin"), filepath.Join(dir, "etc/bin-link")))
	must(os.Link(filepath.Join(dir, "bin"), filepath.Join(dir, "empty/bin-link2")))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "passwd")))
	must(os.Symlink("app/conf", filepath.Join(dir, "etc/conf")))
	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o620))
	must(unix.Setxattr(filepath.Join(dir, "etc/app/conf"), "user.origin", []byte("registry"), 0))
	must(unix.Setxattr(filepath.Join(dir, "etc"), "user.dir", []byte{0, 1, 2}, 0))
	big, err := os.Create(filepath.Join(dir, "sparse.img"))
	must(err)
	big.Truncate(64 << 20)
	big.WriteAt([]byte("end"), 64<<20-3)
	big.Close()
	if root {
		must(os.Lchown(filepath.Join(dir, "etc/app/conf"), 1234, 5678))
		must(os.Lchown(filepath.Join(dir, "passwd"), 42, 43))
		must(unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(unix.Lsetxattr(filepath.Join(dir, "passwd"), "trusted.label", []byte("x"), 0))
		must(os.Chown(filepath.Join(dir, "bin"), 0, 0))
		must(os.Chmod(filepath.Join(dir, "bin"), 0o4755))
	}
	must(os.MkdirAll(filepath.Join(dir, "ro/sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "ro/file"), []byte("ro"), 0o444))
	must(os.Chmod(filepath.Join(dir, "ro"), 0o555))
	ts := []unix.Timespec{unix.NsecToTimespec(1e18 + 123), unix.NsecToTimespec(1.5e18 + 456)}
	must(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(dir, "etc/app/conf"), ts, 0))
	must(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(dir, "passwd"), ts, unix.AT_SYMLINK_NOFOLLOW))
	must(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(dir, "ro"), ts, 0))
}

// treeListing renders a tree as one line per entry: type, mode, owner,
// size, mtime, content digest or link target or device, xattrs, and which
// entries share an inode (hard links), so two listings are equal exactly
// when the trees are.
func treeListing(t *testing.T, dir string) []string {
	t.Helper()
	groups := map[uint64][]string{}
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s %o %d:%d mtime=%d", rel, st.Mode, st.Uid, st.Gid, st.Mtim.Nano())
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" size=%d sum=%x", len(b), fnv(b))
			if st.Nlink > 1 {
				groups[st.Ino] = append(groups[st.Ino], rel)
			}
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case unix.S_IFCHR, unix.S_IFBLK:
			line += fmt.Sprintf(" dev=%d", st.Rdev)
		}
		if rel != "." && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			line = strings.Replace(line, " mtime=", " dmtime=", 1)
		}
		buf := make([]byte, 4096)
		n, _ := unix.Llistxattr(p, buf)
		names := splitNUL(buf[:max(n, 0)])
		sort.Strings(names)
		for _, a := range names {
			v := make([]byte, 4096)
			m, _ := unix.Lgetxattr(p, a, v)
			line += fmt.Sprintf(" %s=%q", a, v[:max(m, 0)])
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		sort.Strings(g)
		lines = append(lines, "links "+strings.Join(g, " "))
	}
	sort.Strings(lines)
	return lines
}

func fnv(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func diffLines(a, b []string) string {
	am := map[string]bool{}
	for _, l := range a {
		am[l] = true
	}
	bm := map[string]bool{}
	for _, l := range b {
		bm[l] = true
	}
	var out []string
	for _, l := range a {
		if !bm[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !am[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestContainer: a container volume's tree is copied beside it with every
// attribute, changed, and restored by a copy swapped in with one
// RENAME_EXCHANGE; a tree compare proves each step.
func TestContainer(t *testing.T) {
	for _, fs := range fileSystems(t) {
		t.Run(fs.name, func(t *testing.T) { testContainer(t, fs.root(t), fs.want) })
	}
}

func testContainer(t *testing.T, dir string, wantMethod Method) {
	root, v, vol := newVolumeIn(t, dir, materials.FormatContainer)
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	buildTree(t, vol)
	want := treeListing(t, vol)
	s := &Snapshotter{}
	ctx := context.Background()
	r, err := s.Take(ctx, root, v, snap1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != wantMethod {
		t.Fatalf("Take = %+v, want method %s", r, wantMethod)
	}
	sp, _ := layout.SnapshotPath(root, v, snap1)
	if d := diffLines(want, treeListing(t, sp)); d != "" {
		t.Fatalf("snapshot differs from the volume:\n%s", d)
	}
	if r.Bytes > 1<<20 && r.Method == MethodCopy {
		t.Fatalf("copied %d bytes: the sparse file's hole was copied", r.Bytes)
	}
	// The app changes its volume.
	os.WriteFile(filepath.Join(vol, "etc/app/conf"), []byte("a=2\n"), 0o600)
	os.Remove(filepath.Join(vol, "etc/bin-link"))
	os.Chmod(filepath.Join(vol, "bin"), 0o700)
	os.WriteFile(filepath.Join(vol, "new"), []byte("new"), 0o600)
	if d := diffLines(want, treeListing(t, vol)); d == "" {
		t.Fatal("the changes did not change the tree: the test cannot tell a rollback")
	}
	if _, err := s.Rollback(ctx, root, v, snap1); err != nil {
		t.Fatal(err)
	}
	if d := diffLines(want, treeListing(t, vol)); d != "" {
		t.Fatalf("after the rollback the volume differs from the snapshot:\n%s", d)
	}
	if d := diffLines(want, treeListing(t, sp)); d != "" {
		t.Fatalf("the rollback changed the snapshot:\n%s", d)
	}
	if left := temps(t, filepath.Dir(vol)); len(left) > 0 {
		t.Fatalf("temps left: %v", left)
	}
	// The symlink to /etc/passwd was copied, not followed.
	if target, err := os.Readlink(filepath.Join(sp, "passwd")); err != nil || target != "/etc/passwd" {
		t.Fatalf("passwd in the snapshot: %q, %v", target, err)
	}
	if _, err := s.Take(ctx, root, v, snap2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, root, v, snap1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("snapshot still there: %v", err)
	}
	if r, err := s.Delete(ctx, root, v, snap1); err != nil || !r.AlreadyDone {
		t.Fatalf("second Delete = %+v, %v", r, err)
	}
	sp2, _ := layout.SnapshotPath(root, v, snap2)
	if d := diffLines(want, treeListing(t, sp2)); d != "" {
		t.Fatalf("the second snapshot differs:\n%s", d)
	}
	if left := temps(t, filepath.Dir(vol)); len(left) > 0 {
		t.Fatalf("temps left: %v", left)
	}
}
