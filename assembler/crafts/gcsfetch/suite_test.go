package gcsfetch_test

import (
	"testing"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/gcsfetch"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// TestFetcherSuite runs the fetcher suite against the in-process GCS
// server with a service account key.
func TestFetcherSuite(t *testing.T) {
	g := testenv.StartGCS(t, "images")
	ds := datastore(g)
	ds.Path = "images/suite"
	devicetest.RunFetcher(t, devicetest.FetcherRig{
		New: func(t *testing.T, log *zap.Logger) device.Fetcher { return &gcsfetch.Fetcher{Logger: log} },
		Publish: func(t *testing.T, name string, data []byte) (materials.Datastore, string) {
			g.Put("images", "suite/"+name, data)
			return ds, name
		},
		Dead: func(t *testing.T) materials.Datastore {
			d := ds
			d.FQDN = "http://" + testenv.DeadAddr(t)
			return d
		},
		Store:   func(t *testing.T) device.BlobStore { return blobdir.New(t.TempDir()) },
		Secrets: secrets(t, ds.Password),
	})
}
