package crafts

import (
	"context"
	"fmt"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/azurefetch"
	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/chunkfetch"
	"github.com/edgewright/edgewright/assembler/crafts/containerd"
	"github.com/edgewright/edgewright/assembler/crafts/gcsfetch"
	"github.com/edgewright/edgewright/assembler/crafts/httpfetch"
	"github.com/edgewright/edgewright/assembler/crafts/qemu"
	"github.com/edgewright/edgewright/assembler/crafts/registry"
	"github.com/edgewright/edgewright/assembler/crafts/s3fetch"
	"github.com/edgewright/edgewright/assembler/crafts/sftpfetch"
	"github.com/edgewright/edgewright/assembler/crafts/snapshot"
	"github.com/edgewright/edgewright/assembler/ctrstore"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/inspector/ctrsurvey"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// Options choose among the standard crafts.
type Options struct {
	Logger *zap.Logger
	// KeepPrivileges lets container volumes keep setuid bits, devices and
	// security xattrs a layer asks for (registry.Crafts.KeepPrivileges).
	KeepPrivileges bool
	// Containerd, when set, keeps blobs in containerd (its socket and
	// namespace) instead of the blob directory.
	Containerd *ctrstore.Options
	// ContainerdContentDir is containerd's content directory on this
	// host (containerd.DefaultContentDir when empty).
	ContainerdContentDir string
	// Fetchers add or replace fetchers by datastore type (SFTP, S3, ...).
	Fetchers map[materials.DatastoreType]device.Fetcher
}

// Set is a device's standard crafts and what a survey of it needs.
type Set struct {
	Crafts device.Crafts
	// Containerd is the survey of the containerd store in use; nil with
	// the blob directory.
	Containerd *ctrsurvey.Daemon
	closers    []func() error
}

// Close releases what Open connected (containerd).
func (s *Set) Close() error {
	var err error
	for _, c := range s.closers {
		if cerr := c(); err == nil {
			err = cerr
		}
	}
	return err
}

// Open wires the standard crafts for the device at root.
func Open(ctx context.Context, root string, opts Options) (*Set, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	hf := &httpfetch.Fetcher{Logger: log}
	c := device.Crafts{
		Fetchers: map[materials.DatastoreType]device.Fetcher{
			materials.DatastoreHTTP: hf, materials.DatastoreHTTPS: hf,
			// Host keys must be pinned, buckets looked up by minio-go's
			// rule; opts.Fetchers replaces them to choose otherwise.
			materials.DatastoreSFTP:          &sftpfetch.Fetcher{Logger: log},
			materials.DatastoreS3:            &s3fetch.Fetcher{Logger: log},
			materials.DatastoreAzureBlob:     &azurefetch.Fetcher{Logger: log},
			materials.DatastoreGoogleStorage: &gcsfetch.Fetcher{Logger: log},
		},
		Stores:       map[materials.BlobStore]device.BlobStore{materials.BlobStoreDir: blobdir.New(root)},
		DefaultStore: materials.BlobStoreDir,
		Volumes:      &qemu.Volumes{Logger: log},
		Snapshots:    &snapshot.Snapshotter{Log: log},
	}
	(&registry.Crafts{Logger: log, KeepPrivileges: opts.KeepPrivileges}).Install(&c)
	if opts.Containerd == nil {
		// VM images from HTTP(S) datastores come as the chunks the blob
		// directory does not already hold when the datastore publishes an
		// index beside the image (`wright chunk`); else whole.
		cf := &chunkfetch.Fetcher{Whole: hf, Seeds: chunkfetch.DirSeeds(filepath.Join(layout.BlobsPath(root), "sha256"), 0), Logger: log}
		c.Fetchers[materials.DatastoreHTTP], c.Fetchers[materials.DatastoreHTTPS] = cf, cf
	}
	for t, f := range opts.Fetchers {
		c.Fetchers[t] = f
	}
	set := &Set{}
	if opts.Containerd != nil {
		co := *opts.Containerd
		if co.Logger == nil {
			co.Logger = log
		}
		cs, err := containerd.Open(ctx, co)
		if err != nil {
			return nil, fmt.Errorf("containerd at %s (namespace %s): %w", co.Socket, co.Namespace, err)
		}
		if opts.ContainerdContentDir != "" {
			cs.ContentDir = opts.ContainerdContentDir
			if q, ok := c.Volumes.(*qemu.Volumes); ok {
				q.ContainerdContentDir = opts.ContainerdContentDir
			}
		}
		cs.Install(&c)
		set.Containerd = cs.SurveyOptions()
		set.closers = append(set.closers, cs.Close)
	}
	set.Crafts = c
	return set, nil
}
