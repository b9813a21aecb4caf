package containerd_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/edgewright/edgewright/assembler/crafts/containerd"
	"github.com/opencontainers/go-digest"
)

// TestContainerdPathRefusesPlanted: the containerd store writes nothing
// under the root (its ingests go through containerd's API), but it reads
// blobs straight from containerd's content directory, and Path hands
// them to qemu-img. A symlink planted there (to a host file) or a FIFO is
// not a blob: Path gives "" and the read goes through containerd's API.
func TestContainerdPathRefusesPlanted(t *testing.T) {
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs", "sha256")
	os.MkdirAll(blobs, 0o755)
	secret := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(secret, []byte("root:secret"), 0o600)
	real := digest.FromString("real")
	os.WriteFile(filepath.Join(blobs, real.Encoded()), []byte("real"), 0o644)
	link := digest.FromString("link")
	if err := os.Symlink(secret, filepath.Join(blobs, link.Encoded())); err != nil {
		t.Fatal(err)
	}
	fifo := digest.FromString("fifo")
	if err := syscall.Mkfifo(filepath.Join(blobs, fifo.Encoded()), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &containerd.Store{ContentDir: dir}
	if p := c.Path(real); p != filepath.Join(blobs, real.Encoded()) {
		t.Fatalf("Path of a real blob = %q", p)
	}
	for what, d := range map[string]digest.Digest{"symlink to a host file": link, "FIFO": fifo} {
		if p := c.Path(d); p != "" {
			t.Errorf("%s: Path = %q, want \"\"", what, p)
		}
	}
}
