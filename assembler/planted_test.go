package assembler

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

func blankBlueprint() *materials.Blueprint {
	return &materials.Blueprint{Complete: true, Volumes: []materials.Volume{{
		ID: "44444444-0000-0000-0000-000000000001", Generation: 1, Origin: materials.OriginBlank,
		Format: materials.FormatRaw, MaxSizeBytes: 1 << 20, RefCount: 1,
	}}}
}

// TestVolumesDirSymlinkRefused: persist/vault/volumes planted as a symlink
// to a directory outside the root is refused; nothing lands in its target.
func TestVolumesDirSymlinkRefused(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	testenv.Symlink(t, outside, filepath.Join(root, "persist", "vault", "volumes"))
	a, err := New(Options{Root: root, Logger: zap.NewNop(), Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Converge(context.Background(), blankBlueprint(), ConvergeOptions{})
	if err == nil && res.Converged {
		t.Fatalf("converged through a symlinked volume directory")
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 0 {
		t.Fatalf("written into the symlink's target: %v", ents)
	}
}

// TestSymlinkAtVolumePath: a symlink at a wanted volume's final path is
// named, not taken for the volume; with clean-up it is replaced.
func TestSymlinkAtVolumePath(t *testing.T) {
	root := t.TempDir()
	bp := blankBlueprint()
	final, err := VolumePath(root, bp.Volumes[0])
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "host-file")
	os.WriteFile(outside, []byte("host"), 0o644)
	testenv.Symlink(t, outside, final)
	a, err := New(Options{Root: root, Logger: zap.NewNop(), Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Converge(context.Background(), bp, ConvergeOptions{})
	if err == nil && res.Converged && !res.Held() {
		t.Fatalf("converged with a symlink for a volume")
	}
	js, _ := json.Marshal(res)
	if !strings.Contains(string(js), "a symlink, not a volume") || !strings.Contains(string(js), filepath.Base(final)) {
		t.Errorf("no diagnostic naming the symlink: %s", js)
	}
	res, err = a.Converge(context.Background(), bp, ConvergeOptions{Foreman: foreman.Options{CleanUp: true}})
	if err != nil || !res.Converged {
		t.Fatalf("with clean-up: %v, %s", err, mustJSON(res))
	}
	if st, err := os.Lstat(final); err != nil || !st.Mode().IsRegular() {
		t.Fatalf("volume after clean-up: %v, %v", st, err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "host" {
		t.Fatalf("outside file changed: %q", b)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestQemuVolumesSymlinkedDir: the builder itself refuses a volume
// directory that is a symlink, whoever calls it.
func TestQemuVolumesSymlinkedDir(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	testenv.Symlink(t, outside, filepath.Join(root, "volumes"))
	q := &QemuVolumes{}
	err := q.CreateBlank(context.Background(), filepath.Join(root, "volumes", "v#1.raw"), materials.FormatRaw, 1<<20)
	if err == nil {
		t.Fatal("created through a symlinked directory")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("written into the symlink's target: %v", ents)
	}
}
