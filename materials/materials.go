package materials

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Format is the format of a content tree or a volume, in edgewright's own
// lower-case spelling of EVE's Format enum.
type Format string

const (
	FormatUnknown   Format = ""
	FormatRaw       Format = "raw"
	FormatQcow      Format = "qcow"
	FormatQcow2     Format = "qcow2"
	FormatVHD       Format = "vhd"
	FormatVMDK      Format = "vmdk"
	FormatOVA       Format = "ova"
	FormatVHDX      Format = "vhdx"
	FormatContainer Format = "container"
	FormatISO       Format = "iso"
	FormatPVC       Format = "pvc"
)

// DatastoreType is EVE's DsType in edgewright's spelling.
type DatastoreType string

const (
	DatastoreUnknown           DatastoreType = ""
	DatastoreHTTP              DatastoreType = "http"
	DatastoreHTTPS             DatastoreType = "https"
	DatastoreS3                DatastoreType = "s3"
	DatastoreSFTP              DatastoreType = "sftp"
	DatastoreContainerRegistry DatastoreType = "container-registry"
	DatastoreAzureBlob         DatastoreType = "azure-blob"
	DatastoreGoogleStorage     DatastoreType = "google-storage"
)

// Origin says where a volume's initial content comes from.
type Origin string

const (
	OriginBlank    Origin = "blank"
	OriginDownload Origin = "download"
)

// VolumeKey identifies one generation of one volume. Two generations of the
// same volume are different materials: a purge creates the new one and
// deletes the old.
type VolumeKey struct {
	ID         string `json:"id"`
	Generation int64  `json:"generation"`
}

// String renders the key as it appears in file names: `<uuid>#<generation>`.
func (k VolumeKey) String() string { return k.ID + "#" + strconv.FormatInt(k.Generation, 10) }

// ParseVolumeKey parses `<uuid>#<generation>`.
func ParseVolumeKey(s string) (VolumeKey, error) {
	id, gen, ok := strings.Cut(s, "#")
	if !ok {
		return VolumeKey{}, fmt.Errorf("volume key %q: want <id>#<generation>", s)
	}
	g, err := strconv.ParseInt(gen, 10, 64)
	if err != nil || g < 0 {
		return VolumeKey{}, fmt.Errorf("volume key %q: generation %q is not a non-negative integer", s, gen)
	}
	return VolumeKey{ID: id, Generation: g}, nil
}

// Less orders keys by id, then generation.
func (k VolumeKey) Less(o VolumeKey) bool {
	if k.ID != o.ID {
		return k.ID < o.ID
	}
	return k.Generation < o.Generation
}

// Datastore is where content trees are fetched from. Credentials are kept
// out of every JSON rendering and every log line.
type Datastore struct {
	ID     string        `json:"id"`
	Type   DatastoreType `json:"type"`
	FQDN   string        `json:"fqdn"`
	Path   string        `json:"path,omitempty"` // dpath
	Region string        `json:"region,omitempty"`
	// HasCredentials is true when APIKey or Password is set; it is what a
	// person may see of them.
	HasCredentials bool     `json:"hasCredentials,omitempty"`
	APIKey         string   `json:"-"`
	Password       string   `json:"-"`
	CertPEM        [][]byte `json:"-"` // extra CA certificates (dsCertPEM)
}

// Bucket splits an object store's dpath into its first element, the
// bucket (Azure: the container), and the prefix under it. EVE spells
// both in dpath; surrounding slashes and spaces are not part of either.
func (d Datastore) Bucket() (bucket, prefix string) {
	bucket, prefix, _ = strings.Cut(strings.Trim(strings.TrimSpace(d.Path), "/"), "/")
	return bucket, prefix
}

// Signature is a content tree's configured signature (EVE's SignatureInfo).
type Signature struct {
	IntermediateCertsURL string `json:"intermediateCertsUrl,omitempty"`
	SignerCertURL        string `json:"signerCertUrl,omitempty"`
	Signature            []byte `json:"signature,omitempty"`
}

