package foreman

import (
	"time"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// FreeBytesUnknown in Options.FreeBytes turns disk admission off: no
// remodel is held for want of space, and every purge is make-before-break.
const FreeBytesUnknown int64 = -1

// DefaultGracePeriod is a grace period for callers without an opinion: an
// unneeded blob is kept an hour, long enough for a config flapping back
// to find it.
const DefaultGracePeriod = time.Hour

// DefaultMassDeleteShare is the share of present volumes a plan may delete
// before the mass-delete guard holds the deletes (when MassDeleteShare is 0).
const DefaultMassDeleteShare = 0.5

// Options are the foreman's inputs besides the Blueprint and the Floorplan.
// Time is one of them: the foreman reads no clock.
type Options struct {
	// Now is the time the plan is made at; grace periods count from the
	// journal's Unreferenced records up to Now.
	Now time.Time
	// FreeBytes is the space downloads and creates may use. Negative
	// (FreeBytesUnknown) means unknown: no admission. Zero means a full
	// disk. FreeBytesOf derives it from a Floorplan.
	FreeBytes int64
	// GracePeriod is how long an unneeded blob or content tree (containerd
	// image record) is kept after its last reference went away.
	GracePeriod time.Duration
	// MassDeleteShare is the share (0..1) of present volumes above which
	// the volume deletes of one plan are held; 0 means
	// DefaultMassDeleteShare. Deleting every present volume is always a
	// mass delete.
	MassDeleteShare float64
	// AllowMassDelete lets a mass delete through.
	AllowMassDelete bool
	// Limitations are remodels to leave alone.
	Limitations []Limitation
	// CleanUp lets the plan delete unknown and broken files, which it
	// otherwise only reports.
	CleanUp bool
	// Store is where downloads go: materials.BlobStoreDir (the default
	// when empty) or materials.BlobStoreContainerd. A blob counts as
	// present only when it is complete in this store.
	Store materials.BlobStore
}

// Limitation leaves a set of remodels alone: those of one action class
// (Action set, Target nil), those touching one material (Target set, Action
// empty: every action), or both. A volume uuid as Target covers every
// generation; a content tree covers its blobs and image records. Limited
// remodels are reported in Plan.Held with Reason.
type Limitation struct {
	Action remodel.Action         `json:"action,omitempty"`
	Target *materials.MaterialRef `json:"target,omitempty"`
	Reason string                 `json:"reason,omitempty"`
}

// FreeBytesOf is the Floorplan's free space as Options.FreeBytes wants it:
// FreeBytesUnknown when the inspector could not measure the file system
// (TotalBytes 0).
func FreeBytesOf(fp *materials.Floorplan) int64 {
	if fp == nil || fp.Space.TotalBytes == 0 {
		return FreeBytesUnknown
	}
	if fp.Space.FreeBytes > 1<<62 {
		return 1 << 62
	}
	return int64(fp.Space.FreeBytes)
}
