package device

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// Crafts are the hands of the assembler, each behind a small interface so
// the in-memory device (or the OCI/containerd crafts) can swap it.
type Crafts struct {
	// Fetchers fetch blobs, by datastore type. New fills http and https
	// with an HTTPFetcher when absent.
	Fetchers map[materials.DatastoreType]Fetcher
	// Stores hold blobs, by store name. New fills "dir" with a BlobDir
	// under the root when absent.
	Stores map[materials.BlobStore]BlobStore
	// DefaultStore is where downloads go; "dir" when empty.
	DefaultStore materials.BlobStore
	// Volumes builds raw and qcow2 volumes; a QemuVolumes when nil.
	Volumes VolumeBuilder
	// Containers builds container volumes (a directory from an OCI
	// content tree); nil means container volumes fail with ErrNoCraft.
	Containers ContainerBuilder
	// Images deletes containerd image records (a content tree's delete
	// names one); nil means such deletes fail with ErrNoCraft.
	Images ImageDeleter
	// Leases deletes containerd leases edgewright made (a clean of a
	// leaked one names it); nil means such deletes fail with ErrNoCraft.
	Leases LeaseDeleter
	// Resolver turns an OCI tag into a digest; nil means resolve remodels
	// fail with ErrNoCraft.
	Resolver Resolver
	// Snapshots takes, restores and deletes app snapshots of volumes;
	// nil means snapshot, rollback and delete-snapshot remodels fail with
	// ErrNoCraft.
	Snapshots Snapshotter
}

// SnapshotMethod says how a snapshot or a rollback was made (a qcow2
// internal snapshot, a reflink, a copy), for the report.
type SnapshotMethod string

// SnapshotResult is what one snapshot operation did.
type SnapshotResult struct {
	Method SnapshotMethod `json:"method"`
	// Bytes is how many bytes were copied (0 for a reflink or a qcow2
	// internal snapshot).
	Bytes int64 `json:"bytes"`
	// AlreadyDone is true when there was nothing to do: Take found the
	// snapshot already there, Delete found it already gone (a step retried
	// after a crash).
	AlreadyDone bool `json:"alreadyDone,omitempty"`
}

// Snapshotter takes, restores and deletes snapshot snap (a lower-case
// canonical UUID) of volume v under root. Every method is idempotent, so
// a remodel the journal saw start and not finish is simply run again.
// Rollback restores the volume atomically (the old bytes or the
// snapshot's, never a mix); the caller has stopped the app using v.
type Snapshotter interface {
	Take(ctx context.Context, root string, v materials.Volume, snap string) (SnapshotResult, error)
	Rollback(ctx context.Context, root string, v materials.Volume, snap string) (SnapshotResult, error)
	Delete(ctx context.Context, root string, v materials.Volume, snap string) (SnapshotResult, error)
}

// SnapshotRestorer is a Snapshotter that can also roll a volume back to
// a snapshot another generation of it holds: an app-update snapshot is
// taken of the generation an update replaced, and the rollback restores
// its bytes into the generation the app uses now. RestoreFrom writes
// snapshot snap of from into a temp beside to, syncs it and renames it
// over to (the old bytes or the snapshot's, never a mix); from and its
// snapshot stay. It is a role of its own so a Snapshotter without it
// still builds: the executor then fails such a rollback with ErrNoCraft.
type SnapshotRestorer interface {
	Snapshotter
	RestoreFrom(ctx context.Context, root string, from materials.Volume, snap string, to materials.Volume) (SnapshotResult, error)
}

// SnapshotMover is a SnapshotRestorer that can roll back across
// generations without copying the snapshot's data, when nothing but its
// snapshots keeps the old generation's file (the planner's
// RollbackPayload.Move): PrepareMove reverts from's file itself to snap
// and grows it to to's virtual size (only from's active state changes,
// which nobody reads; from's snapshots stay), then MoveOver renames it
// over to and syncs the directory (one atomic step: to is the old bytes
// or the snapshot's). Every internal snapshot of from then belongs to to;
// to's own file is gone. The executor writes the journal's lineage of
// the moved snapshots between the two. Both are idempotent: once from is
// gone and to holds snap, each reports AlreadyDone. A file that cannot be
// moved is refused with ErrNotMovable before anything changes.
type SnapshotMover interface {
	SnapshotRestorer
	PrepareMove(ctx context.Context, root string, from materials.Volume, snap string, to materials.Volume) (SnapshotResult, error)
	MoveOver(ctx context.Context, root string, from materials.Volume, snap string, to materials.Volume) (SnapshotResult, error)
}

