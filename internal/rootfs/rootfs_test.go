package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRefusesPlanted runs every operation against a symlinked directory, a
// symlinked file and a FIFO, with openat2 and with the component walk.
func TestRefusesPlanted(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		forceFallback = fallback
		t.Cleanup(func() { forceFallback = false })
		root, outside := t.TempDir(), t.TempDir()
		secret := filepath.Join(outside, "secret")
		os.WriteFile(secret, []byte("host"), 0o644)
		os.MkdirAll(filepath.Join(root, "persist"), 0o755)
		os.Symlink(outside, filepath.Join(root, "persist", "vault"))
		os.Symlink(secret, filepath.Join(root, "persist", "file"))
		syscall.Mkfifo(filepath.Join(root, "persist", "fifo"), 0o644)
		r := New(root)
		vault := filepath.Join(root, "persist", "vault", "volumes")
		if err := r.MkdirAll(vault, 0o755); !errors.Is(err, ErrSymlink) {
			t.Errorf("fallback=%v MkdirAll through a symlink: %v", fallback, err)
		}
		if _, err := r.OpenFile(filepath.Join(root, "persist", "vault", "secret"), os.O_RDWR|os.O_TRUNC, 0); !errors.Is(err, ErrSymlink) {
			t.Errorf("fallback=%v open through a symlinked dir: %v", fallback, err)
		}
		if _, err := r.OpenFile(filepath.Join(root, "persist", "file"), os.O_RDWR|os.O_TRUNC, 0); !errors.Is(err, ErrSymlink) {
			t.Errorf("fallback=%v open a symlink: %v", fallback, err)
		}
		if _, err := r.OpenFile(filepath.Join(root, "persist", "fifo"), os.O_RDONLY, 0); !errors.Is(err, ErrNotRegular) {
			t.Errorf("fallback=%v open a fifo: %v", fallback, err)
		}
		if err := r.RemoveAll(filepath.Join(root, "persist", "vault", "secret")); !errors.Is(err, ErrSymlink) {
			t.Errorf("fallback=%v RemoveAll through a symlinked dir: %v", fallback, err)
		}
		if _, err := r.OpenFile(filepath.Join(outside, "x"), os.O_RDONLY, 0); !errors.Is(err, ErrEscape) {
			t.Errorf("fallback=%v outside the root: %v", fallback, err)
		}
		if b, _ := os.ReadFile(secret); string(b) != "host" {
			t.Fatalf("outside file changed: %q", b)
		}
		// The ordinary case still works.
		d := filepath.Join(root, "persist", "own", "a")
		if err := r.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := r.OpenFile(filepath.Join(d, "f"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("ok")
		f.Close()
		if err := r.Rename(filepath.Join(d, "f"), filepath.Join(d, "g")); err != nil {
			t.Fatal(err)
		}
		if b, err := r.ReadFile(filepath.Join(d, "g"), 10); err != nil || string(b) != "ok" {
			t.Fatalf("read back %q, %v", b, err)
		}
		if err := r.SyncDir(d); err != nil {
			t.Fatal(err)
		}
		if err := r.RemoveAll(filepath.Join(root, "persist", "own")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(filepath.Join(root, "persist", "own")); !os.IsNotExist(err) {
			t.Fatalf("RemoveAll left %v", err)
		}
	}
}
