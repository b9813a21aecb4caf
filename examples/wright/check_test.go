package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
)

// checkJSON runs `wright check --json` and decodes its output strictly:
// exactly the keys the issue names, fixes a list even when empty.
func checkJSON(t *testing.T, root string) (int, []map[string]any, map[string]string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run([]string{"check", "--root", root, "--json"}, &out, &errb)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &top); err != nil {
		t.Fatalf("exit %d, output is not JSON: %v\n%s\nstderr: %s", code, err, out.String(), errb.String())
	}
	if len(top) != 2 || top["fixes"] == nil || top["volumes"] == nil || top["fixes"][0] != '[' {
		t.Fatalf("top-level keys of %s, want exactly fixes (a list) and volumes", out.String())
	}
	var fixes []map[string]any
	var vols []map[string]string
	if err := json.Unmarshal(top["fixes"], &fixes); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(top["volumes"], &vols); err != nil {
		t.Fatal(err)
	}
	for _, f := range fixes {
		var keys []string
		for k := range f {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if diff := cmp.Diff([]string{"bytes", "id", "reason", "target", "type"}, keys); diff != "" {
			t.Errorf("fix keys (-want +got):\n%s", diff)
		}
	}
	status := map[string]string{}
	for _, v := range vols {
		if len(v) != 2 {
			t.Errorf("volume keys %v, want id and status", v)
		}
		status[v["id"]] = v["status"]
	}
	return code, fixes, status, errb.String()
}

