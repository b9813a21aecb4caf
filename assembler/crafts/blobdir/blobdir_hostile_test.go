package blobdir

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// noHang runs fn and fails the test (instead of hanging it) when fn blocks.
func noHang(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s blocks", what)
	}
}

// TestBlobDirPlanted: entries planted at the blob directory's own work
// paths are never written through and never block a download.
func TestBlobDirPlanted(t *testing.T) {
	body := bytes.Repeat([]byte("edgewright"), 1000)
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	d := digest.NewDigestFromEncoded(digest.SHA256, h)
	const secret = "host secret, not ours\n"
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, root, outside string)
	}{
		{"ingest symlink", func(t *testing.T, root, outside string) {
			testenv.Symlink(t, outside, filepath.Join(root, "persist", "blobs", "ingest", h))
		}},
		{"hash state tmp symlink", func(t *testing.T, root, outside string) {
			testenv.Symlink(t, outside, filepath.Join(root, "persist", "edgewright", "ingest", h+".sha256state.tmp"))
		}},
		{"hash state symlink", func(t *testing.T, root, outside string) {
			testenv.Symlink(t, outside, filepath.Join(root, "persist", "edgewright", "ingest", h+".sha256state"))
		}},
		{"hash state fifo", func(t *testing.T, root, outside string) {
			p := filepath.Join(root, "persist", "edgewright", "ingest", h+".sha256state")
			os.MkdirAll(filepath.Dir(p), 0o755)
			// A partial so that the state is read.
			os.MkdirAll(filepath.Join(root, "persist", "blobs", "ingest"), 0o755)
			os.WriteFile(filepath.Join(root, "persist", "blobs", "ingest", h), body[:10], 0o644)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			outside := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(outside, []byte(secret), 0o644); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, root, outside)
			s := New(root)
			s.CheckpointEvery = 100
			noHang(t, "ingest", func() {
				in, err := s.Ingest(context.Background(), materials.Blob{Digest: d})
				if err != nil {
					t.Logf("ingest refused: %v", err)
					return
				}
				rest := body[in.Offset():]
				if _, err := in.Write(rest[:len(rest)/2]); err != nil {
					t.Logf("write refused: %v", err)
					in.Close()
					return
				}
				if err := in.Close(); err != nil {
					t.Logf("close: %v", err)
				}
				in, err = s.Ingest(context.Background(), materials.Blob{Digest: d})
				if err != nil {
					t.Fatalf("resume: %v", err)
				}
				if _, err := in.Write(body[in.Offset():]); err != nil {
					t.Fatal(err)
				}
				if err := in.Commit(context.Background(), int64(len(body))); err != nil {
					t.Fatalf("commit: %v", err)
				}
			})
			got, err := os.ReadFile(outside)
			if err != nil || string(got) != secret {
				t.Fatalf("outside file changed: %q, %v", got, err)
			}
		})
	}
}
