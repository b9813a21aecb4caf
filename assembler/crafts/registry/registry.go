package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/oci"
	"github.com/edgewright/edgewright/assembler/unpack"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// Crafts are the crafts for container-registry content trees, over
// assembler/oci and assembler/unpack: a device.Resolver (tag → top blob), a
// device.Fetcher for DatastoreContainerRegistry (manifests from the manifests
// endpoint, other blobs resumed with Range into any device.Ingest) and a
// device.ContainerBuilder (layers from a device.BlobStore unpacked into `<final>.tmp/`,
// renamed into place). Install sets them on a device.Crafts.
type Crafts struct {
	// Platform picks a manifest from an index; zero means linux/amd64.
	Platform oci.Platform
	// Transport, if set, is the base HTTP transport (tests inject faults).
	Transport http.RoundTripper
	Logger    *zap.Logger
	// KeepPrivileges lets container volumes keep what a layer could grant
	// on the host: setuid/setgid bits, char and block devices, security.*
	// xattrs (file capabilities). Off by default: they are dropped with a
	// warning (unpack.Options.KeepPrivileges).
	KeepPrivileges bool

	mu      sync.Mutex
	clients map[ociClientKey]*oci.Client
}

// ociClientKey: one client (and token cache) per datastore and credentials.
type ociClientKey struct{ id, fqdn, user, pass string }

// Install makes c use these crafts for container-registry datastores,
// tag resolution and container volumes.
func (o *Crafts) Install(c *device.Crafts) {
	if c.Fetchers == nil {
		c.Fetchers = map[materials.DatastoreType]device.Fetcher{}
	}
	c.Fetchers[materials.DatastoreContainerRegistry] = o
	c.Resolver = o
	c.Containers = o
}

func (o *Crafts) log() *zap.Logger {
	if o.Logger == nil {
		return zap.NewNop()
	}
	return o.Logger
}

