package check

import (
	"sort"
	"time"

	"github.com/edgewright/edgewright/materials"
)

// Type is a fix's kind, in VDSM's words.
type Type string

const (
	TypeClean    Type = "clean"
	TypeMend     Type = "mend"
	TypeOptimize Type = "optimize"
	// TypeMerge collapses an overlay chain longer than one link.
	TypeMerge Type = "merge"
)

// Remedy is what a fix runner would do about a fix.
type Remedy string

const (
	// RemedyReport: nothing automatic; a person decides.
	RemedyReport Remedy = "report"
	// RemedyDelete removes the target (a stale file, a leaked ingest, a
	// blob past its grace period).
	RemedyDelete Remedy = "delete"
	// RemedyRepairLeaks runs `qemu-img check -r leaks` on the volume.
	RemedyRepairLeaks Remedy = "repair-leaks"
	// RemedyRecreate re-creates the volume's generation from its content.
	RemedyRecreate Remedy = "recreate"
	// RemedySparsify punches holes where a raw volume holds zeros.
	RemedySparsify Remedy = "sparsify"
	// RemedyRefetch downloads again the content blob an overlay's
	// backing chain names and the store lacks.
	RemedyRefetch Remedy = "refetch"
	// RemedyFlatten rewrites an overlay as a standalone image (its
	// chain's data copied in).
	RemedyFlatten Remedy = "flatten"
	// RemedyMerge rewrites an overlay whose chain is longer than one as
	// one overlay on the chain's last link (the content blob).
	RemedyMerge Remedy = "merge"
)

// The volume strategies (issue 16): space makes a volume from content a
// thin qcow2 overlay on the content blob, performance a full copy.
const (
	StrategySpace       = string(materials.StrategySpace)
	StrategyPerformance = string(materials.StrategyPerformance)
)

// Status is a volume's health.
type Status string

const (
	StatusOptimized Status = "optimized"
	StatusDegraded  Status = "degraded"
	StatusBroken    Status = "broken"
)

// Fix is one thing found wrong and how it could be fixed.
type Fix struct {
	// ID is Type + ":" + Target.Kind + "/" + Target.ID (a containerd
	// ingest adds "/ingest/<ref>"): stable across checks.
	ID     string                `json:"id"`
	Type   Type                  `json:"type"`
	Target materials.MaterialRef `json:"target"`
	// Bytes is what the fix frees (positive) or costs (negative); 0 when
	// a survey cannot tell.
	Bytes  int64  `json:"bytes"`
	Reason string `json:"reason"`
	// Remedy is for a fix runner; the JSON of a report is fixed by the
	// issue and leaves it out.
	Remedy Remedy `json:"-"`
}

// VolumeStatus is one volume's health.
type VolumeStatus struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
}

// Report is a check's result: fixes sorted by ID, volumes by ID. Both
// are empty lists, never nil, when there is nothing.
type Report struct {
	Fixes   []Fix          `json:"fixes"`
	Volumes []VolumeStatus `json:"volumes"`
	// opts are the check's, for PlanFixes (a recreate follows the
	// volume's strategy).
	opts Options
}

// DefaultStaleAfter is how old `.tmp` work and partial ingests must be
// before a check calls them leaked when Options.StaleAfter is 0: longer
// than any download or convert stays silent (a live one rewrites its
// file), so that a check run beside a working agent whose journal it
// cannot read does not call its work stale.
const DefaultStaleAfter = time.Hour

// Options are a check's inputs besides the Floorplan.
type Options struct {
	// Now is the time of the check; ages and grace periods count to it.
	Now time.Time
	// GracePeriod is how long an unneeded blob is kept after its grace
	// clock started, as foreman.Options.GracePeriod (0: no grace).
	GracePeriod time.Duration
	// StaleAfter is the age (since last modified) past which work in
	// progress that the journal does not list as in flight is leaked; 0
	// means DefaultStaleAfter.
	StaleAfter time.Duration
	// Strategy is the device's volume strategy (StrategySpace or
	// StrategyPerformance); "" when it is not known, and then no overlay
	// is judged by it.
	Strategy string
	// VolumeStrategy overrides Strategy per volume generation (the last
	// applied config's per-volume choice).
	VolumeStrategy map[materials.VolumeKey]string
	// Store is where the device keeps blobs ("" is the blob directory;
	// materials.BlobStoreContainerd): a fix's download goes there, but
	// a re-fetch goes where the overlay's missing link names its file.
	Store materials.BlobStore
}

// Check lists what is wrong under fp's root. It does not modify fp.
func Check(fp *materials.Floorplan, opts Options) Report {
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	c := newChecker(fp, opts)
	var fixes []Fix
	for i := range fp.Volumes {
		v := &fp.Volumes[i]
		for _, rule := range volumeRules {
			if f, ok := rule(c, v); ok {
				fixes = append(fixes, f)
			}
		}
	}
	for i := range fp.Blobs {
		b := &fp.Blobs[i]
		for _, rule := range blobRules {
			if f, ok := rule(c, b); ok {
				fixes = append(fixes, f)
			}
		}
	}
	fixes = append(fixes, c.pastGrace()...)
	fixes = append(fixes, c.pastGraceImages()...)
	fixes = append(fixes, c.leakedLeases()...)
	fixes = dedupe(fixes)
	return Report{Fixes: fixes, Volumes: c.statuses(fixes), opts: opts}
}

// volumeRules and blobRules are the rules, each one short function; a
// rule returns at most one fix for one item.
var (
	volumeRules = []func(*checker, *materials.VolumeFile) (Fix, bool){
		staleTemp,
		unknownVolumeFile,
		missingBacking,
		brokenVolume,
		corruptQcow2,
		leakedClusters,
		fullyAllocatedRaw,
		performanceOverlay,
		longChain,
	}
	blobRules = []func(*checker, *materials.BlobRecord) (Fix, bool){
		leakedIngest,
		unknownBlobFile,
	}
)

// dedupe sorts fixes by ID and keeps the first of an ID: one thing met
// twice (a blob in two stores is one fix already) is one fix.
func dedupe(fixes []Fix) []Fix {
	sort.SliceStable(fixes, func(i, j int) bool { return fixes[i].ID < fixes[j].ID })
	out := make([]Fix, 0, len(fixes))
	for i, f := range fixes {
		if i == 0 || f.ID != fixes[i-1].ID {
			out = append(out, f)
		}
	}
	return out
}

func fixID(t Type, r materials.MaterialRef) string {
	return string(t) + ":" + string(r.Kind) + "/" + r.ID
}

func newFix(t Type, target materials.MaterialRef, bytes int64, remedy Remedy, reason string) Fix {
	return Fix{ID: fixID(t, target), Type: t, Target: target, Bytes: bytes, Reason: reason, Remedy: remedy}
}
