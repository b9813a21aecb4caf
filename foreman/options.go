package foreman

import (
	"time"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// DefaultGracePeriod is a grace period for callers without an opinion: an
// unneeded blob is kept an hour, long enough for a config flapping back
// to find it.
const DefaultGracePeriod = time.Hour

// DefaultMassDeleteShare is the share of present volumes a plan may delete
// before the mass-delete guard holds the deletes (when MassDeleteShare is 0).
const DefaultMassDeleteShare = 0.5

// Options are the foreman's inputs besides the Blueprint and the Floorplan.
// Time is one of them: the foreman reads no clock.
//
// The zero value plans, and holds nothing for want of space: free space
// unknown (every purge make-before-break), the default mass-delete share,
// downloads into the blob directory, no grace period (an unneeded blob
// goes as soon as no tree needs it; DefaultGracePeriod is the usual
// choice) and the zero time. Disk admission needs the space said, usually
// Space: fp.Space, the inspector's measure of the root's file system.
type Options struct {
	// Now is the time the plan is made at; grace periods count from the
	// journal's Unreferenced records up to Now.
	Now time.Time
	// Space is the file system downloads and creates write to. Its zero
	// value (what the inspector reports of a file system it could not
	// measure) means free space unknown: disk admission is off. Otherwise
	// FreeBytes is what downloads, creates and purges may use; a full
	// disk is FreeBytes 0 with TotalBytes set.
	Space materials.Space
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
	// ContentDirKnown says the containerd store's blobs are files of a
	// content directory the caller knows (wright's --containerd-content,
	// the inspector's ContainerdContentDir): with it a space overlay may
	// be backed by a containerd blob, and the image record that keeps the
	// blob from containerd's collector is kept while an overlay reads it.
	ContentDirKnown bool
	// Offers are facts a scout gathered from the datastores before the
	// plan (assembler.Converge asks the fetchers that can tell): what
	// each offers for fetching a blob as chunks and what it costs given
	// the local seeds. A download uses the offer for its blob, its tree's
	// first datastore and its resume offset whose seeds are all complete
	// in the blob directory and not deleted by the same plan; any other
	// offer is stale and ignored. An offer changes the download's text
	// and the plan's bytes to download, never disk admission.
	Offers []materials.ChunkOffer
	// Strategy is the device's default for how a VM volume is made from
	// content (a strategy Addition overrides it per volume): space, a
	// qcow2 overlay on the content blob; performance, a full copy. Unset
	// is performance, and the plan then says nothing of it.
	Strategy materials.Strategy
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

// budget is the space disk admission may charge, and whether it is known
// at all. Sizes beyond 2^62 are clamped: no remodel is that large, and the
// sums stay in an int64.
func budget(s materials.Space) (int64, bool) {
	if s == (materials.Space{}) {
		return 0, false
	}
	return int64(min(s.FreeBytes, 1<<62)), true
}
