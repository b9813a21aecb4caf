package inspector

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgewright/edgewright/materials"
)

const (
	vault  = "persist/vault/volumes/"
	clear  = "persist/clear/volumes/"
	legacy = "persist/img/"
)

// TestSurveyVolumes builds one root with every kind of volume entry, made
// with the real qemu-img where a qcow2 is needed, and checks what the
// survey says of each.
func TestSurveyVolumes(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir() // things a symlink may point at; never to be read
	mkdirs(t, root, vault, clear, legacy)
	v := func(name string) string { return filepath.Join(root, vault, name) }

	// Real qcow2 images.
	qemuImg(t, "create", "-q", "-f", "qcow2", "-o", "compat=1.1", v(uuidA+"#1.qcow2"), "1G")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-o", "compat=0.10", v(uuidA+"#2.qcow2"), "2G")
	base := filepath.Join(outside, "base.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", base, "512M")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", v(uuidA+"#3.qcow2"))
	qemuImg(t, "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", base, "-F", "qcow2", v(uuidA+"#4.qcow2"))
	// A backing name longer than the 512 bytes read up front.
	longBacking := "/" + strings.Repeat("b", 200) + "/" + strings.Repeat("c", 200) + "/" + strings.Repeat("d", 200) + ".qcow2"
	qemuImg(t, "create", "-q", "-f", "qcow2", "-u", "-b", longBacking, "-F", "qcow2", v(uuidA+"#5.qcow2"), "3G")
	// A qcow2 whose data lives in a host file: never complete.
	qemuImg(t, "create", "-q", "-f", "qcow2", "-o", "data_file="+filepath.Join(outside, "data"), v(uuidA+"#13.qcow2"), "1M")
	// A qcow2 under a .raw name: the header wins.
	qemuImg(t, "create", "-q", "-f", "qcow2", v(uuidA+"#6.raw"), "1M")
	// Sparse raw: 64 MiB apparent, one 4 KiB block written.
	sparse := v(uuidA + "#7.raw")
	writeFile(t, sparse, nil)
	if err := os.Truncate(sparse, 64<<20); err != nil {
		t.Fatal(err)
	}
	patchFile(t, sparse, 1<<20, []byte(strings.Repeat("x", 4096)))
	// A raw file smaller than a header.
	writeFile(t, v(uuidA+"#8.raw"), []byte("tiny"))
	// A container volume: a tree with a nested dir and a symlink out of the
	// root, which must be counted as a link, not followed.
	ctr := v(uuidA + "#9.container")
	writeFile(t, filepath.Join(ctr, "rootfs/etc/hostname"), []byte("edge\n"))
	writeFile(t, filepath.Join(ctr, "config.json"), []byte(`{"a":1}`))
	writeFile(t, filepath.Join(outside, "big"), make([]byte, 1<<20))
	if err := os.Symlink(filepath.Join(outside, "big"), filepath.Join(ctr, "rootfs/escape")); err != nil {
		t.Fatal(err)
	}
	wantCtrApparent, wantCtrAllocated := duTree(t, ctr)
	// Work in progress.
	qemuImg(t, "create", "-q", "-f", "qcow2", v(uuidA+"#10.qcow2.tmp"), "1G")
	mkdirs(t, root, vault+uuidA+"#11.container.tmp")
	writeFile(t, v(uuidA+"#12.qcow2.tmp"), []byte("QFI\xfb\x00\x00")) // half-written header
	// Corrupt qcow2 headers, from real images.
	mk := func(name string) string {
		p := v(name)
		qemuImg(t, "create", "-q", "-f", "qcow2", p, "1G")
		return p
	}
	if err := os.Truncate(mk(uuidB+"#1.qcow2"), 40); err != nil {
		t.Fatal(err)
	}
	patchFile(t, mk(uuidB+"#2.qcow2"), 4, be32(7))
	bo := mk(uuidB + "#3.qcow2")
	patchFile(t, bo, 8, be64(1<<40))
	patchFile(t, bo, 16, be32(10))
	patchFile(t, mk(uuidB+"#4.qcow2"), 24, be64(0))
	patchFile(t, mk(uuidB+"#5.qcow2"), 24, be64(1<<62))
	patchFile(t, mk(uuidB+"#6.qcow2"), 72, be64(2)) // the corrupt bit
	patchFile(t, mk(uuidB+"#7.qcow2"), 20, be32(40))
	// Shape that contradicts the name.
	writeFile(t, v(uuidB+"#8.container"), []byte("not a dir"))
	mkdirs(t, root, vault+uuidB+"#9.qcow2")
	// Names it cannot parse, and names it must not trust.
	writeFile(t, v("notes.txt"), []byte("hello"))
	writeFile(t, v(uuidA+"#01.raw"), []byte("x"))
	writeFile(t, v("a..b#1.raw"), []byte("x"))
	writeFile(t, v(`x\y#1.raw`), []byte("x"))
	writeFile(t, v("new\nline.raw"), []byte("x"))
	// A symlink in the volumes dir pointing out of the root, at a real
	// qcow2: nothing of the target may appear.
	if err := os.Symlink(base, v(uuidB+"#10.qcow2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../"+filepath.Base(outside), v(uuidB+"#11.container")); err != nil {
		t.Fatal(err)
	}
	// A FIFO must not be opened (it would block).
	if err := syscall.Mkfifo(v(uuidB+"#12.raw"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Clear-text and legacy layouts.
	writeFile(t, filepath.Join(root, clear, uuidB+"#1.raw"), make([]byte, 8192))
	qemuImg(t, "create", "-q", "-f", "qcow2", filepath.Join(root, legacy, shaA+"-"+uuidB+"#2.qcow2"), "4G")
	writeFile(t, filepath.Join(root, legacy, shaA+"-"+uuidB+".raw"), make([]byte, 1024))
	writeFile(t, filepath.Join(root, legacy, "garbage.qcow2"), []byte("x"))

	fp := survey(t, Options{Root: root})

	type want struct {
		format      materials.Format
		state       materials.State
		reason      string // substring; "" means no reason
		virtual     int64  // -1: skip
		backing     string
		id          string
		gen         int64
		temp, dir   bool
		clearText   bool
		legacy      *materials.LegacyName
		sizesFromFS bool // apparent/allocated/mtime equal lstat's
	}
	for _, tc := range []struct {
		path string
		want want
	}{
		{vault + uuidA + "#1.qcow2", want{format: "qcow2", state: "complete", virtual: 1 << 30, id: uuidA, gen: 1, sizesFromFS: true}},
		{vault + uuidA + "#2.qcow2", want{format: "qcow2", state: "complete", virtual: 2 << 30, id: uuidA, gen: 2, sizesFromFS: true}},
		{vault + uuidA + "#3.qcow2", want{format: "qcow2", state: "broken", reason: "names a backing file", virtual: 512 << 20, backing: base, id: uuidA, gen: 3, sizesFromFS: true}},
		{vault + uuidA + "#4.qcow2", want{format: "qcow2", state: "broken", reason: "names a backing file", virtual: 512 << 20, backing: base, id: uuidA, gen: 4, sizesFromFS: true}},
		{vault + uuidA + "#5.qcow2", want{format: "qcow2", state: "broken", reason: "names a backing file", virtual: 3 << 30, backing: longBacking, id: uuidA, gen: 5, sizesFromFS: true}},
		{vault + uuidA + "#13.qcow2", want{format: "qcow2", state: "broken", reason: "external data file", virtual: 1 << 20, id: uuidA, gen: 13, sizesFromFS: true}},
		{vault + uuidA + "#6.raw", want{format: "qcow2", state: "complete", virtual: 1 << 20, id: uuidA, gen: 6, sizesFromFS: true}},
		{vault + uuidA + "#7.raw", want{format: "raw", state: "complete", virtual: 64 << 20, id: uuidA, gen: 7, sizesFromFS: true}},
		{vault + uuidA + "#8.raw", want{format: "raw", state: "complete", virtual: 4, id: uuidA, gen: 8, sizesFromFS: true}},
		{vault + uuidA + "#9.container", want{format: "container", state: "complete", virtual: wantCtrApparent, id: uuidA, gen: 9, dir: true}},
		{vault + uuidA + "#10.qcow2.tmp", want{format: "qcow2", state: "partial", reason: "work in progress", virtual: 1 << 30, id: uuidA, gen: 10, temp: true}},
		{vault + uuidA + "#11.container.tmp", want{format: "container", state: "partial", reason: "work in progress", virtual: -1, id: uuidA, gen: 11, temp: true, dir: true}},
		{vault + uuidA + "#12.qcow2.tmp", want{format: "qcow2", state: "partial", reason: "truncated", virtual: 0, id: uuidA, gen: 12, temp: true}},
		{vault + uuidB + "#1.qcow2", want{format: "qcow2", state: "broken", reason: "header truncated: 40 bytes", id: uuidB, gen: 1}},
		{vault + uuidB + "#2.qcow2", want{format: "qcow2", state: "broken", reason: "unsupported version 7", id: uuidB, gen: 2}},
		{vault + uuidB + "#3.qcow2", want{format: "qcow2", state: "broken", reason: "backing file name at 1099511627776+10 lies outside", id: uuidB, gen: 3, virtual: -1}},
		{vault + uuidB + "#4.qcow2", want{format: "qcow2", state: "broken", reason: "virtual size is 0", id: uuidB, gen: 4}},
		{vault + uuidB + "#5.qcow2", want{format: "qcow2", state: "broken", reason: "virtual size 4611686018427387904 is absurd", id: uuidB, gen: 5}},
		{vault + uuidB + "#6.qcow2", want{format: "qcow2", state: "broken", reason: "marked corrupt", id: uuidB, gen: 6}},
		{vault + uuidB + "#7.qcow2", want{format: "qcow2", state: "broken", reason: "cluster_bits 40", id: uuidB, gen: 7}},
		{vault + uuidB + "#8.container", want{format: "raw", state: "broken", reason: "named .container but is a file", virtual: 9, id: uuidB, gen: 8}},
		{vault + uuidB + "#9.qcow2", want{format: "container", state: "broken", reason: "a directory named .qcow2", virtual: -1, id: uuidB, gen: 9, dir: true}},
		{vault + "notes.txt", want{format: "raw", state: "unknown", reason: "unknown format extension \"txt\"", virtual: 5}},
		{vault + uuidA + "#01.raw", want{format: "raw", state: "unknown", reason: "generation \"01\" is not a canonical", virtual: 1}},
		{vault + "a..b#1.raw", want{state: "unknown", reason: "contains '..', not trusted", sizesFromFS: true}},
		{vault + `x\y#1.raw`, want{state: "unknown", reason: "path separator, not trusted", sizesFromFS: true}},
		{vault + "new\nline.raw", want{state: "unknown", reason: "control character, not trusted", sizesFromFS: true}},
		{vault + uuidB + "#10.qcow2", want{state: "broken", reason: "a symlink, not a volume", id: uuidB, gen: 10, sizesFromFS: true}},
		{vault + uuidB + "#11.container", want{state: "broken", reason: "a symlink, not a volume", id: uuidB, gen: 11, sizesFromFS: true}},
		{vault + uuidB + "#12.raw", want{state: "broken", reason: "a fifo, not a volume", id: uuidB, gen: 12, sizesFromFS: true}},
		{clear + uuidB + "#1.raw", want{format: "raw", state: "complete", virtual: 8192, id: uuidB, gen: 1, clearText: true, sizesFromFS: true}},
		{legacy + shaA + "-" + uuidB + "#2.qcow2", want{format: "qcow2", state: "complete", virtual: 4 << 30, legacy: &materials.LegacyName{SHA256: shaA, App: uuidB, Purge: 2}, sizesFromFS: true}},
		{legacy + shaA + "-" + uuidB + ".raw", want{format: "raw", state: "complete", virtual: 1024, legacy: &materials.LegacyName{SHA256: shaA, App: uuidB}, sizesFromFS: true}},
		{legacy + "garbage.qcow2", want{format: "raw", state: "unknown", reason: "does not start with <sha256>-", virtual: 1}},
	} {
		t.Run(strings.ReplaceAll(tc.path, "\n", `\n`), func(t *testing.T) {
			got := volumeAt(fp, tc.path)
			if got == nil {
				t.Fatalf("not in the Floorplan; volumes: %v", paths(fp))
			}
			w := tc.want
			if got.Format != w.format || got.State != w.state || got.ID != w.id || got.Generation != w.gen ||
				got.Temp != w.temp || got.Dir != w.dir || got.ClearText != w.clearText || got.BackingFile != w.backing {
				t.Errorf("got format=%q state=%q id=%q gen=%d temp=%v dir=%v clear=%v backing=%q, want %+v",
					got.Format, got.State, got.ID, got.Generation, got.Temp, got.Dir, got.ClearText, got.BackingFile, w)
			}
			if w.reason == "" && got.Reason != "" || !strings.Contains(got.Reason, w.reason) {
				t.Errorf("reason %q, want %q", got.Reason, w.reason)
			}
			if w.virtual >= 0 && got.VirtualSize != w.virtual {
				t.Errorf("virtual size %d, want %d", got.VirtualSize, w.virtual)
			}
			if diff := cmp.Diff(w.legacy, got.Legacy); diff != "" {
				t.Errorf("legacy (-want +got):\n%s", diff)
			}
			if w.sizesFromFS {
				fi, err := os.Lstat(filepath.Join(root, tc.path))
				if err != nil {
					t.Fatal(err)
				}
				if got.ApparentSize != fi.Size() || got.AllocatedSize != statBlocks(fi)*512 || !got.ModTime.Equal(fi.ModTime()) {
					t.Errorf("sizes %d/%d mtime %v, lstat says %d/%d %v", got.ApparentSize, got.AllocatedSize,
						got.ModTime, fi.Size(), statBlocks(fi)*512, fi.ModTime())
				}
			}
		})
	}
	if n := len(fp.Volumes); n != 34 {
		t.Errorf("%d volumes, want 34: %v", n, paths(fp))
	}

	t.Run("sparse raw allocates less than it spans", func(t *testing.T) {
		got := volumeAt(fp, vault+uuidA+"#7.raw")
		if got.AllocatedSize <= 0 || got.AllocatedSize >= got.ApparentSize {
			t.Fatalf("allocated %d, apparent %d: want 0 < allocated < apparent", got.AllocatedSize, got.ApparentSize)
		}
	})
	t.Run("container sizes are du's, symlink not followed", func(t *testing.T) {
		got := volumeAt(fp, vault+uuidA+"#9.container")
		if got.ApparentSize != wantCtrApparent || got.AllocatedSize != wantCtrAllocated {
			t.Fatalf("container %d/%d, want %d/%d", got.ApparentSize, got.AllocatedSize, wantCtrApparent, wantCtrAllocated)
		}
		if got.ApparentSize >= 1<<20 {
			t.Fatalf("apparent %d includes the 1 MiB symlink target", got.ApparentSize)
		}
	})
	t.Run("symlinked qcow2 reveals nothing of its target", func(t *testing.T) {
		got := volumeAt(fp, vault+uuidB+"#10.qcow2")
		if got.VirtualSize != 0 || got.Format != "" || got.ApparentSize != int64(len(base)) {
			t.Fatalf("symlink entry %+v: want no format, no virtual size, apparent = link length %d", got, len(base))
		}
	})
	t.Run("diagnostics", func(t *testing.T) {
		// Only the extension mismatch is worth a diagnostic here; every
		// other problem is in the volume's own state and reason.
		if len(fp.Diagnostics) != 1 {
			t.Fatalf("diagnostics %v, want exactly the extension mismatch", fp.Diagnostics)
		}
		d := fp.Diagnostics[0]
		if d.Path != vault+uuidA+"#6.raw" || d.Severity != materials.SeverityWarning || !strings.Contains(d.Message, "extension says raw but the header says qcow2") {
			t.Fatalf("diagnostic %v", d)
		}
	})
	t.Run("sorted by path", func(t *testing.T) {
		for i := 1; i < len(fp.Volumes); i++ {
			if fp.Volumes[i-1].Path >= fp.Volumes[i].Path {
				t.Fatalf("volumes[%d]=%q before %q", i-1, fp.Volumes[i-1].Path, fp.Volumes[i].Path)
			}
		}
	})
}

func paths(fp *materials.Floorplan) []string {
	var out []string
	for _, v := range fp.Volumes {
		out = append(out, v.Path)
	}
	return out
}

// TestSurveyContainerMountNotCrossed: a file system mounted inside a
// container volume is not counted (du -x), and the survey says so.
func TestSurveyContainerMountNotCrossed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	root := t.TempDir()
	ctr := filepath.Join(root, vault, uuidA+"#1.container")
	mnt := filepath.Join(ctr, "mnt")
	mkdirs(t, root, vault+uuidA+"#1.container/mnt")
	writeFile(t, filepath.Join(ctr, "small"), []byte("small"))
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	writeFile(t, filepath.Join(mnt, "big"), make([]byte, 1<<20))

	fp := survey(t, Options{Root: root})
	v := volumeAt(fp, vault+uuidA+"#1.container")
	if v == nil || v.State != materials.StateComplete || v.ApparentSize >= 1<<20 {
		t.Fatalf("container %+v: want complete without the mounted 1 MiB", v)
	}
	d := diagAt(fp, vault+uuidA+"#1.container/mnt")
	if d == nil || !strings.Contains(d.Message, "mount point") || d.Severity != materials.SeverityWarning {
		t.Fatalf("diagnostics %v", fp.Diagnostics)
	}
}