func (o *Crafts) client(ds materials.Datastore) (*oci.Client, error) {
	k := ociClientKey{ds.ID, ds.FQDN, ds.APIKey, ds.Password}
	o.mu.Lock()
	defer o.mu.Unlock()
	if c, ok := o.clients[k]; ok {
		return c, nil
	}
	c, err := oci.FromDatastore(ds, oci.Options{Platform: o.Platform, Transport: o.Transport, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	if o.clients == nil {
		o.clients = map[ociClientKey]*oci.Client{}
	}
	o.clients[k] = c
	return c, nil
}

// Resolve asks the registry for the content tree's top blob (its tag's
// digest now, or the digest its URL pins). Latching it is the caller's.
func (o *Crafts) Resolve(ctx context.Context, ds materials.Datastore, ct materials.ContentTree) (materials.Blob, error) {
	c, err := o.client(ds)
	if err != nil {
		return materials.Blob{}, err
	}
	ref, err := c.ParseReference(ct.URL)
	if err != nil {
		return materials.Blob{}, fmt.Errorf("content tree %s: %w", ct.ID, err)
	}
	d, err := c.Resolve(ctx, ref)
	if err != nil {
		return materials.Blob{}, ociRetryable(fmt.Errorf("content tree %s: %w", ct.ID, err))
	}
	return materials.Blob{Digest: d.Digest, Size: d.Size, MediaType: d.MediaType}, nil
}

// Fetch fetches one blob of a content tree into dst. An index or manifest
// (by media type, or a blob of unknown size: the top) comes from the
// manifests endpoint; anything else from the blobs endpoint, resumed at
// dst's offset. dst's Commit checks the digest. A blob whose descriptor
// size is more than the request's FreeBytes (after the partial) is
// refused with *device.TooLargeError before it is requested.
func (o *Crafts) Fetch(ctx context.Context, req device.FetchRequest, dst device.Ingest, progress func(done, known int64)) error {
	c, err := o.client(req.Datastore)
	if err != nil {
		return err
	}
	ref, err := c.ParseReference(req.ContentTree.URL)
	if err != nil {
		return fmt.Errorf("content tree %s: %w", req.ContentTree.ID, err)
	}
	b := req.Blob
	desc := oci.Descriptor{Digest: b.Digest, Size: b.Size, MediaType: b.MediaType}
	if oci.IsIndex(b.MediaType) || oci.IsManifest(b.MediaType) || b.Size <= 0 {
		return o.fetchManifest(ctx, c, ref.Repository, desc, dst, progress)
	}
	if dst.Offset() > b.Size {
		if err := dst.Truncate(); err != nil {
			return err
		}
	}
	// The free space after what the partial holds bounds the blob as it
	// does an HTTP body: a descriptor larger than that is refused before
	// a byte is written, and the partial goes (the same size comes again).
	if bound := dst.Offset() + req.FreeBytes; req.FreeBytes > 0 && b.Size > bound {
		_ = dst.Truncate()
		return &device.TooLargeError{Blob: b, URL: req.Datastore.FQDN + "/" + ref.Repository, Bound: bound, From: "free space", Got: b.Size, Declared: true}
	}
	_, err = c.FetchBlob(ctx, ref.Repository, desc, ingestSink{dst}, oci.Resume{
		Offset:       dst.Offset(),
		SinkVerifies: true,
		Progress:     func(off int64) { progress(off, b.Size) },
	})
	if oci.IsNotFound(err) && b.Size <= oci.MaxManifestSize && b.MediaType == "" {
		// A child of unknown type may be a manifest the registry keeps
		// only under the manifests endpoint.
		return o.fetchManifest(ctx, c, ref.Repository, desc, dst, progress)
	}
	if err != nil {
		return ociRetryable(err)
	}
	return nil
}

func (o *Crafts) fetchManifest(ctx context.Context, c *oci.Client, repo string, desc oci.Descriptor, dst device.Ingest, progress func(done, known int64)) error {
	data, err := c.FetchManifest(ctx, repo, desc)
	if err != nil {
		return ociRetryable(err)
	}
	if dst.Offset() != 0 {
		if err := dst.Truncate(); err != nil {
			return err
		}
	}
	if _, err := dst.Write(data); err != nil {
		return fmt.Errorf("manifest %s: write ingest: %w", desc.Digest, err)
	}
	progress(int64(len(data)), int64(len(data)))
	return nil
}

// ociRetryable marks a registry's transient refusals (5xx, 429, 408) for
// the retry loop; network errors are classified as retryable already.
func ociRetryable(err error) error {
	var he *oci.HTTPError
	if errors.As(err, &he) && (he.Status >= 500 || he.Status == http.StatusTooManyRequests || he.Status == http.StatusRequestTimeout) {
		return device.Retryable(err)
	}
	return err
}

// ingestSink adapts an device.Ingest to oci.Sink (which truncates to a size; an
// device.Ingest only starts over).
type ingestSink struct{ in device.Ingest }

func (s ingestSink) Write(p []byte) (int, error) { return s.in.Write(p) }

func (s ingestSink) Truncate(size int64) error {
	if size != 0 {
		return fmt.Errorf("ingest truncates only to 0, not %d", size)
	}
	return s.in.Truncate()
}

// CreateContainer builds a container volume directory at final from the
// content tree's blobs in store: the top (index → the platform's manifest,
// or a manifest), then its layers in order, unpacked into `<final>.tmp/`
// and renamed into place.
func (o *Crafts) CreateContainer(ctx context.Context, final string, v materials.Volume, ct materials.ContentTree, store device.BlobStore) error {
	top := ct.Digest()
	if top == "" {
		return device.Terminal("container volume from content tree %s: no digest yet (resolve it first)", ct.ID)
	}
	data, err := ReadSmallBlob(ctx, store, oci.Descriptor{Digest: top})
	if err != nil {
		return fmt.Errorf("content tree %s: %w", ct.ID, err)
	}
	kids, err := oci.Children("", data)
	if err != nil {
		return device.Terminal("content tree %s: top blob %s: %v", ct.ID, top, err)
	}
	if len(kids) > 0 && kids[0].Role == oci.RoleManifest {
		m, err := oci.ChoosePlatform(kids, o.Platform)
		if err != nil {
			return device.Terminal("content tree %s: %v", ct.ID, err)
		}
		if data, err = ReadSmallBlob(ctx, store, m); err != nil {
			return fmt.Errorf("content tree %s: %w", ct.ID, err)
		}
		if kids, err = oci.Children(m.MediaType, data); err != nil {
			return device.Terminal("content tree %s: manifest %s: %v", ct.ID, m.Digest, err)
		}
	}
	var layers []unpack.Layer
	var digests []string
	for _, k := range kids {
		if k.Role != oci.RoleLayer {
			continue
		}
		d := k.Digest
		layers = append(layers, func() (io.ReadCloser, error) { return store.Open(ctx, d) })
		digests = append(digests, d.String())
	}
	st, err := unpack.Build(ctx, final, layers, unpack.Options{Logger: o.Logger, MaxBytes: v.MaxSizeBytes, Name: v.Key().String(),
		LayerDigests: digests, KeepPrivileges: o.KeepPrivileges})
	if err != nil {
		var esc *unpack.EscapeError
		var lim *unpack.LimitError
		if errors.As(err, &esc) || errors.As(err, &lim) {
			return &device.TerminalError{Err: err}
		}
		return err
	}
	o.log().Debug("container volume built", zap.String("path", final), zap.String("contentTree", ct.ID),
		zap.Int("layers", len(layers)), zap.Int("entries", st.Entries), zap.Int64("bytes", st.Bytes))
	return nil
}

// ReadSmallBlob reads an index or manifest from a store, bounded by
// oci.MaxManifestSize.
func ReadSmallBlob(ctx context.Context, store device.BlobStore, d oci.Descriptor) ([]byte, error) {
	rc, err := store.Open(ctx, d.Digest)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, oci.MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	if len(data) > oci.MaxManifestSize {
		return nil, fmt.Errorf("blob %s: larger than %d bytes for an index or manifest", d.Digest, oci.MaxManifestSize)
	}
	return data, nil
}

// Follow names an index's manifest for the crafts' platform, so the engine
// fetches it with the index: the foreman learns the manifest only from a
// survey after the index is stored. Anything else implies nothing.
func (o *Crafts) Follow(ctx context.Context, req device.FetchRequest, store device.BlobStore) (materials.Blob, bool, error) {
	b := req.Blob
	if b.Size > oci.MaxManifestSize || (b.MediaType != "" && !oci.IsIndex(b.MediaType)) {
		return materials.Blob{}, false, nil
	}
	_, size, err := store.Has(ctx, b.Digest)
	if err != nil || size > oci.MaxManifestSize {
		return materials.Blob{}, false, err
	}
	data, err := ReadSmallBlob(ctx, store, oci.Descriptor{Digest: b.Digest})
	if err != nil {
		return materials.Blob{}, false, err
	}
	kids, err := oci.Children("", data)
	if err != nil || len(kids) == 0 || kids[0].Role != oci.RoleManifest {
		return materials.Blob{}, false, nil
	}
	m, err := oci.ChoosePlatform(kids, o.Platform)
	if err != nil {
		return materials.Blob{}, false, &device.TerminalError{Err: fmt.Errorf("content tree %s: index %s: %w", req.ContentTree.ID, b.Digest, err)}
	}
	return materials.Blob{Digest: m.Digest, Size: m.Size, MediaType: m.MediaType}, true, nil
}
