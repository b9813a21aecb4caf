package durable

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// dirAndLink makes root/dir and root/link, a symlink to it.
func dirAndLink(t *testing.T) (root, dir string) {
	t.Helper()
	root = t.TempDir()
	dir = filepath.Join(root, "dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	return root, dir
}

func TestSyncDir(t *testing.T) {
	root, dir := dirAndLink(t)
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		want error // nil: synced
	}{
		{"a directory", dir, nil},
		// O_NOFOLLOW with O_DIRECTORY: Linux answers ENOTDIR for a symlink.
		{"a symlink at its name is refused, not followed", filepath.Join(root, "link"), syscall.ENOTDIR},
		{"a file is not a directory", filepath.Join(root, "file"), syscall.ENOTDIR},
		{"missing", filepath.Join(root, "gone"), os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := SyncDir(tc.path)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("SyncDir(%s) = %v, want %v", tc.path, err, tc.want)
			}
		})
	}
}

func TestRename(t *testing.T) {
	root, dir := dirAndLink(t)
	for _, tc := range []struct {
		name    string
		to      string
		wantErr error
	}{
		{"into a directory", filepath.Join(dir, "b"), nil},
		{"missing directory", filepath.Join(root, "gone", "b"), os.ErrNotExist},
		// The rename is done, but its directory is not fsynced through
		// the symlink: the caller hears it is not durable.
		{"directory named by a symlink", filepath.Join(root, "link", "b"), syscall.ENOTDIR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := filepath.Join(root, "a")
			if err := os.WriteFile(from, []byte("whole"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Rename(from, tc.to)
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("Rename = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if b, err := os.ReadFile(tc.to); err != nil || string(b) != "whole" {
				t.Errorf("after Rename %s holds %q (%v)", tc.to, b, err)
			}
		})
	}
}
