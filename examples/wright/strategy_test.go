package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
)

// TestApplyStrategy: `wright plan/apply --strategy space` makes the raw
// content's volume a qcow2 overlay on its blob, says so in the plan, and
// the guest sees the content's bytes; a bad value is a usage error.
func TestApplyStrategy(t *testing.T) {
	qemu := testenv.QemuImg(t)
	disk := bytes.Repeat([]byte("edge disk bytes "), 1<<16) // 1 MiB
	sum := sha256.Sum256(disk)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/images/disk.raw" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "disk.raw", timeZero, bytes.NewReader(disk))
	}))
	defer srv.Close()
	src := filepath.Join(t.TempDir(), "disk.raw")
	os.WriteFile(src, disk, 0o600)
	cfg := applyConfig(t, srv.URL, hex.EncodeToString(sum[:]), len(disk), volFromDisk)
	root := t.TempDir()

	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"bad strategy", []string{"apply", "--config", cfg, "--root", root, "--strategy", "fast"}, exitUsage, ""},
		{"apply under space", []string{"apply", "--config", cfg, "--root", root, "--strategy", "space"}, exitOK, "converged"},
		{"plan after: nothing to do", []string{"plan", "--config", cfg, "--root", root, "--strategy", "space"}, exitOK, "no changes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != tc.code || !strings.Contains(out.String(), tc.out) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errb.String())
			}
		})
	}
	vol := filepath.Join(root, "persist/vault/volumes/7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10#1.qcow2")
	info, err := exec.Command(qemu, "info", vol).CombinedOutput()
	if err != nil || !strings.Contains(string(info), "backing file: ../../blobs/sha256/"+hex.EncodeToString(sum[:])) {
		t.Fatalf("qemu-img info %s: %v\n%s", vol, err, info)
	}
	if b, err := exec.Command(qemu, "compare", "-F", "raw", vol, src).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare: %v: %s", err, b)
	}

	// The plan of a fresh root says which strategy and why.
	var out, errb bytes.Buffer
	if code := run([]string{"plan", "--config", cfg, "--root", t.TempDir(), "--strategy", "space"}, &out, &errb); code != exitOK ||
		!strings.Contains(out.String(), "space: qcow2 overlay on blob sha256:") || !strings.Contains(out.String(), "device default") {
		t.Errorf("plan: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
}
