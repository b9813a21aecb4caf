package inspector

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// openWatch reports whether any of the watched files was opened while it
// ran: an inotify IN_OPEN watch, so "never opened" is seen, not assumed.
type openWatch struct {
	fd    int
	names map[int]string
}

func watchOpens(t *testing.T, paths ...string) *openWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	w := &openWatch{fd: fd, names: map[int]string{}}
	for _, p := range paths {
		wd, err := unix.InotifyAddWatch(fd, p, unix.IN_OPEN|unix.IN_ACCESS)
		if err != nil {
			t.Fatalf("watch %s: %v", p, err)
		}
		w.names[wd] = p
	}
	return w
}

// opened lists the watched files opened or read since the watch began.
func (w *openWatch) opened(t *testing.T) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(w.fd, buf)
		if err == unix.EAGAIN || n <= 0 {
			return out
		}
		if err != nil {
			t.Fatalf("read inotify: %v", err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafePointer(&buf[off]))
			out = append(out, w.names[int(ev.Wd)])
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestBackingChains builds overlays with the real qemu-img, each naming a
// backing file (qemu-img create -u: the name is written, not opened), and
// checks what the survey makes of each: a chain inside the root's stores
// is complete with its links, anything else broken with a reason and its
// target never opened.
func TestBackingChains(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	ctrDir := t.TempDir() // a containerd content directory outside the root
	mkdirs(t, root, vault, clear, layout.BlobsSHA256Dir)
	mkdirs(t, ctrDir, ContainerdContentBlobs)
	v := func(name string) string { return filepath.Join(root, vault, name) }

	// A raw content blob and a qcow2 one, in the blob directory.
	rawData := []byte(strings.Repeat("guest bytes ", 4096))
	rawHex := sha256Hex(rawData)
	writeFile(t, filepath.Join(root, layout.BlobsSHA256Dir, rawHex), rawData)
	q := filepath.Join(outside, "content.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", q, "8M")
	qData, err := os.ReadFile(q)
	if err != nil {
		t.Fatal(err)
	}
	qHex := sha256Hex(qData)
	writeFile(t, filepath.Join(root, layout.BlobsSHA256Dir, qHex), qData)
	// A qcow2 "blob" that names a backing of its own: never a backing.
	qb := filepath.Join(outside, "named.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-u", "-b", "/etc/passwd", "-F", "raw", qb, "8M")
	qbData, _ := os.ReadFile(qb)
	qbHex := sha256Hex(qbData)
	writeFile(t, filepath.Join(root, layout.BlobsSHA256Dir, qbHex), qbData)
	// A blob of containerd's content directory.
	writeFile(t, filepath.Join(ctrDir, ContainerdContentBlobs, rawHex), rawData)

	// Files outside the stores that a hostile header names.
	secret := filepath.Join(outside, "secret")
	writeFile(t, secret, []byte("not for qemu"))
	linkTarget := filepath.Join(outside, "link-target")
	writeFile(t, linkTarget, rawData)
	symHex := sha256Hex([]byte("a symlink in the blob directory"))
	if err := os.Symlink(linkTarget, filepath.Join(root, layout.BlobsSHA256Dir, symHex)); err != nil {
		t.Fatal(err)
	}
	missingHex := sha256Hex([]byte("never fetched"))

	overlay := func(name, backing, format string) {
		qemuImg(t, "create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", format, v(name), "8M")
	}
	relBlob := func(h string) string { return "../../blobs/sha256/" + h }
	overlay(uuidA+"#1.qcow2", relBlob(rawHex), "raw")
	overlay(uuidA+"#2.qcow2", filepath.Join(root, layout.BlobsSHA256Dir, qHex), "qcow2")
	overlay(uuidA+"#3.qcow2", relBlob(missingHex), "raw")
	overlay(uuidA+"#4.qcow2", "/etc/shadow", "raw")
	overlay(uuidA+"#5.qcow2", secret, "raw")
	overlay(uuidA+"#6.qcow2", "../../../../../../../../.."+secret, "raw")
	overlay(uuidA+"#7.qcow2", relBlob(symHex), "raw")
	overlay(uuidA+"#8.qcow2", relBlob(qbHex), "qcow2")
	overlay(uuidA+"#9.qcow2", relBlob(rawHex), "qcow2") // the header lies about the format
	overlay(uuidA+"#10.qcow2", filepath.Join(ctrDir, ContainerdContentBlobs, rawHex), "raw")
	overlay(uuidA+"#11.qcow2", "nbd:127.0.0.1:10809", "raw")
	// An overlay chain of one volume: #21 on #20 on the raw blob.
	overlay(uuidA+"#20.qcow2", relBlob(rawHex), "raw")
	overlay(uuidA+"#21.qcow2", uuidA+"#20.qcow2", "qcow2")
	// A loop, and a link to another volume's file.
	overlay(uuidA+"#30.qcow2", uuidA+"#31.qcow2", "qcow2")
	overlay(uuidA+"#31.qcow2", uuidA+"#30.qcow2", "qcow2")
	overlay(uuidB+"#1.qcow2", uuidA+"#20.qcow2", "qcow2")
	// A legacy-layout file may be backed by a blob, not by a volume.
	mkdirs(t, root, legacy)

	w := watchOpens(t, secret, linkTarget)
	fp := survey(t, Options{Root: root, ContainerdContentDir: ctrDir})
	if got := w.opened(t); len(got) > 0 {
		t.Fatalf("the survey opened files outside the stores: %v", got)
	}

	blob := func(h string) digest.Digest { return digest.NewDigestFromEncoded(digest.SHA256, h) }
	for _, tc := range []struct {
		name    string
		state   materials.State
		reason  string
		backing []materials.BackingLink
	}{
		{name: uuidA + "#1.qcow2", state: materials.StateComplete,
			backing: []materials.BackingLink{{Name: relBlob(rawHex), Blob: blob(rawHex), Format: materials.FormatRaw}}},
		{name: uuidA + "#2.qcow2", state: materials.StateComplete,
			backing: []materials.BackingLink{{Name: filepath.Join(root, layout.BlobsSHA256Dir, qHex), Blob: blob(qHex), Format: materials.FormatQcow2}}},
		{name: uuidA + "#3.qcow2", state: materials.StateBroken, reason: "backing blob " + string(blob(missingHex)) + " is missing",
			backing: []materials.BackingLink{{Name: relBlob(missingHex), Blob: blob(missingHex), Missing: true}}},
		{name: uuidA + "#4.qcow2", state: materials.StateBroken, reason: `names a backing file "/etc/shadow": lies outside the root's stores; never opened`,
			backing: []materials.BackingLink{{Name: "/etc/shadow"}}},
		{name: uuidA + "#5.qcow2", state: materials.StateBroken, reason: "lies outside the root's stores; never opened",
			backing: []materials.BackingLink{{Name: secret}}},
		{name: uuidA + "#6.qcow2", state: materials.StateBroken, reason: "lies outside the root; never opened",
			backing: []materials.BackingLink{{Name: "../../../../../../../../.." + secret}}},
		{name: uuidA + "#7.qcow2", state: materials.StateBroken, reason: "a symlink (or not a directory) on the way; not followed",
			backing: []materials.BackingLink{{Name: relBlob(symHex), Blob: blob(symHex)}}},
		{name: uuidA + "#8.qcow2", state: materials.StateBroken, reason: "a content blob that names a backing file of its own",
			backing: []materials.BackingLink{{Name: relBlob(qbHex), Blob: blob(qbHex)}}},
		{name: uuidA + "#9.qcow2", state: materials.StateBroken, reason: "header says backing format qcow2 but backing file",
			backing: []materials.BackingLink{{Name: relBlob(rawHex), Blob: blob(rawHex), Format: materials.FormatRaw}}},
		{name: uuidA + "#10.qcow2", state: materials.StateComplete,
			backing: []materials.BackingLink{{Name: filepath.Join(ctrDir, ContainerdContentBlobs, rawHex), Blob: blob(rawHex), Format: materials.FormatRaw}}},
		{name: uuidA + "#11.qcow2", state: materials.StateBroken, reason: "a protocol",
			backing: []materials.BackingLink{{Name: "nbd:127.0.0.1:10809"}}},
		{name: uuidA + "#21.qcow2", state: materials.StateComplete, backing: []materials.BackingLink{
			{Name: uuidA + "#20.qcow2", Path: vault + uuidA + "#20.qcow2", Format: materials.FormatQcow2},
			{Name: relBlob(rawHex), Blob: blob(rawHex), Format: materials.FormatRaw},
		}},
		{name: uuidA + "#30.qcow2", state: materials.StateBroken, reason: "loops back", backing: []materials.BackingLink{
			{Name: uuidA + "#31.qcow2", Path: vault + uuidA + "#31.qcow2", Format: materials.FormatQcow2},
			{Name: uuidA + "#30.qcow2", Path: vault + uuidA + "#30.qcow2"},
		}},
		{name: uuidB + "#1.qcow2", state: materials.StateBroken, reason: "not another volume file of the same volume",
			backing: []materials.BackingLink{{Name: uuidA + "#20.qcow2"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := volumeAt(fp, vault+tc.name)
			if got == nil {
				t.Fatalf("not surveyed; volumes: %+v", fp.Volumes)
			}
			if got.State != tc.state || !strings.Contains(got.Reason, tc.reason) || (tc.reason == "" && got.Reason != "") {
				t.Errorf("state %s reason %q, want %s %q", got.State, got.Reason, tc.state, tc.reason)
			}
			if !slices.Equal(got.Backing, tc.backing) {
				t.Errorf("backing %+v, want %+v", got.Backing, tc.backing)
			}
		})
	}

	// The chain is part of the fingerprint: a plan made before a backing
	// blob went missing does not apply after.
	before := fp.Fingerprint
	if err := os.Remove(filepath.Join(root, layout.BlobsSHA256Dir, qHex)); err != nil {
		t.Fatal(err)
	}
	after := survey(t, Options{Root: root, ContainerdContentDir: ctrDir})
	if after.Fingerprint == before {
		t.Error("fingerprint unchanged after a backing blob went missing")
	}
	if got := volumeAt(after, vault+uuidA+"#2.qcow2"); got.State != materials.StateBroken || len(got.Backing) != 1 || !got.Backing[0].Missing {
		t.Errorf("after the blob went: %+v", got)
	}

	// Without the containerd content directory, its blobs are outside
	// the stores.
	plain := survey(t, Options{Root: root})
	if got := volumeAt(plain, vault+uuidA+"#10.qcow2"); got.State != materials.StateBroken {
		t.Errorf("containerd-backed overlay without the content directory: %s %q", got.State, got.Reason)
	}
}

// TestBackingNameResolves: the name the assembler writes for a space
// overlay is one the inspector resolves to the blob, in both volume
// directories.
func TestBackingNameResolves(t *testing.T) {
	d := digest.FromString("content")
	s := &surveyor{root: "/r", ctrfd: -1}
	for _, clearText := range []bool{false, true} {
		vol := materials.Volume{ID: uuidA, Generation: 1, Format: materials.FormatQcow2, ClearText: clearText}
		name, err := layout.BackingName(vol, d)
		if err != nil {
			t.Fatal(err)
		}
		final, _ := layout.VolumePath("/r", vol)
		rel, _ := layout.Rel("/r", final)
		got, why := s.resolveBacking(rel, uuidA, name)
		if why != "" || got.blob != d || got.store != inRoot {
			t.Errorf("clear=%v: %q resolves to %+v (%s)", clearText, name, got, why)
		}
	}
}

func unsafePointer(b *byte) unsafe.Pointer { return unsafe.Pointer(b) }
