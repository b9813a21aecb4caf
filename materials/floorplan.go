package materials

import (
	"time"

	"github.com/opencontainers/go-digest"
)

// State is how much the inspector trusts a thing it found.
type State string

const (
	// StateComplete: whole and named as edgewright names things.
	StateComplete State = "complete"
	// StatePartial: work in progress (a .tmp, a partial ingest, an item the
	// journal says was in flight). Uncertain: resume it or clean it up.
	StatePartial State = "partial"
	// StateBroken: named right but its content is damaged (a corrupt qcow2
	// header). Reason says why.
	StateBroken State = "broken"
	// StateUnknown: a name the inspector cannot parse. Never a reason to
	// delete.
	StateUnknown State = "unknown"
)

// LegacyName is what an old-layout file name `<SHA>-<app-uuid>[#purge].<format>`
// under persist/img says.
type LegacyName struct {
	SHA256 string `json:"sha256"`
	App    string `json:"app"`
	Purge  int64  `json:"purge"`
}

// VolumeFile is one volume (file, or directory for a container volume) found
// on disk, in either layout.
type VolumeFile struct {
	// ID and Generation come from the new-layout name; empty/0 for legacy
	// and unknown files.
	ID         string `json:"id"`
	Generation int64  `json:"generation"`
	// Format is read from the header (qcow2 magic), not the extension;
	// FormatContainer for a directory.
	Format Format `json:"format"`
	// Path is relative to the surveyed root, with forward slashes.
	Path      string `json:"path"`
	Dir       bool   `json:"dir,omitempty"`
	ClearText bool   `json:"clearText,omitempty"`
	// Temp is true for `<final>.tmp` work in progress.
	Temp          bool  `json:"temp,omitempty"`
	VirtualSize   int64 `json:"virtualSize"`
	ApparentSize  int64 `json:"apparentSize"`
	AllocatedSize int64 `json:"allocatedSize"`
	// BackingFile is the backing file name a qcow2 header spells, as read.
	BackingFile string `json:"backingFile,omitempty"`
	// Backing is the chain an overlay reads through, nearest first, as far
	// as the inspector followed it: only links that resolve inside the
	// root's stores are followed (a blob of the blob directory or of
	// containerd's content directory, or another volume file of the same
	// volume under a volume directory); a name that points anywhere else
	// is not opened and the volume is broken. Nil when there is no backing
	// file.
	Backing []BackingLink `json:"backing,omitempty"`
	ModTime time.Time     `json:"modTime"`
	State   State         `json:"state"`
	// Reason explains a broken, partial or unknown state.
	Reason string      `json:"reason,omitempty"`
	Legacy *LegacyName `json:"legacy"`
	// Check is what a deep survey (inspector.Deepen: qemu-img check) found
	// in a complete qcow2 volume; nil when none ran. It is left out of
	// the Fingerprint: a plan made before a deep survey stays valid.
	Check *ImageCheck `json:"check,omitempty"`
	// Snapshots are the volume's snapshots found on disk: a qcow2's
	// internal snapshots (from its snapshot table), or the raw or
	// directory copies named beside it by package layout's rule
	// (<uuid>#<generation>@<snapshot>.<format>), which are listed here and
	// not as volumes of their own. In table order for qcow2, by name for
	// copies.
	Snapshots []SnapshotInfo `json:"snapshots,omitempty"`
}

// BackingLink is one link of an overlay's backing chain.
type BackingLink struct {
	// Name is the backing file name as the referring header spells it.
	Name string `json:"name"`
	// Blob is the digest when the link is a content blob of one of the
	// root's stores (verified, immutable content).
	Blob digest.Digest `json:"blob,omitempty"`
	// Path is the link's file relative to the root when it is a volume
	// file under a volume directory (an overlay chain of snapshots).
	Path string `json:"path,omitempty"`
	// Format is the link's format as its header says ("" when missing).
	Format Format `json:"format,omitempty"`
	// Missing: the link is inside the stores but its file is not there.
	Missing bool `json:"missing,omitempty"`
}

// ImageCheck is the result of checking a qcow2 volume's metadata
// (qemu-img check): corrupted clusters make the image unsafe to use,
// leaked clusters only waste space and are safe to repair in place.
type ImageCheck struct {
	// Corruptions counts refcount or L1/L2 errors that can lose data.
	Corruptions int `json:"corruptions"`
	// Leaks counts clusters allocated but used by nothing.
	Leaks int `json:"leaks"`
	// CheckErrors counts what the check itself could not read.
	CheckErrors int `json:"checkErrors,omitempty"`
	// Error is why the check could not run or be read (the image is in
	// use, qemu-img failed); the counts are then not meaningful.
	Error string `json:"error,omitempty"`
}

// Key is the volume key, meaningful for new-layout files only.
func (f VolumeFile) Key() VolumeKey { return VolumeKey{ID: f.ID, Generation: f.Generation} }

// BlobStore names where a blob lives.
type BlobStore string

const (
	BlobStoreDir        BlobStore = "dir"
	BlobStoreContainerd BlobStore = "containerd"
)

