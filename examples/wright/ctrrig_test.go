package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
)

// ctrRig is a real containerd (skipped without it, failing under CI),
// and an HTTP datastore serving two 1 MiB raw disks, a.raw and b.raw,
// with what a config naming them takes.
type ctrRig struct {
	t            *testing.T
	ctrd         *testenv.Containerd
	dsID, ns     string
	dsURL        string
	diskA, diskB []byte
	sumA, sumB   [32]byte
}

func newCtrRig(t *testing.T, dsID, ns string) *ctrRig {
	t.Helper()
	testenv.QemuImg(t)
	r := &ctrRig{t: t, ctrd: testenv.StartContainerd(t), dsID: dsID, ns: ns,
		diskA: bytes.Repeat([]byte("edgewright disk A "), 1<<16)[:1<<20],
		diskB: bytes.Repeat([]byte("edgewright disk B "), 1<<16)[:1<<20]}
	r.sumA, r.sumB = sha256.Sum256(r.diskA), sha256.Sum256(r.diskB)
	ds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/images/a.raw":
			http.ServeContent(w, req, "a.raw", timeZero, bytes.NewReader(r.diskA))
		case "/images/b.raw":
			http.ServeContent(w, req, "b.raw", timeZero, bytes.NewReader(r.diskB))
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(ds.Close)
	r.dsURL = ds.URL
	return r
}

// tree is a raw content tree's config.
func (r *ctrRig) tree(id, url string, sum [32]byte) string {
	return fmt.Sprintf(`{"uuid": %q, "dsId": %q, "URL": %q, "iformat": "RAW", "sha256": %q, "maxSizeBytes": "%d"}`, id, r.dsID, url, hex.EncodeToString(sum[:]), 1<<20)
}

// vol is the config of a 1 MiB volume (generation 1) from tree tid.
func (r *ctrRig) vol(id, tid string) string {
	return fmt.Sprintf(`{"uuid": %q, "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": %q}, "generationCount": "1", "maxsizebytes": "%d", "displayName": "root"}`, id, tid, 1<<20)
}

// config writes a config of the datastore, trees and volumes; its path.
func (r *ctrRig) config(trees, vols []string) string {
	p := filepath.Join(r.t.TempDir(), "config.json")
	cfg := fmt.Sprintf(`{"datastores": [{"id": %q, "dType": "DsHttp", "fqdn": %q, "dpath": "images"}], "contentInfo": [%s], "volumes": [%s]}`,
		r.dsID, r.dsURL, strings.Join(trees, ","), strings.Join(vols, ","))
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		r.t.Fatal(err)
	}
	return p
}

// ctr runs ctr on the rig's namespace.
func (r *ctrRig) ctr(a ...string) string {
	r.t.Helper()
	out, err := exec.Command("ctr", append([]string{"--address", r.ctrd.Address, "-n", r.ns}, a...)...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("ctr %v: %v: %s", a, err, out)
	}
	return string(out)
}

func (r *ctrRig) hasImage(name string) bool {
	r.t.Helper()
	for _, l := range strings.Fields(r.ctr("images", "ls", "-q")) {
		if l == name {
			return true
		}
	}
	return false
}