// ContentTree is immutable content a volume is made from: a VM disk image
// (one blob) or an OCI image (a tree of blobs under one top digest).
type ContentTree struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
	// URL is relative to the datastore: a path for HTTP-like stores,
	// `repo:tag` or `repo@sha256:…` for a container registry.
	URL    string `json:"url"`
	Format Format `json:"format"`
	// SHA256 is the lower-case hex digest of the top blob, when the config
	// gives it. Empty for an OCI tag that must be resolved first.
	SHA256       string     `json:"sha256"`
	MaxSizeBytes uint64     `json:"maxSizeBytes,omitempty"`
	Datastores   []string   `json:"datastores"` // in order of preference
	Generation   int64      `json:"generation,omitempty"`
	Signature    *Signature `json:"signature,omitempty"`
	// CustomMetaData is the config's custom_meta_data, carried for the agent.
	CustomMetaData string `json:"customMetaData,omitempty"`
	// Implicit is true for a content tree made from a legacy drive's image.
	Implicit bool `json:"implicit,omitempty"`
}

// Digest is the top blob's digest, or "" when it is not known yet.
func (c ContentTree) Digest() digest.Digest {
	if c.SHA256 == "" {
		return ""
	}
	return digest.NewDigestFromEncoded(digest.SHA256, c.SHA256)
}

// Blob is one content-addressed object.
type Blob struct {
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size,omitempty"`
	MediaType string        `json:"mediaType,omitempty"`
}

// Volume is one generation of a volume the config asks for.
type Volume struct {
	ID          string `json:"id"`
	Generation  int64  `json:"generation"`
	DisplayName string `json:"displayName,omitempty"`
	Origin      Origin `json:"origin"`
	// ContentTree is the id of the content tree for OriginDownload.
	ContentTree string `json:"contentTree,omitempty"`
	// Format is the volume's on-disk format: the content tree's for raw,
	// qcow2 and container; qcow2 for blank volumes and for other VM formats
	// (converted).
	Format       Format `json:"format"`
	MaxSizeBytes int64  `json:"maxSizeBytes"`
	ReadOnly     bool   `json:"readOnly"`
	ClearText    bool   `json:"clearText,omitempty"`
	// Target is the config's Volume.target (EVE's Target name), for the agent.
	Target string `json:"target,omitempty"`
	// AppPurges is how much of Generation comes from the purge counters of
	// the apps whose first volume ref this is (Generation minus the
	// config's generationCount).
	AppPurges int64 `json:"appPurges,omitempty"`
	// RefCount is the number of apps that refer to the volume plus one for
	// the config itself.
	RefCount int `json:"refCount"`
	// Apps are the uuids of the apps that refer to the volume, sorted.
	Apps []string `json:"apps,omitempty"`
	// Implicit is true for a volume made from a legacy drive; App and Image
	// then say which app and which image uuid it came from.
	Implicit bool   `json:"implicit"`
	App      string `json:"app,omitempty"`
	Image    string `json:"image,omitempty"`
	// LegacyDrive is true for an explicit volume when an app that refers
	// to it still names the same content by a legacy drive too (transition
	// phase 1): an old agent could still be given this config after a
	// downgrade, so the foreman leaves a matching old-layout file at its
	// old name instead of adopting it.
	LegacyDrive bool `json:"legacyDrive,omitempty"`
}