// BlobRecord is one blob found in a blob directory or a containerd content
// store, complete or partially ingested.
type BlobRecord struct {
	Digest digest.Digest `json:"digest"`
	Store  BlobStore     `json:"store"`
	// Size is the committed size, or the expected total of a partial
	// ingest when known (0 when not).
	Size int64 `json:"size"`
	// Offset is the bytes written so far for a partial ingest.
	Offset    int64             `json:"offset"`
	State     State             `json:"state"`
	Reason    string            `json:"reason,omitempty"`
	MediaType string            `json:"mediaType,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Ref is the ingest reference of a partial containerd ingest.
	Ref string `json:"ref,omitempty"`
	// Path is the blob's file relative to the root, forward slashes, for a
	// blob in the blob directory (empty for containerd).
	Path string `json:"path,omitempty"`
	// Children are the blobs this one references (an index's manifests, a
	// manifest's config and layers), from gc labels or the parsed manifest.
	Children []digest.Digest `json:"children,omitempty"`
	// ChildBlobs describe Children, in the same order, when the inspector
	// read the manifest: their sizes and media types tell a download what
	// it fetches and how many bytes it will take.
	ChildBlobs []Blob    `json:"childBlobs,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// ImageRecord is a containerd image record.
type ImageRecord struct {
	Name      string            `json:"name"`
	Target    digest.Digest     `json:"target"`
	MediaType string            `json:"mediaType,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Blobs are every blob reachable from Target in the content store.
	Blobs     []digest.Digest `json:"blobs,omitempty"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

// LeaseRecord is a containerd lease: while a content tree is downloaded,
// its lease keeps the tree's committed blobs from containerd's collector
// until the tree is sealed into its image record (or the lease expires).
type LeaseRecord struct {
	ID     string            `json:"id"`
	Labels map[string]string `json:"labels,omitempty"`
	// Blobs are the content the lease holds (read for leases edgewright
	// made only).
	Blobs     []digest.Digest `json:"blobs,omitempty"`
	CreatedAt time.Time       `json:"createdAt"`
}

// Space is the free and total space of the file system holding the root.
type Space struct {
	TotalBytes uint64 `json:"totalBytes"`
	FreeBytes  uint64 `json:"freeBytes"`
}

// InFlight is a remodel whose intent the journal recorded without its
// completion: it was running when the last apply stopped.
type InFlight struct {
	RemodelID string      `json:"remodelId"`
	Action    string      `json:"action"`
	Target    MaterialRef `json:"target"`
	StartedAt time.Time   `json:"startedAt"`
}

// Unreferenced records since when a material has not been needed, so that
// grace periods before deletion survive restarts.
type Unreferenced struct {
	Target MaterialRef `json:"target"`
	Since  time.Time   `json:"since"`
}

// TagLatch pins an OCI tag to the digest it resolved to, per content tree id
// and generation, so a later tag move does not change a running volume.
type TagLatch struct {
	ContentTree string        `json:"contentTree"`
	Generation  int64         `json:"generation"`
	URL         string        `json:"url"`
	Digest      digest.Digest `json:"digest"`
	ResolvedAt  time.Time     `json:"resolvedAt"`
}

// Usage is a material's reference history, kept by the journal across
// restarts for the info messages: when it was first recorded and when its
// reference count last changed.
type Usage struct {
	Target             MaterialRef `json:"target"`
	CreateTime         time.Time   `json:"createTime"`
	RefCount           int         `json:"refCount"`
	LastRefcountChange time.Time   `json:"lastRefcountChange"`
}

// JournalState is what the assembler's journal says about past applies.
type JournalState struct {
	InFlight     []InFlight     `json:"inFlight,omitempty"`
	Unreferenced []Unreferenced `json:"unreferenced,omitempty"`
	Latches      []TagLatch     `json:"latches,omitempty"`
	// Usage is sorted by target.
	Usage []Usage `json:"usage,omitempty"`
	// LastApplied is the Blueprint checkpointed after the last successful
	// apply: the foreman's third input, to tell a volume the config dropped
	// from a file no config ever named.
	LastApplied *Blueprint `json:"lastApplied,omitempty"`
	// Lineage is the journal's record of the app snapshots taken, sorted
	// by app, snapshot, volume key.
	Lineage []SnapshotLineage `json:"lineage,omitempty"`
	// Dense are the raw volume files a sparsify left fully allocated,
	// sorted by path.
	Dense []DenseFile `json:"dense,omitempty"`
}

// DenseFile is a raw volume file as a sparsify left it (journaled by the
// assembler after the fix): it holds no zero block a sparsify would
// punch while it is still this size and last modified at this time (a
// write changes its mtime), so the storage check does not list it for
// one again until it changes.
type DenseFile struct {
	// Path is relative to the root, as VolumeFile.Path.
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
}

// Floorplan is what exists now. Slices are sorted (volumes by path, blobs by
// digest then store, images by name) so two surveys of the same disk are
// equal.
type Floorplan struct {
	Root string `json:"root"`
	// Fingerprint is Fingerprint(this floorplan), set by the inspector.
	Fingerprint string        `json:"fingerprint,omitempty"`
	Volumes     []VolumeFile  `json:"volumes"`
	Blobs       []BlobRecord  `json:"blobs"`
	Images      []ImageRecord `json:"images"`
	// Leases are containerd's leases in the namespace surveyed.
	Leases      []LeaseRecord `json:"leases,omitempty"`
	Space       Space         `json:"space"`
	Journal     *JournalState `json:"journal,omitempty"`
	Diagnostics Diagnostics   `json:"diagnostics"`
}

// GetLineage is js's lineage, nil for a nil state.
func (js *JournalState) GetLineage() []SnapshotLineage {
	if js == nil {
		return nil
	}
	return js.Lineage
}
