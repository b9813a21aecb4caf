package assembler

import (
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// Crafts are the hands of the assembler, each behind a small interface so a
// simulator (or the OCI/containerd crafts) can swap it.
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
	// Resolver turns an OCI tag into a digest; nil means resolve remodels
	// fail with ErrNoCraft.
	Resolver Resolver
}

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

// ErrAlreadyPresent: the blob is committed in the store already.
var ErrAlreadyPresent = device.ErrAlreadyPresent
