package ctrsurvey_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/materials"
)

const (
	vault = inspector.VaultVolumesDir + "/"
	uuidA = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
)

// newRoot is a device root with one volume file: whatever containerd
// says, the disk is still surveyed.
func newRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, vault), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, vault, uuidA+"#1.raw"), []byte("vol"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func survey(t *testing.T, opts inspector.Options) *materials.Floorplan {
	t.Helper()
	fp, err := inspector.Survey(context.Background(), opts)
	if err != nil {
		t.Fatalf("Survey: %v", err)
	}
	return fp
}

// daemonDiag is the diagnostic about the daemon as a whole, if any.
func daemonDiag(fp *materials.Floorplan) *materials.Diagnostic {
	i := slices.IndexFunc(fp.Diagnostics, func(d materials.Diagnostic) bool { return d.Path == inspector.DiagContainerd })
	if i < 0 {
		return nil
	}
	return &fp.Diagnostics[i]
}

// sortDigests is how the survey lists children: sorted, each once.
func sortDigests(ds ...digest.Digest) []digest.Digest {
	return slices.Compact(slices.Sorted(slices.Values(ds)))
}