// FetchRequest is one blob to fetch from one datastore.
type FetchRequest struct {
	Datastore   materials.Datastore
	ContentTree materials.ContentTree
	Blob        materials.Blob
	// FreeBytes is the free space of the file system the ingest is on,
	// measured when the fetch starts; 0 when unknown. A body larger than
	// it is refused before a byte is written.
	FreeBytes int64
	// Transfer, when set, hears from a fetcher that brings over the
	// network fewer bytes than it writes (chunks from the datastore, the
	// rest from local seeds): bytes fetched so far of the bytes it
	// expects to fetch. Fetched never decreases within one Fetch, a
	// fall-back to the whole blob included (toFetch then grows by what
	// is left of the blob); progress still counts the bytes written.
	// Calls may come from several goroutines at once.
	Transfer func(fetched, toFetch int64)
}

// Scout is a Fetcher's second role: telling, before a plan is made, what
// a datastore offers for fetching a blob besides the whole file (an index
// of its chunks) and what that costs given the device's own seeds, for a
// download resuming at offset. It reads only what is small and bounded
// (the index and the local seeds), never the blob. ok is false when
// nothing is offered (no index, a format that is not chunked, no seed to
// build from); an error means only that no facts are known, never that
// the download will fail.
type Scout interface {
	Scout(ctx context.Context, req FetchRequest, offset int64) (offer materials.ChunkOffer, ok bool, err error)
}

// Fetcher copies one blob from a datastore into an ingest, resuming at
// the ingest's offset when the source allows it. It reports bytes through
// progress (total bytes written to the ingest so far, and the total when
// known, else 0).
type Fetcher interface {
	Fetch(ctx context.Context, req FetchRequest, dst Ingest, progress func(done, known int64)) error
}

// Ingest is a resumable write of one blob. Writes hash the content as they
// go, so the digest is checked at Commit without reading anything back.
type Ingest interface {
	io.Writer
	// Offset is the number of bytes already written (resume point).
	Offset() int64
	// Truncate restarts the ingest from zero (the source ignored a Range).
	Truncate() error
	// Commit checks the digest (and size when expected > 0) and makes the
	// blob visible; on mismatch the partial is removed and a
	// *DigestMismatchError returned.
	Commit(ctx context.Context, expectedSize int64) error
	// Close keeps the partial for a later resume; after Commit it is a no-op.
	Close() error
}

// BlobStore holds blobs by digest.
type BlobStore interface {
	// Has reports whether a complete blob is there, and its size.
	Has(ctx context.Context, d digest.Digest) (bool, int64, error)
	// Ingest opens a resumable ingest for d (at the offset already written).
	Ingest(ctx context.Context, b materials.Blob) (Ingest, error)
	// Open reads a complete blob.
	Open(ctx context.Context, d digest.Digest) (io.ReadCloser, error)
	// Path is the blob's file for file-based stores, "" otherwise.
	Path(d digest.Digest) string
	// Delete removes a blob and any partial ingest of it.
	Delete(ctx context.Context, d digest.Digest) error
}

// VolumeBuilder builds raw and qcow2 volumes at final paths. Every method
// that makes a file works at final+".tmp" and renames into place.
type VolumeBuilder interface {
	// CreateBlank makes a blank volume of size bytes (sparse raw, or qcow2).
	CreateBlank(ctx context.Context, final string, format materials.Format, size int64) error
	// CreateFrom makes a volume from a content file of format srcFormat,
	// grown to size when size is larger. progress gets bytes written.
	CreateFrom(ctx context.Context, final string, format materials.Format, src string, srcFormat materials.Format, size int64, progress func(done, known int64)) error
	// Resize grows a volume to size; it never shrinks.
	Resize(ctx context.Context, path string, format materials.Format, size int64) error
	// Delete removes a volume file or directory.
	Delete(ctx context.Context, path string) error
	// Adopt renames an existing volume into place.
	Adopt(ctx context.Context, from, to string) error
}

// ContainerBuilder builds a container volume directory from an OCI
// content tree held in a blob store. v is the volume being made: its
// MaxSizeBytes bounds what the unpack may write.
type ContainerBuilder interface {
	CreateContainer(ctx context.Context, final string, v materials.Volume, ct materials.ContentTree, store BlobStore) error
}

// Resolver resolves an OCI content tree's tag to its top blob.
type Resolver interface {
	Resolve(ctx context.Context, ds materials.Datastore, ct materials.ContentTree) (materials.Blob, error)
}

