package assembler

import (
	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/httpfetch"
	"github.com/edgewright/edgewright/assembler/crafts/qemu"
	"github.com/edgewright/edgewright/assembler/crafts/registry"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// Crafts are the hands of the assembler (package device's); New fills in
// the standard ones a field leaves empty.
type Crafts = device.Crafts

// The device's role interfaces are package device's; these names keep the
// assembler's API whole.
type (
	FetchRequest     = device.FetchRequest
	Fetcher          = device.Fetcher
	Ingest           = device.Ingest
	BlobStore        = device.BlobStore
	VolumeBuilder    = device.VolumeBuilder
	ContainerBuilder = device.ContainerBuilder
	Resolver         = device.Resolver
	ImageDeleter     = device.ImageDeleter
	TreeStore        = device.TreeStore
	Follower         = device.Follower
)

// The standard volume builder makes space overlays too.
var _ device.OverlayBuilder = (*qemu.Volumes)(nil)

// ErrAlreadyPresent: the blob is committed in the store already.
var ErrAlreadyPresent = device.ErrAlreadyPresent

// The standard crafts live in assembler/crafts/...; these names keep the
// assembler's API whole.
type (
	HTTPFetcher = httpfetch.Fetcher
	BlobDir     = blobdir.Store
	QemuVolumes = qemu.Volumes
	ImageInfo   = qemu.ImageInfo
	OCICrafts   = registry.Crafts
)

var (
	// NewBlobDir is the blob directory under a root.
	NewBlobDir = blobdir.New
	// DatastoreURL joins a datastore's fqdn and dpath with a content
	// tree's URL.
	DatastoreURL = httpfetch.DatastoreURL
	// ErrImageRefused is wrapped when content or a volume names another
	// file or is not the format it claims.
	ErrImageRefused = qemu.ErrImageRefused
)

// VolumesDir is where a volume lives (package layout's rule).
func VolumesDir(root string, clearText bool) string { return layout.VolumesDir(root, clearText) }

// VolumePath is a volume's final path (package layout's rule).
func VolumePath(root string, v materials.Volume) (string, error) { return layout.VolumePath(root, v) }
