package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
)

const s3DS = "4d3c2b1a-0f9e-4d8c-b7a6-5e4f3a2b1c71"

// s3Config is a controller config with one S3 datastore and a qcow2
// content tree at url made into a volume.
func s3Config(t *testing.T, srv *testenv.S3, secret, url, sha string, size int) string {
	t.Helper()
	cfg := map[string]any{
		"datastores": []any{map[string]any{"id": s3DS, "dType": "DsS3", "fqdn": srv.URL, "dpath": "images/edge",
			"region": srv.Region, "apiKey": srv.AccessKey, "password": secret}},
		"contentInfo": []any{map[string]any{"uuid": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e04", "dsId": s3DS,
			"URL": url, "iformat": "QCOW2", "sha256": sha, "maxSizeBytes": json.Number(itoa(size)), "displayName": "vm"}},
		"volumes": []any{map[string]any{"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f30",
			"origin":          map[string]any{"type": "VCOT_DOWNLOAD", "downloadContentTreeID": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e04"},
			"generationCount": "1", "maxsizebytes": "8388608", "displayName": "vm-root"}},
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

// TestApplyS3 applies a qcow2 VM image from an S3 bucket into a volume
// through wright apply: a download cut mid-body resumes with a ranged GET,
// a corrupted body is fetched again a bounded number of times, and a
// refused secret names the datastore and nothing else.
func TestApplyS3(t *testing.T) {
	qemu := testenv.QemuImg(t)
	raw, data := qcow2Image(t, qemu)
	srv := testenv.StartS3(t, "images")
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 0xff
	for key, b := range map[string][]byte{"edge/vm.qcow2": data, "edge/bad.qcow2": bad} {
		if err := srv.Put("images", key, b); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	good := s3Config(t, srv, srv.SecretKey, "vm.qcow2", sha, len(data))
	corrupted := s3Config(t, srv, srv.SecretKey, "bad.qcow2", sha, len(data))
	wrongSecret := s3Config(t, srv, "not-the-secret-key-at-all", "vm.qcow2", sha, len(data))
	const cut = 1<<20 + 11

	tests := []struct {
		name   string
		config string
		// cutFirst drops the link after cut bytes of the first whole-body GET.
		cutFirst bool
		code     int
		stdout   []string
		absent   []string
		// the GETs of the object, as "Range→status"
		gets    []string
		fetched bool
	}{
		{name: "a cut download resumes from its offset", config: good, cutFirst: true, code: exitOK, fetched: true,
			stdout: []string{"converged"}, gets: []string{"→200", "bytes=" + strconv.Itoa(cut) + "-→206"}},
		{name: "a corrupted body is fetched again, three times at most", config: corrupted, code: exitFailed,
			stdout: []string{"FAILED", "digest mismatch", "sha256:" + sha}, gets: []string{"→200", "→200", "→200"}},
		{name: "a refused secret names the datastore only", config: wrongSecret, code: exitFailed,
			stdout: []string{"FAILED", "s3 credentials refused", s3DS, "SignatureDoesNotMatch"},
			absent: []string{"not-the-secret-key-at-all", srv.SecretKey}, gets: []string{"→403"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var once sync.Once
			if tc.cutFirst {
				srv.Inject(func(w http.ResponseWriter, r *http.Request) bool {
					cutNow := false
					if r.Method == http.MethodGet && r.Header.Get("Range") == "" {
						once.Do(func() { cutNow = true })
					}
					if !cutNow {
						return false
					}
					w.Header().Set("Content-Length", strconv.Itoa(len(data)))
					w.Header().Set("Last-Modified", "Fri, 04 Dec 2026 10:00:00 GMT")
					w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
					w.WriteHeader(http.StatusOK)
					w.Write(data[:cut])
					w.(http.Flusher).Flush()
					panic(http.ErrAbortHandler)
				})
				defer srv.Inject(nil)
			}
			before := len(srv.Requests())
			root := t.TempDir()
			var out, errb bytes.Buffer
			code := run([]string{"apply", "--config", tc.config, "--root", root, "--max-rounds", "3"}, &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errb.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(out.String()+errb.String(), s) {
					t.Errorf("output shows %q:\nstdout:\n%s\nstderr:\n%s", s, out.String(), errb.String())
				}
			}
			var gets []string
			for _, r := range srv.Requests()[before:] {
				if r.Method == http.MethodGet && strings.HasSuffix(r.Path, ".qcow2") {
					gets = append(gets, r.Range+"→"+strconv.Itoa(r.Status))
				}
			}
			if strings.Join(gets, " ") != strings.Join(tc.gets, " ") {
				t.Errorf("the server saw GETs %q, want %q", gets, tc.gets)
			}
			if !tc.fetched {
				return
			}
			vol := filepath.Join(root, "persist/vault/volumes/7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f30#1.qcow2")
			if b, err := exec.Command(qemu, "compare", raw, vol).CombinedOutput(); err != nil {
				t.Errorf("qemu-img compare: %v: %s", err, b)
			}
		})
	}
}