// ImageDeleter removes an image record; the blobs it kept alive are left to
// the store's garbage collector.
type ImageDeleter interface {
	DeleteImage(ctx context.Context, name string) error
}

// LeaseDeleter removes a lease of edgewright's; the blobs it held are left
// to the store's garbage collector. A lease already gone is no error.
type LeaseDeleter interface {
	DeleteLease(ctx context.Context, id string) error
}

// TreeStore is a BlobStore that holds blobs per content tree (containerd:
// a lease per tree while it is written, an image record once it is whole).
// The engine uses these methods instead of Ingest when the store has them.
type TreeStore interface {
	BlobStore
	// IngestFor opens a resumable ingest of b for content tree ct. It
	// returns ErrAlreadyPresent when the blob is committed already (and
	// then holds it for ct).
	IngestFor(ctx context.Context, ct materials.ContentTree, b materials.Blob) (Ingest, error)
	// Hold keeps a blob that is already present for ct until the tree is
	// sealed.
	Hold(ctx context.Context, ct materials.ContentTree, d digest.Digest) error
	// Seal is called after each apply for every content tree of the
	// Blueprint whose top blob is known: when the whole tree is present it
	// names the tree (an image record) and releases what held it while it
	// was written. It reports whether the tree is sealed.
	Seal(ctx context.Context, ct materials.ContentTree, top digest.Digest) (bool, error)
}

// ErrAlreadyPresent: the blob is committed in the store already.
var ErrAlreadyPresent = errors.New("blob already present")

// Follower is a Fetcher that knows what a present blob implies but the
// plan cannot name before it is read: an OCI index's manifest for this
// platform. The engine fetches it in the same remodel.
type Follower interface {
	Fetcher
	Follow(ctx context.Context, req FetchRequest, store BlobStore) (materials.Blob, bool, error)
}

// Checker is a BlobStore that can say what a blob hashes to without the
// executor reading it (an in-memory store holds no bytes; a store may
// hash faster than a copy). The executor verifies through it when the
// store has it.
type Checker interface {
	Check(ctx context.Context, d digest.Digest) (size int64, got digest.Digest, err error)
}

// Link is one file of an overlay's backing chain, as the survey followed
// it inside the root's stores: Path is absolute, Name is the backing file
// name as the referring header spells it.
type Link struct {
	Name   string
	Path   string
	Format materials.Format
}

// VolumeFixer carries out the storage check's in-place fixes on one
// volume file (package check). Each writes the fixed image beside the
// file (<path>.tmp, removed first when a crash left one), syncs it and
// renames it over the file, so a crash leaves the old file or the fixed
// one, never a mix; each is idempotent (a step the journal saw start and
// not finish is simply run again). A chain is opened exactly as given,
// never by a name a header spells. A VolumeBuilder that also fixes
// volumes implements it (the qemu crafts, the in-memory device).
type VolumeFixer interface {
	// RepairLeaks frees a qcow2's leaked clusters (qemu-img check -r
	// leaks), which touches no data cluster.
	RepairLeaks(ctx context.Context, path string, progress func(done, known int64)) error
	// Sparsify rewrites a raw volume with holes where it holds zeros.
	Sparsify(ctx context.Context, path string, progress func(done, known int64)) error
	// Flatten rewrites a qcow2 overlay on chain (nearest first) as a
	// standalone qcow2 with the same guest-visible bytes.
	Flatten(ctx context.Context, path string, chain []Link, progress func(done, known int64)) error
	// Merge rewrites a qcow2 overlay on chain (nearest first, at least
	// two links) as one overlay on the chain's last link, named as the
	// link before it names it, with the middle links' data copied in.
	Merge(ctx context.Context, path string, chain []Link, progress func(done, known int64)) error
}

// OverlayBuilder is the role of a VolumeBuilder that also makes thin
// volumes (the space strategy): a qcow2 overlay at final whose backing
// file is a content blob. backing is the blob's file (read, never
// written), backingName what the overlay's header spells for it (a name
// the inspector resolves inside the root's stores), backingFormat its
// format (raw or qcow2; the blob's own backing disabled: content naming
// another file is refused). The overlay's virtual size is the blob's,
// grown to size when size is larger; it works at final+".tmp" and
// renames into place.
type OverlayBuilder interface {
	CreateOverlay(ctx context.Context, final, backing, backingName string, backingFormat materials.Format, size int64) error
}
