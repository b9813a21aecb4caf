package assembler

import (
	"github.com/edgewright/edgewright/device"
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

// ErrAlreadyPresent: the blob is committed in the store already.
var ErrAlreadyPresent = device.ErrAlreadyPresent
