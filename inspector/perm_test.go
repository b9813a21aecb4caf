package inspector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edgewright/edgewright/materials"
)

// childEnv makes the test binary survey a root and print the result
// instead of running tests: the permission tests re-run it as an
// unprivileged user, since root reads everything.
const childEnv = "EDGEWRIGHT_INSPECTOR_SURVEY_CHILD"

type childResult struct {
	Floorplan *materials.Floorplan `json:"floorplan"`
	Err       string               `json:"err"`
	RootError bool                 `json:"rootError"`
}

func TestMain(m *testing.M) {
	if root := os.Getenv(childEnv); root != "" {
		var r childResult
		fp, err := Survey(context.Background(), Options{Root: root})
		r.Floorplan = fp
		if err != nil {
			var re *RootError
			r.Err, r.RootError = err.Error(), errors.As(err, &re)
		}
		json.NewEncoder(os.Stdout).Encode(r)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const nobody = 65534

// surveyAsNobody runs Survey(root) in a copy of the test binary as uid
// 65534, for whom DAC permissions are enforced.
func surveyAsNobody(t *testing.T, base, root string) childResult {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The go build cache is not readable by nobody: run a copy.
	bin := filepath.Join(base, "inspector.test")
	if _, err := os.Stat(bin); err != nil {
		copyFile(t, self, bin, 0o755)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), childEnv+"="+root)
	cmd.Dir = base
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child survey: %v\n%s", err, stderr.String())
	}
	var r childResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	return r
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSurveyPermissionDenied: unreadable directories and files become
// diagnostics (error for a whole scope, warning for one item) and the rest
// of the survey goes on; an unreadable root is the one failure.
func TestSurveyPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to an unprivileged user")
	}
	// t.TempDir's parents are private to root; this tree must be walkable
	// by nobody down to the parts made unreadable on purpose.
	base, err := os.MkdirTemp("", "ewperm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(base)
	})
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(base, "root")
	mkdirs(t, root, vault, clear, legacy, BlobsSHA256Dir)
	qemuImg(t, "create", "-q", "-f", "qcow2", filepath.Join(root, vault, uuidA+"#1.qcow2"), "1G")
	writeFile(t, filepath.Join(root, vault, uuidA+"#2.raw"), []byte("secret"))
	writeFile(t, filepath.Join(root, vault, uuidA+"#3.container/ok"), []byte("ok"))
	writeFile(t, filepath.Join(root, vault, uuidA+"#3.container/locked/inside"), []byte("hidden"))
	writeFile(t, filepath.Join(root, clear, uuidB+"#1.raw"), []byte("clear"))
	writeFile(t, filepath.Join(root, legacy, shaA+"-"+uuidB+".raw"), []byte("old"))
	blob := strings.Repeat("a", 64)
	writeFile(t, filepath.Join(root, BlobsSHA256Dir, blob), []byte("blob"))
	for p, mode := range map[string]os.FileMode{
		vault + uuidA + "#2.raw":              0,
		vault + uuidA + "#3.container/locked": 0,
		clear:                                 0,
		legacy:                                0o311, // traversable, not listable
		BlobsSHA256Dir + "/" + blob:           0,
	} {
		if err := os.Chmod(filepath.Join(root, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	r := surveyAsNobody(t, base, root)
	if r.Err != "" {
		t.Fatalf("survey failed: %s", r.Err)
	}
	fp := r.Floorplan

	for _, tc := range []struct {
		path     string
		severity materials.Severity
		value    string
		message  string
	}{
		{strings.TrimSuffix(clear, "/"), materials.SeverityError, "EACCES", "cannot open directory; its contents are not surveyed"},
		{strings.TrimSuffix(legacy, "/"), materials.SeverityError, "EACCES", "cannot open directory"},
		{vault + uuidA + "#2.raw", materials.SeverityWarning, "EACCES", "cannot open volume file"},
		{vault + uuidA + "#3.container/locked", materials.SeverityWarning, "EACCES", "cannot open directory"},
		{BlobsSHA256Dir + "/" + blob, materials.SeverityWarning, "EACCES", "cannot open blob"},
	} {
		d := diagAt(fp, tc.path)
		if d == nil || d.Severity != tc.severity || d.Value != tc.value || !strings.Contains(d.Message, tc.message) {
			t.Errorf("%s: diagnostic %v, want %s %s %q", tc.path, d, tc.severity, tc.value, tc.message)
		}
	}
	if len(fp.Diagnostics) != 5 {
		t.Errorf("diagnostics %v, want 5", fp.Diagnostics)
	}
	// The survey went on around them.
	if v := volumeAt(fp, vault+uuidA+"#1.qcow2"); v == nil || v.State != materials.StateComplete || v.VirtualSize != 1<<30 {
		t.Errorf("readable qcow2: %+v", v)
	}
	if v := volumeAt(fp, vault+uuidA+"#2.raw"); v == nil || v.State != materials.StateUnknown ||
		v.Reason != "cannot read: EACCES" || v.Key() != (materials.VolumeKey{ID: uuidA, Generation: 2}) || v.ApparentSize != 6 {
		t.Errorf("unreadable raw: %+v; want unknown with its key, sizes from lstat", v)
	}
	if v := volumeAt(fp, vault+uuidA+"#3.container"); v == nil || v.State != materials.StateComplete ||
		!strings.Contains(v.Reason, "sizes undercounted") {
		t.Errorf("container with a locked subdir: %+v", v)
	}
	if len(fp.Volumes) != 3 {
		t.Errorf("volumes %v, want the three in the vault", paths(fp))
	}
	if len(fp.Blobs) != 1 || fp.Blobs[0].State != materials.StateUnknown || fp.Blobs[0].Size != 4 {
		t.Errorf("blobs %+v", fp.Blobs)
	}

	t.Run("unreadable root", func(t *testing.T) {
		if err := os.Chmod(root, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(root, 0o755)
		r := surveyAsNobody(t, base, root)
		if !r.RootError || !strings.Contains(r.Err, "permission denied") || r.Floorplan != nil {
			t.Fatalf("got %+v, want a RootError for permission denied", r)
		}
	})
}
