package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/edgewright/edgewright/internal/testenv"
)

func tarOf(t *testing.T, files ...[2]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f[0], "/") {
			h = &tar.Header{Name: f[0], Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	return static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer)
}

// TestApplyContainerd runs `wright apply --containerd SOCKET --namespace NS`
// on a config with a container-registry content tree (a container volume)
// and a raw disk from an HTTP datastore: every blob goes into a real
// confined containerd, both trees get their image records, the volumes are
// built, and a second apply plans nothing and fetches nothing.
func TestApplyContainerd(t *testing.T) {
	testenv.QemuImg(t)
	ctrd := testenv.StartContainerd(t)
	var regGETs atomic.Int64
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			regGETs.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	img, err := mutate.AppendLayers(empty.Image,
		tarOf(t, [2]string{"srv/", ""}, [2]string{"srv/index.html", "hello"}, [2]string{"srv/old", "x"}),
		tarOf(t, [2]string{"srv/", ""}, [2]string{"srv/.wh.old", ""}))
	if err != nil {
		t.Fatal(err)
	}
	img, _ = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	ref, _ := name.ParseReference(host+"/web:1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	disk := bytes.Repeat([]byte("edgewright disk "), 1<<16) // 1 MiB
	sum := sha256.Sum256(disk)
	var diskGETs atomic.Int64
	ds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		diskGETs.Add(1)
		http.ServeContent(w, r, "disk.raw", timeZero, bytes.NewReader(disk))
	}))
	defer ds.Close()

	cfg := fmt.Sprintf(`{
  "datastores": [
    {"id": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d21", "dType": "DsContainerRegistry", "fqdn": "docker://%s"},
    {"id": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d22", "dType": "DsHttp", "fqdn": %q, "dpath": "images"}],
  "contentInfo": [
    {"uuid": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e21", "dsId": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d21", "URL": "web:1", "iformat": "CONTAINER", "displayName": "web"},
    {"uuid": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e22", "dsId": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d22", "URL": "disk.raw", "iformat": "RAW", "sha256": %q, "maxSizeBytes": "%d", "displayName": "disk"}],
  "volumes": [
    {"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f21", "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e21"}, "generationCount": "1", "displayName": "web"},
    {"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f22", "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e22"}, "generationCount": "1", "maxsizebytes": "2097152", "displayName": "root"}]
}`, host, ds.URL, hex.EncodeToString(sum[:]), len(disk))
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	root := t.TempDir()
	const ns = "wright-e2e"
	args := []string{"apply", "--config", cfgPath, "--root", root, "--containerd", ctrd.Address, "--namespace", ns}

	for i, tc := range []struct {
		args   []string
		code   int
		stdout []string
	}{
		// Staged: the blob is read through containerd's API.
		{append(args, "--containerd-content", ""), 0, []string{"converged"}},
		{args, 0, []string{"round 1: Plan: no changes.", "converged (rounds: 1)"}},
	} {
		before := regGETs.Load() + diskGETs.Load()
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != tc.code {
			t.Fatalf("run %d: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", i, code, tc.code, out.String(), errb.String())
		}
		for _, s := range tc.stdout {
			if !strings.Contains(out.String(), s) {
				t.Errorf("run %d: stdout lacks %q:\n%s", i, s, out.String())
			}
		}
		if i == 1 && regGETs.Load()+diskGETs.Load() != before {
			t.Errorf("the second apply sent %d GETs", regGETs.Load()+diskGETs.Load()-before)
		}
	}

	ctr := func(a ...string) string {
		out, err := exec.Command("ctr", append([]string{"--address", ctrd.Address, "-n", ns}, a...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ctr %v: %v: %s", a, err, out)
		}
		return string(out)
	}
	images := ctr("images", "ls", "-q")
	for _, want := range []string{"0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e21-web:1", "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e22-disk.raw"} {
		if !strings.Contains(images, want) {
			t.Errorf("ctr images ls lacks %s:\n%s", want, images)
		}
	}
	content := ctr("content", "ls")
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		if !strings.Contains(content, d.String()) {
			t.Errorf("ctr content ls lacks layer %s:\n%s", d, content)
		}
	}
	if !strings.Contains(content, "sha256:"+hex.EncodeToString(sum[:])) {
		t.Errorf("ctr content ls lacks the disk blob:\n%s", content)
	}
	vol := filepath.Join(root, "persist/vault/volumes/7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f21#1.container")
	if b, err := os.ReadFile(filepath.Join(vol, "srv/index.html")); err != nil || string(b) != "hello" {
		t.Errorf("container volume srv/index.html: %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(vol, "srv/old")); !os.IsNotExist(err) {
		t.Errorf("srv/old survived its whiteout: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "persist/vault/volumes/7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f22#1.raw"))
	if err != nil || !bytes.Equal(raw[:len(disk)], disk) {
		t.Errorf("raw volume does not start with the disk image: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "persist/blobs/sha256")); len(entries) != 0 {
		t.Errorf("the blob directory holds %d blobs; with --containerd it should hold none", len(entries))
	}
}
