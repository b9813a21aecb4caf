package sim

import (
	"context"
	"fmt"
	"syscall"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// fetcher serves the device's downloads from its World, with the HTTP
// fetcher's bounds and error classes.
type fetcher struct{ d *Device }

var (
	_ device.Fetcher  = fetcher{}
	_ device.Follower = fetcher{}
	_ device.Resolver = fetcher{}
)

// source finds what the datastore serves for a request: by path for an
// HTTP datastore, by digest for a registry.
func (f fetcher) source(req device.FetchRequest) (Object, error) {
	w, ds := f.d.world, req.Datastore
	if w.isDown(ds) {
		return Object{}, device.Retryable(fmt.Errorf("fetch from datastore %s (%s): %w", ds.ID, host(ds.FQDN), syscall.ECONNREFUSED))
	}
	dg := req.Blob.Digest
	if ds.Type != materials.DatastoreContainerRegistry {
		var ok bool
		if dg, ok = w.served1(ds, req.ContentTree.URL); !ok {
			return Object{}, fmt.Errorf("fetch %s from datastore %s: 404 Not Found", req.ContentTree.URL, ds.ID)
		}
	}
	o, ok := w.object(dg)
	if !ok {
		return Object{}, fmt.Errorf("fetch %s from datastore %s: 404 Not Found", dg, ds.ID)
	}
	return o, nil
}

// Fetch fills the ingest from its offset, bounded by the rule every
// fetcher applies (device.FetchRequest.Limit).
func (f fetcher) Fetch(ctx context.Context, req device.FetchRequest, dst device.Ingest, progress func(done, known int64)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	in, ok := dst.(*ingest)
	if !ok {
		return fmt.Errorf("sim fetcher: ingest %T is not the sim's", dst)
	}
	o, err := f.source(req)
	if err != nil {
		return err
	}
	offset := in.Offset()
	if keep := req.MaxOffset(); offset > o.Size || (keep > 0 && offset > keep) {
		if err := in.Truncate(); err != nil {
			return err
		}
		offset = 0
	}
	if l := req.Limit(offset); l.Bytes > 0 && o.Size > l.Bytes {
		_ = in.Truncate()
		return &device.TooLargeError{Blob: req.Blob, URL: req.ContentTree.URL, Bound: l.Bytes, From: l.From, Got: o.Size, Declared: true}
	}
	progress(offset, o.Size)
	n, err := in.fill(o)
	f.d.world.count(o.Digest, n)
	if err != nil {
		return err
	}
	progress(o.Size, o.Size)
	return nil
}

// Follow names the manifest an index takes for this platform.
func (f fetcher) Follow(ctx context.Context, req device.FetchRequest, store device.BlobStore) (materials.Blob, bool, error) {
	o, ok := f.d.world.object(req.Blob.Digest)
	if !ok || o.Follow == nil {
		return materials.Blob{}, false, nil
	}
	return *o.Follow, true, nil
}

// Resolve turns a registry tag into its top blob.
func (f fetcher) Resolve(ctx context.Context, ds materials.Datastore, ct materials.ContentTree) (materials.Blob, error) {
	w := f.d.world
	if w.isDown(ds) {
		return materials.Blob{}, device.Retryable(fmt.Errorf("resolve %s at datastore %s: %w", ct.URL, ds.ID, syscall.ECONNREFUSED))
	}
	dg, ok := w.tag(ds, ct.URL)
	if !ok {
		return materials.Blob{}, fmt.Errorf("resolve %s at datastore %s: manifest unknown", ct.URL, ds.ID)
	}
	o, _ := w.object(dg)
	return materials.Blob{Digest: dg, Size: o.Size, MediaType: o.MediaType}, nil
}