// TestCheckDamagedRoot builds a root with one of each kind of damage the
// check finds on real files, real qemu-img and a real journal, and wants
// one fix of the right type for each, and nothing else.
func TestCheckDamagedRoot(t *testing.T) {
	testenv.QemuImg(t)
	const (
		truncated = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10"
		refcount  = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11"
		sound     = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f12"
		tmpVol    = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f13"
		tree      = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01"
	)
	root := t.TempDir()
	vols := filepath.Join(root, "persist/vault/volumes")
	blobs := filepath.Join(root, "persist/blobs")
	for _, d := range []string{vols, blobs + "/sha256", blobs + "/ingest"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-3 * time.Hour)
	age := func(p string) {
		t.Helper()
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, data []byte) {
		t.Helper()
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A truncated qcow2: its header is cut short, the survey calls it broken.
	p := filepath.Join(vols, truncated+"#1.qcow2")
	testenv.Qcow2(t, p)
	if err := os.Truncate(p, 64); err != nil {
		t.Fatal(err)
	}
	// Refcount damage behind a sound header: only qemu-img check sees it.
	testenv.Qcow2(t, filepath.Join(vols, refcount+"#1.qcow2"))
	testenv.DamageQcow2Refcounts(t, filepath.Join(vols, refcount+"#1.qcow2"))
	// A sound qcow2, which must list nothing.
	testenv.Qcow2(t, filepath.Join(vols, sound+"#1.qcow2"))
	// Stale .tmp work, leaked ingest, an unknown file.
	tmp := filepath.Join(vols, tmpVol+"#2.raw.tmp")
	write(tmp, make([]byte, 8192))
	age(tmp)
	ingestHex := strings.Repeat("c", 64)
	write(filepath.Join(blobs, "ingest", ingestHex), make([]byte, 3000))
	age(filepath.Join(blobs, "ingest", ingestHex))
	write(filepath.Join(vols, "README.txt"), []byte("someone's notes\n"))
	// A complete blob whose grace clock ran out, and the content blob of
	// the truncated volume, which the last applied config names.
	orphan := []byte("a blob nothing needs any more")
	osum := sha256.Sum256(orphan)
	orphanHex := hex.EncodeToString(osum[:])
	write(filepath.Join(blobs, "sha256", orphanHex), orphan)
	content := []byte("the content tree's blob")
	cs := sha256.Sum256(content)
	contentHex := hex.EncodeToString(cs[:])
	write(filepath.Join(blobs, "sha256", contentHex), content)

	mkJournal(t, root, func(j *journal.Journal) {
		if err := j.Checkpoint(&materials.Blueprint{Complete: true,
			Volumes: []materials.Volume{{ID: truncated, Generation: 1, Origin: materials.OriginDownload, ContentTree: tree,
				Format: materials.FormatQcow2, MaxSizeBytes: 1 << 20, RefCount: 1}},
			ContentTrees: []materials.ContentTree{{ID: tree, URL: "disk.qcow2", Format: materials.FormatQcow2, SHA256: contentHex}},
		}, long); err != nil {
			t.Fatal(err)
		}
		if err := j.UpdateUnreferenced([]materials.Unreferenced{
			{Target: materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:" + orphanHex}, Since: long}}, nil); err != nil {
			t.Fatal(err)
		}
	})

	code, fixes, status, stderr := checkJSON(t, root)
	if code != exitFixes {
		t.Errorf("exit %d, want %d (fixes listed); stderr %s", code, exitFixes, stderr)
	}
	got := map[string]string{}
	for _, f := range fixes {
		got[f["id"].(string)] = f["type"].(string)
	}
	want := map[string]string{
		"mend:volume/" + truncated + "#1":                           "mend",
		"mend:volume/" + refcount + "#1":                            "mend",
		"clean:file/persist/vault/volumes/" + tmpVol + "#2.raw.tmp": "clean",
		"clean:file/persist/blobs/ingest/" + ingestHex:              "clean",
		"clean:blob/sha256:" + orphanHex:                            "clean",
		"clean:file/persist/vault/volumes/README.txt":               "clean",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fixes (-want +got):\n%s\n%v", diff, fixes)
	}
	for _, f := range fixes {
		r := f["reason"].(string)
		switch f["id"] {
		case "mend:volume/" + truncated + "#1":
			if !strings.Contains(r, "re-create generation 1 from content tree "+tree) {
				t.Errorf("truncated volume: %s", r)
			}
		case "mend:volume/" + refcount + "#1":
			if !strings.Contains(r, "qemu-img check finds") || !strings.Contains(r, "report only") {
				t.Errorf("refcount damage: %s", r)
			}
		case "clean:file/persist/vault/volumes/README.txt":
			if !strings.Contains(r, "never deleted automatically") {
				t.Errorf("unknown file: %s", r)
			}
		case "clean:blob/sha256:" + orphanHex:
			if f["bytes"] != float64(len(orphan)) {
				t.Errorf("orphan blob frees %v, want %d", f["bytes"], len(orphan))
			}
		}
	}
	wantStatus := map[string]string{truncated + "#1": "broken", refcount + "#1": "broken", sound + "#1": "optimized"}
	if diff := cmp.Diff(wantStatus, status); diff != "" {
		t.Errorf("volume statuses (-want +got):\n%s", diff)
	}

	// The table says the same for a person, with the same exit code.
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--root", root}, &out, &errb); code != exitFixes ||
		!strings.Contains(out.String(), "6 fixes:") || !strings.Contains(out.String(), "mend:volume/"+refcount+"#1") {
		t.Errorf("table: exit %d\n%s%s", code, out.String(), errb.String())
	}
	t.Logf("wright check:\n%s", out.String())
	// Without the deep check, the refcount damage goes unseen.
	out.Reset()
	if run([]string{"check", "--root", root, "--qemu-img", ""}, &out, &errb); strings.Contains(out.String(), "mend:volume/"+refcount) {
		t.Errorf("refcount damage found without qemu-img:\n%s", out.String())
	}
}

// mkJournal writes a real journal at the root's place for it.
func mkJournal(t *testing.T, root string, fn func(*journal.Journal)) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(journal.Path(root)), 0o755); err != nil {
		t.Fatal(err)
	}
	j, err := journal.OpenRoot(root, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fn(j)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCheckConvergedRoot: a root that wright apply just converged (a raw
// volume from content with holes, a blank qcow2, the blob, the journal)
// lists no fix, and check exits 0 with an empty fixes list.
func TestCheckConvergedRoot(t *testing.T) {
	testenv.QemuImg(t)
	disk := make([]byte, 2<<20)
	for i := 0; i < len(disk); i += 64 << 10 {
		copy(disk[i:], "some data in every 64 KiB, zeros between")
	}
	sum := sha256.Sum256(disk)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "disk.raw", timeZero, bytes.NewReader(disk))
	}))
	defer srv.Close()
	root := t.TempDir()
	cfg := applyConfig(t, srv.URL, hex.EncodeToString(sum[:]), len(disk), volFromDisk+","+volBlank)
	var out, errb bytes.Buffer
	if code := run([]string{"apply", "--config", cfg, "--root", root}, &out, &errb); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out.String(), errb.String())
	}
	code, fixes, status, stderr := checkJSON(t, root)
	if code != exitOK || len(fixes) != 0 || stderr != "" {
		t.Errorf("exit %d, fixes %v, stderr %q; want 0, none", code, fixes, stderr)
	}
	want := map[string]string{
		"7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10#1": "optimized",
		"7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11#1": "optimized",
	}
	if diff := cmp.Diff(want, status); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	out.Reset()
	run([]string{"check", "--root", root, "--json"}, &out, &errb)
	if !strings.Contains(out.String(), `"fixes": []`) {
		t.Errorf("no empty fixes list in\n%s", out.String())
	}
}
