package sim

import (
	"context"
	"fmt"
	"syscall"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/assembler/crafts/chunkfetch"
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
	_ device.Scout    = fetcher{}
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
	// The resume rule every fetcher applies, the object's size known.
	offset := in.Offset()
	if req.ResumeFrom(offset, o.Size) != offset {
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
	// A chunked download brings over the network only its share of what
	// it writes.
	share := 1.0
	toFetch := o.Size - offset
	if c, ok := f.offer(req, o, offset); ok && !c.Whole && toFetch > 0 {
		share, toFetch = float64(c.FetchBytes)/float64(toFetch), c.FetchBytes
	}
	if req.Transfer != nil {
		req.Transfer(0, toFetch)
	}
	n, err := in.fill(o, share)
	got := int64(float64(n) * share)
	f.d.world.count(o.Digest, got)
	if req.Transfer != nil {
		req.Transfer(got, max(toFetch, got))
	}
	if err != nil {
		return err
	}
	progress(o.Size, o.Size)
	return nil
}

// Scout offers what the World says of an object's index: the device's
// complete blob that holds the most of it is the seed.
func (f fetcher) Scout(ctx context.Context, req device.FetchRequest, offset int64) (materials.ChunkOffer, bool, error) {
	if err := ctx.Err(); err != nil {
		return materials.ChunkOffer{}, false, err
	}
	o, err := f.source(req)
	if err != nil {
		return materials.ChunkOffer{}, false, err
	}
	c, ok := f.offer(req, o, offset)
	return c, ok, nil
}

// offer is the chunk fetcher's reckoning over the World's figures: no
// offer for a format that is not chunked, an object with no index, no
// seed on the device, or an offset past the object.
func (f fetcher) offer(req device.FetchRequest, o Object, offset int64) (materials.ChunkOffer, bool) {
	if !chunkfetch.Chunked(req.ContentTree.Format) || o.Chunks <= 0 || o.Size <= 0 || offset < 0 || offset > o.Size {
		return materials.ChunkOffer{}, false
	}
	var seed digest.Digest
	var best int64
	f.d.mu.Lock()
	for s, n := range o.Shares {
		if b := f.d.blobs[s]; b != nil && b.complete && s != o.Digest && (n > best || n == best && s < seed) {
			seed, best = s, min(n, o.Size)
		}
	}
	f.d.mu.Unlock()
	if seed == "" {
		return materials.ChunkOffer{}, false
	}
	c := materials.ChunkOffer{Blob: req.Blob.Digest, Datastore: req.Datastore.ID, Size: o.Size, Chunks: o.Chunks, Offset: offset, Seeds: []digest.Digest{seed}}
	// The chunks to fetch are spread evenly over the object.
	c.FetchBytes = (o.Size - best) * (o.Size - offset) / o.Size
	c.FetchChunks = int(int64(o.Chunks) * c.FetchBytes / o.Size)
	if float64(o.Size-best) > chunkfetch.DefaultMaxFetchShare*float64(o.Size) {
		c.Whole, c.FetchBytes, c.FetchChunks = true, o.Size-offset, 0
	}
	return c, true
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
