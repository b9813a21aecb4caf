package assembler_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/remodel"
)

// An edge agent's reconcile: draw the Blueprint from the controller's
// config and converge a root on it. Here the datastore is a loopback HTTP
// server holding one raw disk image, and the root a temporary directory;
// on a device they are the controller's datastores and "/". The OCI
// crafts are installed as an agent would, so container content trees work
// too; this config keeps to a raw image so that the example needs no
// registry (qemu-img is still needed: every image is checked with it).
// The raw volume is grown to its maxsizebytes.
func ExampleAssembler_Converge() {
	disk := bytes.Repeat([]byte("edgewright"), 100000) // 1,000,000 bytes
	ds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/images/disk.raw" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "disk.raw", time.Time{}, bytes.NewReader(disk))
	}))
	defer ds.Close()
	config := fmt.Appendf(nil, `{
  "datastores": [{"id": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11", "dType": "DsHttp", "fqdn": %q, "dpath": "images"}],
  "contentInfo": [{"uuid": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01", "dsId": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11",
    "URL": "disk.raw", "iformat": "RAW", "sha256": "%x", "maxSizeBytes": 1000000}],
  "volumes": [{"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10", "generationCount": 1, "maxsizebytes": 4194304,
    "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01"}}]
}`, ds.URL, sha256.Sum256(disk))

	root, err := os.MkdirTemp("", "edgewright-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	logger := zap.NewNop()
	var crafts assembler.Crafts
	(&assembler.OCICrafts{Logger: logger}).Install(&crafts)
	a, err := assembler.New(assembler.Options{Root: root, Logger: logger, Crafts: crafts, WaitForLock: true})
	if err != nil {
		log.Fatal(err)
	}
	bp := architect.Load(config)
	if !bp.Valid() {
		log.Fatalf("config: %v", bp.Diagnostics)
	}
	res, err := a.Converge(context.Background(), bp, assembler.ConvergeOptions{})
	switch {
	case errors.Is(err, assembler.ErrRootLocked):
		log.Fatal("another assembler holds the root")
	case err != nil:
		log.Fatalf("reconcile failed: %v (%d remodels failed)", err, len(res.Failed))
	case res.Held():
		log.Fatalf("converged except %d held remodels", len(res.Plan.Held))
	}

	fmt.Printf("converged: %v\n", res.Converged)
	var done []string
	for _, rep := range res.Reports {
		for _, r := range rep.Results {
			if r.Status == assembler.StatusDone {
				done = append(done, remodel.ShortenDigests(string(r.RemodelID)))
			}
		}
	}
	sort.Strings(done)
	for _, id := range done {
		fmt.Println("done", id)
	}
	files, _ := filepath.Glob(filepath.Join(root, "persist/vault/volumes/*"))
	for _, f := range files {
		st, _ := os.Stat(f)
		fmt.Println("volume", filepath.Base(f), st.Size())
	}
	// Output:
	// converged: true
	// done create:volume/7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10#1
	// done download:blob/sha256:fa572e4dd245…
	// volume 7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10#1.raw 4194304
}
