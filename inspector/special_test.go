package inspector

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSurveySpecialFiles: FIFOs, sockets and device nodes anywhere under
// the volume and blob directories (as volumes, inside a container
// volume, as .tmp, as blobs) never block a survey.
func TestSurveySpecialFiles(t *testing.T) {
	root := t.TempDir()
	uuid := "0b9a4bd4-6f7c-4d35-9a5e-3d0c8e2e5f10"
	vault := filepath.Join(root, "persist", "vault", "volumes")
	ctr := filepath.Join(vault, uuid+"#2.container")
	blobs := filepath.Join(root, "persist", "blobs", "sha256")
	legacy := filepath.Join(root, "persist", "img")
	for _, d := range []string{vault, ctr, blobs, legacy} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fifos := []string{
		filepath.Join(vault, uuid+"#1.raw"), filepath.Join(vault, uuid+"#3.qcow2.tmp"),
		filepath.Join(ctr, "pipe"), filepath.Join(blobs, "0000000000000000000000000000000000000000000000000000000000000000"),
		filepath.Join(legacy, "0000000000000000000000000000000000000000000000000000000000000000-"+uuid+".qcow2"),
	}
	for _, p := range fifos {
		if err := unix.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("unix", filepath.Join(vault, uuid+"#4.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A character device (a copy of /dev/zero's numbers), when allowed.
	_ = unix.Mknod(filepath.Join(vault, uuid+"#5.raw"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5)))
	done := make(chan error, 1)
	go func() {
		_, err := Survey(context.Background(), Options{Root: root})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("survey: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("survey blocks on a special file")
	}
}