// App is an app of the config that names its volumes by volume refs (not
// legacy drives), with what an agent needs to attach them: their order
// (the first is the one the app's purge counter re-creates) and where each
// is mounted.
type App struct {
	ID          string `json:"id"`
	Version     string `json:"version,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	// PurgeCounter is the config's purge.counter; it is already folded into
	// the first volume ref's Generation.
	PurgeCounter uint32      `json:"purgeCounter,omitempty"`
	VolumeRefs   []VolumeRef `json:"volumeRefs"`
	// The app's SnapshotConfig; its snapshots are in Blueprint.Snapshots.
	// ActiveSnapshot is the canonical id of the snapshot a rollback
	// restores, or "". RollbackCounter is rollback_cmd.counter: only an
	// increase over the last applied value asks for a rollback.
	// MaxSnapshots bounds how many snapshots of the app may exist (beyond
	// it the oldest goes, even the active one).
	ActiveSnapshot  string `json:"activeSnapshot,omitempty"`
	RollbackCounter uint32 `json:"rollbackCounter,omitempty"`
	MaxSnapshots    uint32 `json:"maxSnapshots,omitempty"`
	// RollbackWithheld is true when an error kept the rollback request out
	// (its active snapshot is bad or absent): no rollback may be done, and
	// the counter must not be taken as acted on.
	RollbackWithheld bool `json:"rollbackWithheld,omitempty"`
}

// VolumeRef is one of an app's volume refs, in the config's order.
type VolumeRef struct {
	Volume string `json:"volume"`
	// Generation is the volume's generation in this Blueprint (Volume.Key),
	// app purges included, so the agent finds its file by it.
	Generation int64 `json:"generation"`
	// MountDir is the config's mount_dir: where the agent mounts the volume
	// in the app (empty: the agent's default).
	MountDir string `json:"mountDir,omitempty"`
}

// Key is the volume's (id, generation).
func (v Volume) Key() VolumeKey { return VolumeKey{ID: v.ID, Generation: v.Generation} }

// MaterialKind names a kind of material.
type MaterialKind string

const (
	KindDatastore   MaterialKind = "datastore"
	KindContentTree MaterialKind = "contentTree"
	KindBlob        MaterialKind = "blob"
	KindVolume      MaterialKind = "volume"
	KindApp         MaterialKind = "app"
	// KindFile is a path under the root that is not (yet) a known material:
	// a .tmp leftover, an unknown or a broken file.
	KindFile MaterialKind = "file"
	// KindImage is a containerd image record edgewright wrote for a
	// content tree; its ID is the record's name, `<content-tree-id>-<URL>`.
	// (Before this kind, an image record was named as a content tree
	// whose id is the record's name; journals may still hold such refs.)
	KindImage MaterialKind = "image"
	// KindLease is a containerd lease edgewright made to keep a content
	// tree's blobs while it is downloaded; its ID is the lease's id.
	KindLease MaterialKind = "lease"
)

// MaterialRef names one material. For a volume, ID is the uuid (all
// generations) or a VolumeKey string (one generation); for a blob, the
// digest; for an image record, its name.
type MaterialRef struct {
	Kind MaterialKind `json:"kind"`
	ID   string       `json:"id"`
}

func (r MaterialRef) String() string { return string(r.Kind) + " " + r.ID }

// AdditionKind names a local change outside the config.
type AdditionKind string

const (
	// AdditionProtect guards a material against deletion even when the
	// config forgets it (prevent_destroy).
	AdditionProtect AdditionKind = "protect"
	// AdditionHold leaves a material alone entirely: no remodel touches it.
	AdditionHold AdditionKind = "hold"
	// AdditionPurge asks for a volume to be recreated locally from its
	// origin, as if its generation had been bumped.
	AdditionPurge AdditionKind = "purge"
	// AdditionStrategy sets the Strategy of one volume (its uuid: every
	// generation; or one generation's key), over the device's default.
	AdditionStrategy AdditionKind = "strategy"
)

// Addition is a local change to the Blueprint that did not come from the
// controller (seed word: digression).
type Addition struct {
	Kind   AdditionKind `json:"kind"`
	Target MaterialRef  `json:"target"`
	Reason string       `json:"reason,omitempty"`
	// Strategy is a strategy Addition's choice.
	Strategy Strategy `json:"strategy,omitempty"`
}

// Blueprint is everything the config asks for. Slices are sorted (by id, or
// by key for volumes) so two Blueprints of the same config are equal.
type Blueprint struct {
	// Complete is false when the config could not be decoded or read in
	// full. No stage may delete anything on the strength of an incomplete
	// Blueprint.
	Complete bool `json:"complete"`
	// Epoch is the controller's controller_epoch.
	Epoch   int64    `json:"epoch,omitempty"`
	Volumes []Volume `json:"volumes"`
	// Apps are the apps with volume refs, sorted by id; an app one of whose
	// refs an error kept out is left out (its diagnostics say why).
	Apps []App `json:"apps,omitempty"`
	// Snapshots are the app snapshots the config asks to exist, sorted by
	// app then id; a snapshot an error kept out is in Withheld.
	Snapshots    []Snapshot    `json:"snapshots,omitempty"`
	ContentTrees []ContentTree `json:"contentTrees"`
	Datastores   []Datastore   `json:"datastores"`
	Additions    []Addition    `json:"additions,omitempty"`
	// Withheld names materials the config mentions but that an error kept
	// out of the Blueprint. They are still wanted: never deleted.
	Withheld    []MaterialRef `json:"withheld,omitempty"`
	Diagnostics Diagnostics   `json:"diagnostics"`
}

// Valid reports whether the Blueprint is complete and free of errors, the
// condition for any destructive remodel.
func (b *Blueprint) Valid() bool { return b != nil && b.Complete && !b.Diagnostics.HasErrors() }
