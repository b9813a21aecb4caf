package inspector

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// TestDeepen runs the real qemu-img check through Deepen on real qcow2
// volumes, sound and damaged, and on what it must not check.
func TestDeepen(t *testing.T) {
	qemu := testenv.QemuImg(t)
	const id = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	name := func(gen int) string { return vault + id + "#" + string(rune('0'+gen)) + ".qcow2" }
	tests := []struct {
		name string
		// damage prepares the volume at path (a sound qcow2) before the
		// survey; after runs between the survey and Deepen.
		damage, after func(t testing.TB, path string)
		// hold is an open file that keeps qemu's lock while Deepen runs.
		hold  func(t *testing.T, path string) *os.File
		want  *materials.ImageCheck
		error string // a substring of Check.Error
	}{
		{name: "sound", want: &materials.ImageCheck{}},
		{name: "refcount block garbage", damage: testenv.DamageQcow2Refcounts, want: &materials.ImageCheck{Corruptions: -1}},
		{name: "one leaked cluster", damage: testenv.LeakQcow2Cluster, want: &materials.ImageCheck{Leaks: 1}},
		{name: "truncated header: broken, not checked", damage: func(t testing.TB, p string) {
			if err := os.Truncate(p, 40); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "backing file: broken, not checked", damage: func(t testing.TB, p string) {
			os.Remove(p)
			qemuImg(t, "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/etc/hostname", p)
		}},
		{name: "replaced by a symlink after the survey", after: func(t testing.TB, p string) {
			if err := os.Rename(p, p+".moved"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Base(p)+".moved", p); err != nil {
				t.Fatal(err)
			}
		}, want: &materials.ImageCheck{}, error: "ELOOP"},
		{name: "rewritten after the survey", after: func(t testing.TB, p string) {
			testenv.LeakQcow2Cluster(t, p)
		}, want: &materials.ImageCheck{}, error: "changed since the survey"},
		{name: "in use by a writer", hold: holdWriteLock, want: &materials.ImageCheck{}, error: "in use (qemu's image lock refused the check)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			p := filepath.Join(root, name(1))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			testenv.Qcow2(t, p)
			if tc.damage != nil {
				tc.damage(t, p)
			}
			fp := survey(t, Options{Root: root})
			before := fp.Fingerprint
			if tc.after != nil {
				tc.after(t, p)
			}
			if tc.hold != nil {
				defer tc.hold(t, p).Close()
			}
			if err := Deepen(context.Background(), fp, root, qemu); err != nil {
				t.Fatalf("Deepen: %v", err)
			}
			v := volumeAt(fp, name(1))
			if v == nil {
				t.Fatalf("volume not surveyed: %+v", fp.Volumes)
			}
			got := v.Check
			switch {
			case tc.want == nil && got != nil:
				t.Fatalf("checked a %s volume (%s): %+v", v.State, v.Reason, got)
			case tc.want == nil:
			case got == nil:
				t.Fatalf("not checked; state %s %s", v.State, v.Reason)
			case tc.error != "":
				if !strings.Contains(got.Error, tc.error) {
					t.Fatalf("Check %+v, want an error with %q", got, tc.error)
				}
			case got.Error != "":
				t.Fatalf("Check error %q", got.Error)
			case tc.want.Corruptions < 0:
				if got.Corruptions == 0 {
					t.Fatalf("Check %+v, want corruptions", got)
				}
			case *got != *tc.want:
				t.Fatalf("Check %+v, want %+v", got, tc.want)
			}
			if materials.Fingerprint(fp) != before {
				t.Errorf("Deepen changed the fingerprint")
			}
		})
	}
}

// holdWriteLock takes the lock byte qemu takes for write permission (an
// OFD read lock on byte 100+1, as a running VM holds it), so that a
// reader that does not share writes is refused.
func holdWriteLock(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: 101, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDeepenBoundsOutput: a qemu-img that writes without end is read only
// to the bound, and the check says so.
func TestDeepenBoundsOutput(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, vault+"6ba7b810-9dad-11d1-80b4-00c04fd430c8#1.qcow2")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.Qcow2(t, p)
	fake := filepath.Join(t.TempDir(), "qemu-img")
	// Fault injection: a qemu-img whose JSON never ends.
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nhead -c 10000000 /dev/zero | tr '\\0' ' '\nhead -c 1000000 /dev/zero >&2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fp := survey(t, Options{Root: root})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Deepen(ctx, fp, root, fake); err != nil {
		t.Fatal(err)
	}
	if c := fp.Volumes[0].Check; c == nil || !strings.Contains(c.Error, "more than 65536 bytes") {
		t.Fatalf("Check %+v", c)
	}
	if err := Deepen(ctx, fp, root, filepath.Join(root, "no-qemu-img")); err == nil {
		t.Fatal("Deepen with a missing qemu-img did not fail")
	}
}
