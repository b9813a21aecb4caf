package blobdir

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// TestCommitDropsStateFirst: the hash state is gone before the partial
// becomes the blob, so a commit stopped at its rename (here the rename
// fails; a kill there is the same moment) leaves no state that no ingest
// would ever clear again once the blob is in place.
func TestCommitDropsStateFirst(t *testing.T) {
	body := bytes.Repeat([]byte("edgewright"), 1000)
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	d := digest.NewDigestFromEncoded(digest.SHA256, h)
	root := t.TempDir()
	s := New(root)
	s.CheckpointEvery = 100
	ctx := context.Background()
	in, err := s.Ingest(ctx, materials.Blob{Digest: d})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Write(body); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.statePath(h)); err != nil {
		t.Fatalf("no hash state checkpointed: %v", err)
	}
	// A non-empty directory at the blob's name makes the rename fail.
	if err := os.MkdirAll(filepath.Join(s.dir, "sha256", h, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := in.Commit(ctx, int64(len(body))); err == nil {
		t.Fatal("commit over a directory succeeded")
	}
	if _, err := os.Stat(s.statePath(h)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("hash state still there after the commit reached its rename: %v", err)
	}
}

// TestCommitDropsHalfCheckpoint: a checkpoint a kill left half made (the
// state's .tmp) goes with the commit; a resume that finishes before its
// next checkpoint never rewrites it.
func TestCommitDropsHalfCheckpoint(t *testing.T) {
	body := bytes.Repeat([]byte("edgewright"), 1000)
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	d := digest.NewDigestFromEncoded(digest.SHA256, h)
	s := New(t.TempDir())
	ctx := context.Background()
	in, err := s.Ingest(ctx, materials.Blob{Digest: d})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.statePath(h)+".tmp", []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := in.Commit(ctx, int64(len(body))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.statePath(h) + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("half-made checkpoint still there after the commit: %v", err)
	}
}
