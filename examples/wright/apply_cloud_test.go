package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
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

const (
	azureDS = "5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c81"
	gcsDS   = "6f5e4d3c-2b1a-4f0e-9d8c-7b6a5f4e3d91"
	cloudCT = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e08"
	cloudV  = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f50"
)

// cloudImage is a 4 MiB raw disk with some content and its qcow2 form.
func cloudImage(t *testing.T, qemu string) (raw string, data []byte) {
	t.Helper()
	work := t.TempDir()
	raw = filepath.Join(work, "vm.raw")
	rawData := make([]byte, 4<<20)
	for i := range rawData {
		if i%65536 < 1024 {
			rawData[i] = byte(i/65536 + 7)
		}
	}
	if err := os.WriteFile(raw, rawData, 0o600); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(work, "vm.qcow2")
	if b, err := exec.Command(qemu, "convert", "-f", "raw", "-O", "qcow2", raw, img).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, b)
	}
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return raw, data
}

// cloudConfig is a controller config with one datastore ds and a qcow2
// content tree at url made into a volume.
func cloudConfig(t *testing.T, ds map[string]any, url, sha string, size int) string {
	t.Helper()
	cfg := map[string]any{
		"datastores": []any{ds},
		"contentInfo": []any{map[string]any{"uuid": cloudCT, "dsId": ds["id"],
			"URL": url, "iformat": "QCOW2", "sha256": sha, "maxSizeBytes": json.Number(strconv.Itoa(size)), "displayName": "vm"}},
		"volumes": []any{map[string]any{"uuid": cloudV,
			"origin":          map[string]any{"type": "VCOT_DOWNLOAD", "downloadContentTreeID": cloudCT},
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

type cloudCase struct {
	name   string
	config string
	// cutFirst drops the link after cloudCut bytes of the first GET.
	cutFirst bool
	code     int
	stdout   []string
	absent   []string
	// the GETs of the object, as "Range→status"; corrupted: between one
	// and three whole-body GETs.
	gets      []string
	corrupted bool
	fetched   bool
}

const cloudCut = 1<<20 + 11

// runCloudCases runs wright apply for each case against a server whose
// requests are seen through requests and whose faults go through inject.
func runCloudCases(t *testing.T, qemu, raw string, tests []cloudCase, requests func() []string, inject func(func(http.Handler) http.Handler)) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cutFirst {
				var once sync.Once
				cut := testenv.CutAfter(cloudCut)
				inject(func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						first := false
						if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ".qcow2") {
							once.Do(func() { first = true })
						}
						if first {
							cut(next).ServeHTTP(w, r)
							return
						}
						next.ServeHTTP(w, r)
					})
				})
				defer inject(nil)
			}
			before := len(requests())
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
			gets := requests()[before:]
			t.Logf("GETs %q; stdout:\n%s", gets, out.String())
			if tc.corrupted {
				if len(gets) < 1 || len(gets) > 3 || strings.Count(strings.Join(gets, " "), "→200") != len(gets) {
					t.Errorf("the server saw GETs %q, want one to three whole bodies", gets)
				}
			} else if strings.Join(gets, " ") != strings.Join(tc.gets, " ") {
				t.Errorf("the server saw GETs %q, want %q", gets, tc.gets)
			}
			if !tc.fetched {
				return
			}
			vol := filepath.Join(root, "persist/vault/volumes/"+cloudV+"#1.qcow2")
			if b, err := exec.Command(qemu, "compare", raw, vol).CombinedOutput(); err != nil {
				t.Errorf("qemu-img compare: %v: %s", err, b)
			}
		})
	}
}

