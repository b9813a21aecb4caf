package azurefetch_test

import (
	"context"
	"testing"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/azurefetch"
	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// TestFetcherSuite runs the fetcher suite against Azurite with the
// account's shared key.
func TestFetcherSuite(t *testing.T) {
	az := testenv.StartAzurite(t, "images")
	ds := datastore(az)
	ds.Path = "images/suite"
	devicetest.RunFetcher(t, devicetest.FetcherRig{
		New: func(t *testing.T, log *zap.Logger) device.Fetcher { return &azurefetch.Fetcher{Logger: log} },
		Publish: func(t *testing.T, name string, data []byte) (materials.Datastore, string) {
			if err := az.Put(context.Background(), "images", "suite/"+name, data); err != nil {
				t.Fatal(err)
			}
			return ds, name
		},
		Dead: func(t *testing.T) materials.Datastore {
			d := ds
			d.FQDN = "http://" + testenv.DeadAddr(t) + "/" + az.Account
			return d
		},
		Store:   func(t *testing.T) device.BlobStore { return blobdir.New(t.TempDir()) },
		Secrets: []string{az.Key},
	})
}
