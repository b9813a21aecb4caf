package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/registry"
	"github.com/edgewright/edgewright/assembler/ctrstore"
	"github.com/edgewright/edgewright/assembler/oci"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/inspector/ctrsurvey"
	"github.com/edgewright/edgewright/materials"
)

// DefaultContentDir is where a stock containerd keeps its blobs.
const DefaultContentDir = "/var/lib/containerd/io.containerd.content.v1.content"

// Store keeps blobs in containerd's content store, as EVE does:
// each content tree's blobs are written inside the tree's lease under an
// ingest ref derived from the digest (a fetch resumes at containerd's
// recorded offset), committed with edgewright's ownership label and, for an
// index or manifest, the gc labels that tie it to its children. Once a
// tree is whole, Seal names it with the image record
// `<content-tree-id>-<URL>` and drops its lease, so deleting the record is
// all it takes for containerd's garbage collector to reclaim the blobs.
// Blobs without edgewright's label are used but never deleted.
type Store struct {
	Store *ctrstore.Store
	// Socket is containerd's address, for the survey (SurveyOptions).
	Socket string
	// Platform picks a manifest from an index when sealing; zero means
	// linux/amd64 (as OCICrafts).
	Platform oci.Platform
	// ContentDir is containerd's content directory on this host. When a
	// blob's file is there, raw and qcow2 volumes are made from it
	// directly; otherwise the blob is staged in a temporary file first.
	ContentDir string
	Logger     *zap.Logger
}

// Open connects to containerd (socket and namespace from
// opts) and returns a store whose ContentDir is containerd's default.
func Open(ctx context.Context, opts ctrstore.Options) (*Store, error) {
	s, err := ctrstore.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	socket := opts.Socket
	if socket == "" {
		socket = ctrstore.DefaultSocket
	}
	return &Store{Store: s, Socket: socket, ContentDir: DefaultContentDir, Logger: opts.Logger}, nil
}

// Close closes the connection to containerd.
func (c *Store) Close() error { return c.Store.Close() }

// Install makes c the crafts' default blob store and its image and lease
// deleter.
func (c *Store) Install(cr *device.Crafts) {
	if cr.Stores == nil {
		cr.Stores = map[materials.BlobStore]device.BlobStore{}
	}
	cr.Stores[materials.BlobStoreContainerd] = c
	cr.DefaultStore = materials.BlobStoreContainerd
	cr.Images = c
	cr.Leases = c
}

// SurveyOptions is the survey of the same containerd and namespace, for
// inspector.Options.Containerd.
func (c *Store) SurveyOptions() *ctrsurvey.Daemon {
	return &ctrsurvey.Daemon{Socket: c.Socket, Namespace: c.Store.Namespace(), Logger: c.Logger}
}

// SurveyStore is SurveyOptions as the executor asks for it, so the
// executor need not import containerd's client to find the survey.
func (c *Store) SurveyStore() inspector.ContentStore { return c.SurveyOptions() }

func (c *Store) log() *zap.Logger {
	if c.Logger == nil {
		return zap.NewNop()
	}
	return c.Logger
}

// Has reports whether the blob is committed (whoever wrote it).
func (c *Store) Has(ctx context.Context, d digest.Digest) (bool, int64, error) {
	st, err := c.Store.Status(ctx, d)
	if err != nil {
		return false, 0, err
	}
	return st.Committed, st.Size, nil
}

// device.Ingest refuses: containerd ingests belong to a content tree's lease
// (IngestFor).
func (c *Store) Ingest(ctx context.Context, b materials.Blob) (device.Ingest, error) {
	return nil, device.Terminal("containerd ingest of %s: no content tree given (use IngestFor)", b.Digest)
}

