package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/journal"
)

// TestDamagedJournalCLI: garbage as journal.db after an apply; status and
// plan report it and go on, a plan for a config that drops a volume deletes
// nothing on a last applied config it no longer has, and apply quarantines
// the file and converges.
func TestDamagedJournalCLI(t *testing.T) {
	testenv.QemuImg(t)
	disk := bytes.Repeat([]byte("edgewright\n"), 10_000)
	sum := sha256.Sum256(disk)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "disk.raw", timeZero, bytes.NewReader(disk))
	}))
	defer srv.Close()
	root := t.TempDir()
	both := applyConfig(t, srv.URL, hex.EncodeToString(sum[:]), len(disk), volFromDisk+","+volBlank)
	one := applyConfig(t, srv.URL, hex.EncodeToString(sum[:]), len(disk), volFromDisk)
	wright := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, errb := wright("apply", "--config", both, "--root", root); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errb)
	}
	jp := journal.Path(root)
	if err := os.WriteFile(jp, bytes.Repeat([]byte("garbage!"), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errb := wright("status", "--root", root); code != 0 || !strings.Contains(errb, "journal damaged") {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errb)
	}
	code, out, errb := wright("plan", "--config", one, "--root", root)
	if code != 0 && code != 2 {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errb)
	}
	if strings.Contains(strings.ToLower(out), "delete") {
		t.Fatalf("plan deletes on a damaged journal's strength:\n%s", out)
	}
	for i := 0; i < 2; i++ {
		if code, out, errb := wright("apply", "--config", both, "--root", root); code != 0 {
			t.Fatalf("apply %d after damage: exit %d\n%s\n%s", i, code, out, errb)
		}
	}
	// A journal that knows the last applied config again plans the drop.
	code, out, errb = wright("plan", "--config", one, "--root", root)
	if code != 0 && code != 2 || !strings.Contains(out, "delete volume 7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11") {
		t.Fatalf("plan after recovery does not drop the volume: exit %d\n%s\n%s", code, out, errb)
	}
	m, _ := filepath.Glob(jp + ".damaged-*")
	if len(m) != 1 {
		t.Fatalf("quarantined files: %v", m)
	}
}
