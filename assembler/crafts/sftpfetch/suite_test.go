package sftpfetch_test

import (
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/sftpfetch"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// TestFetcherSuite runs the fetcher suite against Debian's sshd with its
// internal sftp server, logging in with a key and pinning the host key.
func TestFetcherSuite(t *testing.T) {
	s := testenv.StartSSHD(t)
	ds := (&server{SSHD: s}).datastore()
	ds.Path = filepath.Join(s.Root, "suite")
	devicetest.RunFetcher(t, devicetest.FetcherRig{
		New: func(t *testing.T, log *zap.Logger) device.Fetcher { return &sftpfetch.Fetcher{Logger: log} },
		Publish: func(t *testing.T, name string, data []byte) (materials.Datastore, string) {
			if _, err := s.WriteFile("suite/"+name, data); err != nil {
				t.Fatal(err)
			}
			return ds, name
		},
		Dead: func(t *testing.T) materials.Datastore {
			d := ds
			d.FQDN = testenv.DeadAddr(t)
			return d
		},
		Store:   func(t *testing.T) device.BlobStore { return blobdir.New(t.TempDir()) },
		Secrets: []string{s.ClientKeyPEM[40:80]},
	})
}
