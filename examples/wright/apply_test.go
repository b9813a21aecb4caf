package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgewright/edgewright/internal/testenv"
)

// applyConfig is a proto-JSON controller config with one HTTP datastore,
// a raw content tree and the given volumes.
func applyConfig(t *testing.T, dsURL, sha string, size int, volumes string) string {
	t.Helper()
	cfg := fmt.Sprintf(`{
  "datastores": [{"id": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11", "dType": "DsHttp", "fqdn": %q, "dpath": "images"}],
  "contentInfo": [{"uuid": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01", "dsId": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11",
    "URL": "disk.raw", "iformat": "RAW", "sha256": %q, "maxSizeBytes": "%d", "displayName": "disk"}],
  "volumes": [%s]
}`, dsURL, sha, size, volumes)
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	volFromDisk = `{"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10", "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01"}, "generationCount": "1", "maxsizebytes": "4194304", "displayName": "root"}`
	volBlank    = `{"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11", "origin": {"type": "VCOT_BLANK"}, "generationCount": "1", "maxsizebytes": "1048576", "displayName": "scratch"}`
)

func TestApplyCommand(t *testing.T) {
	qemu := testenv.QemuImg(t)
	disk := make([]byte, 2<<20)
	for i := range disk {
		if i%4096 < 512 {
			disk[i] = byte(i / 4096)
		}
	}
	sum := sha256.Sum256(disk)
	var mu sync.Mutex
	gets := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/images/disk.raw" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		gets++
		mu.Unlock()
		http.ServeContent(w, r, "disk.raw", timeZero, bytes.NewReader(disk))
	}))
	defer srv.Close()
	root := t.TempDir()
	src := filepath.Join(t.TempDir(), "disk.raw")
	os.WriteFile(src, disk, 0o600)
	both := applyConfig(t, srv.URL, hex.EncodeToString(sum[:]), len(disk), volFromDisk+","+volBlank)
	none := applyConfig(t, srv.URL, hex.EncodeToString(sum[:]), len(disk), "")

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"apply", []string{"--config", both, "--root", root}, 0,
			[]string{"round 1: Plan: 1 to download, 2 to create.", "round 2: Plan: no changes.", "converged (rounds: 2)"},
			[]string{"progress blob sha256:", "(100%)"}},
		{"again: nothing to do", []string{"--config", both, "--root", root}, 0, []string{"round 1: Plan: no changes.", "converged (rounds: 1)"}, nil},
		{"dropping every volume is held", []string{"--config", none, "--root", root}, 3, []string{"held delete"}, nil},
		{"usage", []string{"--root", root}, 2, nil, []string{"usage: wright apply"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"apply"}, tc.args...), &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errb.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
		})
	}
	vol := filepath.Join(root, "persist/vault/volumes/7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10#1.raw")
	if b, err := exec.Command(qemu, "compare", src, vol).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare: %v: %s", err, b)
	}
	if gets != 1 {
		t.Errorf("the datastore served %d GETs, want 1", gets)
	}

	// --json carries the result.
	var out, errb bytes.Buffer
	if code := run([]string{"apply", "--config", both, "--root", root, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errb.String())
	}
	var res struct {
		Converged bool `json:"converged"`
		Rounds    int  `json:"rounds"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || !res.Converged || res.Rounds != 1 {
		t.Errorf("--json output %s: %v", out.String(), err)
	}
}

// timeZero makes http.ServeContent skip Last-Modified handling.
var timeZero time.Time
