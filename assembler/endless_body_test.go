package assembler

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/edgewright/edgewright/materials"
)

// End to end: an endless body for a tree with maxSizeBytes fails once,
// commits nothing and leaves no partial holding the disk.
func TestDownloadEndlessBodyRefused(t *testing.T) {
	var hits int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		buf := make([]byte, 64<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	root := t.TempDir()
	a := newTestAssembler(t, root, nil)
	data := []byte("what the config wants")
	ct := ctFor("ct", "blob", data, materials.FormatRaw, "ds")
	ds := materials.Datastore{ID: "ds", Type: materials.DatastoreHTTP, FQDN: srv.URL}
	rep := apply(t, a, plan(downloadRemodel(ct, 1<<20)), ds)
	wantStatus(t, rep, "download ct", StatusFailed, "too large")
	if hits != 1 {
		t.Errorf("a size refusal was tried %d times", hits)
	}
	if _, err := os.Stat(filepath.Join(root, "persist/blobs/sha256", sha(data))); !os.IsNotExist(err) {
		t.Errorf("blob committed: %v", err)
	}
	var held int64
	filepath.Walk(filepath.Join(root, "persist"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && strings.Contains(p, "ingest") {
			held += fi.Size()
		}
		return nil
	})
	if held != 0 {
		t.Errorf("partials hold %d bytes after the refusal", held)
	}
}