// TestApplyAzureBlob applies a qcow2 VM image from an Azurite container
// into a volume through wright apply: a download cut mid-body resumes
// with a ranged GET, a corrupted body is refused by its digest, and a
// refused key names the datastore and nothing of the key.
func TestApplyAzureBlob(t *testing.T) {
	qemu := testenv.QemuImg(t)
	raw, data := cloudImage(t, qemu)
	az := testenv.StartAzurite(t, "images")
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 0xff
	for name, b := range map[string][]byte{"edge/vm.qcow2": data, "edge/bad.qcow2": bad} {
		if err := az.Put(context.Background(), "images", name, b); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	ds := func(key string) map[string]any {
		return map[string]any{"id": azureDS, "dType": "DsAzureBlob", "fqdn": az.Service(), "dpath": "images/edge",
			"apiKey": az.Account, "password": key}
	}
	wrongKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	runCloudCases(t, qemu, raw, []cloudCase{
		{name: "a cut download resumes from its offset", config: cloudConfig(t, ds(az.Key), "vm.qcow2", sha, len(data)), cutFirst: true,
			code: exitOK, fetched: true, stdout: []string{"converged"}, absent: []string{az.Key},
			gets: []string{"→200", "bytes=" + strconv.Itoa(cloudCut) + "-→206"}},
		{name: "a corrupted body is refused by its digest", config: cloudConfig(t, ds(az.Key), "bad.qcow2", sha, len(data)),
			code: exitFailed, corrupted: true, stdout: []string{"FAILED", "digest mismatch", "sha256:" + sha}, absent: []string{az.Key}},
		{name: "a refused key names the datastore only", config: cloudConfig(t, ds(wrongKey), "vm.qcow2", sha, len(data)),
			code: exitFailed, stdout: []string{"FAILED", "azure blob credentials refused", azureDS, az.Account},
			absent: []string{wrongKey, az.Key}, gets: []string{"→403"}},
	}, func() []string {
		var gets []string
		for _, r := range az.Requests() {
			if r.Method == http.MethodGet && strings.HasSuffix(r.Path, ".qcow2") {
				gets = append(gets, r.Range+"→"+strconv.Itoa(r.Status))
			}
		}
		return gets
	}, az.Inject)
}

// TestApplyGoogleStorage applies a qcow2 VM image from a Cloud Storage
// bucket (fake-gcs-server behind a service-account token endpoint)
// through wright apply, with the same cut, corruption and refused-key
// cases.
func TestApplyGoogleStorage(t *testing.T) {
	qemu := testenv.QemuImg(t)
	raw, data := cloudImage(t, qemu)
	g := testenv.StartGCS(t, "images")
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 0xff
	g.Put("images", "edge/vm.qcow2", data)
	g.Put("images", "edge/bad.qcow2", bad)
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	wrongJSON, err := testenv.ServiceAccountJSON(other, g.Email, g.URL+"/token")
	if err != nil {
		t.Fatal(err)
	}
	ds := func(creds []byte) map[string]any {
		return map[string]any{"id": gcsDS, "dType": "DsGoogleStorage", "fqdn": g.URL, "dpath": "images/edge", "password": string(creds)}
	}
	keyLine := func(creds []byte) string {
		var sa struct {
			PrivateKey string `json:"private_key"`
		}
		_ = json.Unmarshal(creds, &sa)
		return strings.Split(sa.PrivateKey, "\n")[2]
	}
	runCloudCases(t, qemu, raw, []cloudCase{
		{name: "a cut download resumes from its offset", config: cloudConfig(t, ds(g.CredentialsJSON), "vm.qcow2", sha, len(data)), cutFirst: true,
			code: exitOK, fetched: true, stdout: []string{"converged"}, absent: []string{keyLine(g.CredentialsJSON), "ya29."},
			gets: []string{"→200", "bytes=" + strconv.Itoa(cloudCut) + "-→206"}},
		{name: "a corrupted body is refused by its digest", config: cloudConfig(t, ds(g.CredentialsJSON), "bad.qcow2", sha, len(data)),
			code: exitFailed, corrupted: true, stdout: []string{"FAILED", "digest mismatch", "sha256:" + sha}},
		{name: "a refused key names the datastore only", config: cloudConfig(t, ds(wrongJSON), "vm.qcow2", sha, len(data)),
			code: exitFailed, stdout: []string{"FAILED", "google storage credentials refused", gcsDS, "invalid_grant"},
			absent: []string{keyLine(wrongJSON), keyLine(g.CredentialsJSON)}},
	}, func() []string {
		var gets []string
		for _, r := range g.Requests() {
			if r.Method == http.MethodGet && strings.HasSuffix(r.Path, ".qcow2") {
				gets = append(gets, r.Range+"→"+strconv.Itoa(r.Status))
			}
		}
		return gets
	}, g.Inject)
}
