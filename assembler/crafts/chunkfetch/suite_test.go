package chunkfetch

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/httpfetch"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// TestFetcherSuite runs the fetcher suite over the chunked path: every
// published image gets its index and chunk store (as `wright chunk`
// writes them) and a seed that differs from it in one place, so that each
// download is built from the seed plus fetched chunks.
func TestFetcherSuite(t *testing.T) {
	pub, seeds := t.TempDir(), t.TempDir()
	srv := httptest.NewServer(http.StripPrefix("/images/", http.FileServer(http.Dir(pub))))
	t.Cleanup(srv.Close)
	ds := materials.Datastore{ID: "ds", Type: materials.DatastoreHTTP, FQDN: srv.URL, Path: "images"}
	devicetest.RunFetcher(t, devicetest.FetcherRig{
		New: func(t *testing.T, log *zap.Logger) device.Fetcher {
			return &Fetcher{Whole: &httpfetch.Fetcher{Logger: log}, Seeds: DirSeeds(seeds, 0), Logger: log, Parallel: 4}
		},
		Publish: func(t *testing.T, name string, data []byte) (materials.Datastore, string) {
			publish(t, pub, name, data)
			seed := bytes.Clone(data)
			seed[len(seed)/3] ^= 0x5a
			if err := os.WriteFile(filepath.Join(seeds, digest.FromBytes(seed).Encoded()), seed, 0o600); err != nil {
				t.Fatal(err)
			}
			return ds, name
		},
		Dead: func(t *testing.T) materials.Datastore {
			d := ds
			d.FQDN = "http://" + testenv.DeadAddr(t)
			return d
		},
		Store: func(t *testing.T) device.BlobStore { return blobdir.New(t.TempDir()) },
	})
}