// IngestFor opens b's ingest inside ct's lease, at containerd's recorded
// offset. A small blob that may be an index or a manifest (its media type
// says so, or is unknown) starts over so it is seen whole at commit, where
// an index or manifest gets its gc labels.
func (c *Store) IngestFor(ctx context.Context, ct materials.ContentTree, b materials.Blob) (device.Ingest, error) {
	desc := ocispec.Descriptor{Digest: b.Digest, Size: b.Size, MediaType: b.MediaType}
	w, err := c.Store.Writer(ctx, ct.ID, desc)
	if errors.Is(err, ctrstore.ErrCommitted) {
		return nil, device.ErrAlreadyPresent
	}
	if err != nil {
		return nil, fmt.Errorf("content tree %s: %w", ct.ID, err)
	}
	// Only what may be an index or a manifest is kept whole (and started
	// over); a layer of any size resumes.
	mayList := b.MediaType == "" || oci.IsIndex(b.MediaType) || oci.IsManifest(b.MediaType)
	in := &ctrIngest{w: w, digest: b.Digest, small: mayList && b.Size <= oci.MaxManifestSize && w.Offset() <= oci.MaxManifestSize}
	if in.small && w.Offset() > 0 {
		if err := w.Truncate(0); err != nil {
			w.Close()
			return nil, fmt.Errorf("blob %s: restart small ingest: %w", b.Digest, err)
		}
	}
	return in, nil
}

// Hold adds a present blob to ct's lease.
func (c *Store) Hold(ctx context.Context, ct materials.ContentTree, d digest.Digest) error {
	return c.Store.Keep(ctx, ct.ID, d)
}

// Open reads a committed blob: from its file in ContentDir when it is
// there (containerd's committed blobs are immutable, and this one is held
// by the tree's lease or image record), else through containerd's API,
// which costs a round trip per MiB.
func (c *Store) Open(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	if ok, _, err := c.Has(ctx, d); err != nil {
		return nil, err
	} else if ok {
		if p := c.Path(d); p != "" {
			// No symlink followed: Path refused one, and one put there since
			// fails the open (then containerd's API reads the blob).
			if f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0); err == nil {
				return f, nil
			}
		}
	}
	return c.Store.Open(ctx, ocispec.Descriptor{Digest: d})
}

// Path is the blob's file in ContentDir when it is there as a regular
// file, else "": a symlink planted in its place (to a host file, read
// into a volume by qemu-img) or a FIFO is not a blob.
func (c *Store) Path(d digest.Digest) string {
	if c.ContentDir == "" || d.Validate() != nil {
		return ""
	}
	p := filepath.Join(c.ContentDir, "blobs", string(d.Algorithm()), d.Encoded())
	if st, err := os.Lstat(p); err != nil || !st.Mode().IsRegular() {
		return ""
	}
	return p
}

// Delete deletes a blob edgewright wrote (or aborts its ingest); a blob
// without the ownership label is refused.
func (c *Store) Delete(ctx context.Context, d digest.Digest) error {
	return refuseForeign(c.Store.DeleteBlob(ctx, d))
}

// DeleteImage deletes an image record of edgewright's and its tree's
// lease; containerd's garbage collector takes the blobs.
func (c *Store) DeleteImage(ctx context.Context, name string) error {
	return refuseForeign(c.Store.DeleteImage(ctx, name))
}

// DeleteLease deletes a lease of edgewright's (a leaked one a clean
// names); containerd's garbage collector takes the blobs only it held.
func (c *Store) DeleteLease(ctx context.Context, id string) error {
	return refuseForeign(c.Store.DeleteLease(ctx, id))
}

// refuseForeign makes a refusal to touch what is not edgewright's
// terminal: a retry would be refused the same way.
func refuseForeign(err error) error {
	var fe *ctrstore.ForeignError
	if errors.As(err, &fe) {
		return &device.TerminalError{Err: err}
	}
	return err
}

// Seal names a whole content tree with its image record and drops its
// lease. A tree is whole when its top blob is committed and, for an OCI
// tree, the manifest (this platform's, under an index) and all the
// manifest's config and layers are committed too.
func (c *Store) Seal(ctx context.Context, ct materials.ContentTree, top digest.Digest) (bool, error) {
	desc, whole, err := c.whole(ctx, top)
	if err != nil || !whole {
		return false, err
	}
	if err := c.Store.SetImage(ctx, ct.ID, ct.URL, desc); err != nil {
		return false, err
	}
	if err := c.Store.ReleaseLease(ctx, ct.ID); err != nil {
		return true, err
	}
	c.log().Debug("content tree sealed", zap.String("contentTree", ct.ID), zap.String("image", ctrstore.ImageName(ct.ID, ct.URL)), zap.String("top", string(top)))
	return true, nil
}

