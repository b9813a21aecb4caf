package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
)

// fallbackConfig is a config whose one content tree lists the datastores
// (id → fqdn) in order in ds_ids_list.
func fallbackConfig(t *testing.T, ids, fqdns []string, sha string, size int) string {
	t.Helper()
	var dss []any
	for i := range ids {
		dss = append(dss, map[string]any{"id": ids[i], "dType": "DsHttp", "fqdn": fqdns[i], "dpath": "images"})
	}
	cfg := map[string]any{
		"datastores": dss,
		"contentInfo": []any{map[string]any{"uuid": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e05", "ds_ids_list": ids,
			"URL": "disk.raw", "iformat": "RAW", "sha256": sha, "maxSizeBytes": json.Number(itoa(size)), "displayName": "disk"}},
		"volumes": []any{map[string]any{"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f40",
			"origin":          map[string]any{"type": "VCOT_DOWNLOAD", "downloadContentTreeID": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e05"},
			"generationCount": "1", "maxsizebytes": "4194304", "displayName": "root"}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestApplyFallsBackAcrossDatastores: a content tree with several
// datastores moves on from one that is dead or serves a bad body, and
// the result names the one that failed; when every one fails, the error
// names each, the URL and both digests.
func TestApplyFallsBackAcrossDatastores(t *testing.T) {
	testenv.QemuImg(t)
	disk := bytes.Repeat([]byte("fallback"), 256<<10) // 2 MiB
	sum := sha256.Sum256(disk)
	sha := hex.EncodeToString(sum[:])
	bad := bytes.Clone(disk)
	bad[len(bad)/2] ^= 0xff
	badSum := sha256.Sum256(bad)

	var mu sync.Mutex
	gets := map[string]int{}
	var goodRanges []string
	serve := func(name string, body []byte) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			gets[name]++
			if name == "good" {
				goodRanges = append(goodRanges, r.Header.Get("Range"))
			}
			mu.Unlock()
			if name == "cut" {
				// The link drops after the first half.
				w.Header().Set("Content-Length", itoa(len(body)))
				w.WriteHeader(http.StatusOK)
				w.Write(body[:len(body)/2])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
			http.ServeContent(w, r, "disk.raw", timeZero, bytes.NewReader(body))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	good, corrupt, cut := serve("good", disk), serve("corrupt", bad), serve("cut", disk)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() // nothing listens once closed
	l.Close()
	const (
		idDead    = "11111111-2222-4333-8444-555555555501"
		idCorrupt = "11111111-2222-4333-8444-555555555502"
		idGood    = "11111111-2222-4333-8444-555555555503"
		idCut     = "11111111-2222-4333-8444-555555555504"
	)

	tests := []struct {
		name   string
		ids    []string
		fqdns  []string
		code   int
		stdout []string
		gets   map[string]int
		ranges []string // what the good datastore was asked for
	}{
		{name: "the first is dead, the second serves", ids: []string{idDead, idGood}, fqdns: []string{dead, good.URL}, code: exitOK,
			stdout: []string{"converged", "(from datastore " + idGood + " after datastore " + idDead + ": "},
			gets:   map[string]int{"good": 1}, ranges: []string{""}},
		{name: "a cut at the first resumes from the second at the offset", ids: []string{idCut, idGood}, fqdns: []string{cut.URL, good.URL}, code: exitOK,
			stdout: []string{"converged", "(from datastore " + idGood + " after datastore " + idCut + ": "},
			gets:   map[string]int{"cut": 1, "good": 1}, ranges: []string{"bytes=" + itoa(len(disk)/2) + "-"}},
		{name: "the first serves a bad body, the second a good one", ids: []string{idCorrupt, idGood}, fqdns: []string{corrupt.URL, good.URL}, code: exitOK,
			stdout: []string{"converged", "(from datastore " + idGood + " after datastore " + idCorrupt + ": ", "digest mismatch"},
			gets:   map[string]int{"corrupt": 1, "good": 1}, ranges: []string{""}},
		{name: "every one fails: each is named, with the URL and both digests", ids: []string{idCorrupt, idDead}, fqdns: []string{corrupt.URL, dead}, code: exitFailed,
			stdout: []string{"FAILED", "every datastore failed: datastore " + idCorrupt, `(url "disk.raw")`, "want sha256:" + sha,
				"got sha256:" + hex.EncodeToString(badSum[:]), "datastore " + idDead + ": "},
			// The bad body is fetched again up to the digest bound (3).
			gets: map[string]int{"corrupt": 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			clear(gets)
			goodRanges = nil
			mu.Unlock()
			cfg := fallbackConfig(t, tc.ids, tc.fqdns, sha, len(disk))
			var out, errb bytes.Buffer
			code := run([]string{"apply", "--config", cfg, "--root", t.TempDir(), "--max-rounds", "3"}, &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errb.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for name, n := range tc.gets {
				if gets[name] != n {
					t.Errorf("datastore %s served %d GETs, want %d (all: %v)", name, gets[name], n, gets)
				}
			}
			if len(gets) != len(tc.gets) {
				t.Errorf("GETs %v, want %v", gets, tc.gets)
			}
			if strings.Join(goodRanges, ",") != strings.Join(tc.ranges, ",") {
				t.Errorf("the good datastore was asked for ranges %q, want %q", goodRanges, tc.ranges)
			}
		})
	}
}
