package s3fetch_test

import (
	"testing"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/s3fetch"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// TestFetcherSuite runs the fetcher suite against the in-process S3
// server, path style, signed with SigV4.
func TestFetcherSuite(t *testing.T) {
	srv := testenv.StartS3(t, "images")
	ds := materials.Datastore{ID: dsID, Type: materials.DatastoreS3, FQDN: "http://" + srv.Host, Path: "images/suite",
		Region: srv.Region, APIKey: srv.AccessKey, Password: srv.SecretKey, HasCredentials: true}
	devicetest.RunFetcher(t, devicetest.FetcherRig{
		New: func(t *testing.T, log *zap.Logger) device.Fetcher { return &s3fetch.Fetcher{Logger: log} },
		Publish: func(t *testing.T, name string, data []byte) (materials.Datastore, string) {
			if err := srv.Put("images", "suite/"+name, data); err != nil {
				t.Fatal(err)
			}
			return ds, name
		},
		Dead: func(t *testing.T) materials.Datastore {
			d := ds
			d.FQDN = "http://" + testenv.DeadAddr(t)
			return d
		},
		Store:   func(t *testing.T) device.BlobStore { return blobdir.New(t.TempDir()) },
		Secrets: []string{srv.SecretKey},
	})
}