// octetStream is the image record's media type for a tree that is a
// single blob (a VM disk image).
const octetStream = "application/octet-stream"

// whole reports whether the tree under top is all committed, and top's
// descriptor for the image record.
func (c *Store) whole(ctx context.Context, top digest.Digest) (ocispec.Descriptor, bool, error) {
	st, err := c.Store.Status(ctx, top)
	if err != nil || !st.Committed {
		return ocispec.Descriptor{}, false, err
	}
	desc := ocispec.Descriptor{Digest: top, Size: st.Size, MediaType: octetStream}
	if st.Size > oci.MaxManifestSize {
		return desc, true, nil
	}
	data, err := registry.ReadSmallBlob(ctx, c, oci.Descriptor{Digest: top})
	if err != nil {
		return desc, false, err
	}
	kids, err := oci.Children("", data)
	if err != nil {
		return desc, true, nil // not an index or a manifest: a single blob
	}
	desc.MediaType = jsonMediaType(data, kids)
	if len(kids) > 0 && kids[0].Role == oci.RoleManifest {
		m, err := oci.ChoosePlatform(kids, c.Platform)
		if err != nil {
			return desc, false, nil // nothing for this platform: never whole
		}
		if ok, _, err := c.Has(ctx, m.Digest); err != nil || !ok {
			return desc, false, err
		}
		mdata, err := registry.ReadSmallBlob(ctx, c, m)
		if err != nil {
			return desc, false, err
		}
		if kids, err = oci.Children(m.MediaType, mdata); err != nil {
			return desc, false, nil
		}
	}
	for _, k := range kids {
		if ok, _, err := c.Has(ctx, k.Digest); err != nil || !ok {
			return desc, false, err
		}
	}
	return desc, true, nil
}

// jsonMediaType is an index's or manifest's media type: its own field, or
// OCI's by its shape.
func jsonMediaType(data []byte, kids []oci.Child) string {
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(data, &probe) == nil && (oci.IsIndex(probe.MediaType) || oci.IsManifest(probe.MediaType)) {
		return probe.MediaType
	}
	if len(kids) > 0 && kids[0].Role == oci.RoleManifest {
		return oci.MediaTypeOCIIndex
	}
	return oci.MediaTypeOCIManifest
}

// ctrIngest adapts a ctrstore.Writer to the engine's device.Ingest. While the
// blob is small it keeps a copy, so an index or manifest can be labelled
// with its children at commit.
type ctrIngest struct {
	w      *ctrstore.Writer
	digest digest.Digest
	small  bool
	buf    []byte
	done   bool
}

func (in *ctrIngest) Offset() int64 { return in.w.Offset() }

func (in *ctrIngest) Write(p []byte) (int, error) {
	n, err := in.w.Write(p)
	if in.small {
		if len(in.buf)+n > oci.MaxManifestSize {
			in.small, in.buf = false, nil
		} else {
			in.buf = append(in.buf, p[:n]...)
		}
	}
	return n, err
}

func (in *ctrIngest) Truncate() error {
	in.buf = in.buf[:0]
	in.small = true
	return in.w.Truncate(0)
}

func (in *ctrIngest) Commit(ctx context.Context, expectedSize int64) error {
	if in.done {
		return errors.New("ingest already closed")
	}
	in.done = true
	if expectedSize > 0 && in.w.Offset() != expectedSize {
		in.w.Close()
		return &device.DigestMismatchError{Want: fmt.Sprintf("%s (%d bytes)", in.digest, expectedSize), Got: fmt.Sprintf("%d bytes", in.w.Offset())}
	}
	var labels map[string]string
	if in.small && int64(len(in.buf)) == in.w.Offset() && len(in.buf) > 0 && in.buf[0] == '{' {
		if l, err := ctrstore.GCLabels("", in.buf); err == nil {
			labels = l
		}
	}
	err := in.w.Commit(labels)
	var dm *oci.DigestMismatchError
	if errors.As(err, &dm) {
		return &device.DigestMismatchError{Want: string(dm.Want), Got: string(dm.Got)}
	}
	return err
}

func (in *ctrIngest) Close() error {
	if in.done {
		return nil
	}
	in.done = true
	return in.w.Close()
}
