package httpfetch_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/httpfetch"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// TestFetcherSuite runs the fetcher suite against a loopback HTTP
// datastore that asks for basic auth and serves Range (as nginx does).
func TestFetcherSuite(t *testing.T) {
	const user, password = "edge", "suite-secret-password"
	var mu sync.Mutex
	files := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		b, ok := files[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(srv.Close)
	ds := materials.Datastore{ID: "ds", Type: materials.DatastoreHTTP, FQDN: srv.URL, Path: "images",
		APIKey: user, Password: password, HasCredentials: true}
	devicetest.RunFetcher(t, devicetest.FetcherRig{
		New: func(t *testing.T, log *zap.Logger) device.Fetcher { return &httpfetch.Fetcher{Logger: log} },
		Publish: func(t *testing.T, name string, data []byte) (materials.Datastore, string) {
			mu.Lock()
			files["/images/"+name] = data
			mu.Unlock()
			return ds, name
		},
		Dead: func(t *testing.T) materials.Datastore {
			d := ds
			d.FQDN = "http://" + testenv.DeadAddr(t)
			return d
		},
		Store:   func(t *testing.T) device.BlobStore { return blobdir.New(t.TempDir()) },
		Secrets: []string{password},
	})
}
