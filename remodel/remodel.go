package remodel

import (
	"time"

	"github.com/edgewright/edgewright/materials"
	"github.com/opencontainers/go-digest"
)

// PurgeStrategy says in which order a purge makes the new generation and
// breaks the old.
type PurgeStrategy string

const (
	// MakeBeforeBreak creates the new generation, then deletes the old; it
	// needs room for both.
	MakeBeforeBreak PurgeStrategy = "make-before-break"
	// BreakBeforeMake deletes the old generation first, when the disk has
	// no room for both.
	BreakBeforeMake PurgeStrategy = "break-before-make"
)

// Remodel is one action on one material, with the reason it is planned and
// the remodels it must wait for. Its ID is stable: the same need on the same
// material gives the same ID in every plan.
type Remodel struct {
	ID        ID                    `json:"id"`
	Action    Action                `json:"action"`
	Target    materials.MaterialRef `json:"target"`
	Reason    string                `json:"reason"`
	DependsOn []ID                  `json:"dependsOn"`
	// Stage is the remodel's depth in the DAG: every dependency has a lower
	// stage. Remodels of one stage may run together.
	Stage int `json:"stage"`

	// Payload is what the action needs to carry it out, of the type its
	// row in the action table names (*CreatePayload for a create, …).
	// The JSON form spells its fields beside the header's.
	Payload Payload `json:"-"`
	// Bytes is the disk space the remodel needs, when known: what is left
	// to fetch of a blob, a volume's maximum size (an upper bound for a
	// sparse or qcow2 file).
	Bytes int64 `json:"bytes,omitempty"`
	// Reclaims is the disk space the remodel frees before it writes, as
	// disk admission credits it: its volume's own leftover `.tmp` (up to
	// Bytes), which it removes first, and for a break-before-make purge
	// the old generation. Admission charges Bytes - Reclaims, which only
	// a break-before-make purge can make negative.
	Reclaims int64 `json:"reclaims,omitempty"`
}

// Summary is what a program reads of a plan without walking it: the
// remodels by action, the held ones by code, and the disk the plan takes.
type Summary struct {
	Counts map[Action]int `json:"counts"`
	Held   int            `json:"held"`
	// HeldByCode counts the held remodels by the rule that held them.
	HeldByCode map[HoldCode]int `json:"heldByCode"`
	// BytesToDownload is what the downloads fetch (resumed ones from
	// their offset), as far as blob sizes are known: for a download with
	// a chunk offer, the chunks to fetch (disk admission still charges
	// the whole blob, which is written whole).
	BytesToDownload int64 `json:"bytesToDownload"`
	// BytesToWrite is every remodel's Bytes: the downloads, and the
	// volumes created (a purge's new generation) at their maximum size.
	BytesToWrite int64 `json:"bytesToWrite"`
	// PeakExtraDiskBytes is the most disk the plan holds beyond what is
	// used now, charged as disk admission charges it: in plan order,
	// Bytes - Reclaims for each remodel whose action charges disk
	// (ActionFacts.ChargesDisk), nothing given back for deletes. When the foreman knew the
	// free space it is never more than that.
	PeakExtraDiskBytes int64  `json:"peakExtraDiskBytes"`
	Text               string `json:"text"`
}

// Plan is the foreman's answer: every remodel, ordered by precedence, every
// held remodel with its reason, and bookkeeping the assembler must make
// durable (since when things have been unreferenced).
type Plan struct {
	// Fingerprint is that of the Floorplan the plan was made from. The
	// assembler refuses a plan whose fingerprint no longer matches.
	Fingerprint string `json:"fingerprint"`
	// MadeAt is the time given to the foreman.
	MadeAt   time.Time `json:"madeAt"`
	Remodels []Remodel `json:"remodels"`
	Held     []Held    `json:"held"`
	// Unreferenced are the grace-period clocks to record in the journal:
	// materials no longer needed, and since when.
	Unreferenced []materials.Unreferenced `json:"unreferenced,omitempty"`
	// Tops is the top blob of every content tree whose top the foreman
	// knows, by tree id: the configured sha256, a digest in the URL, or
	// the tag latch of the tree's generation. The remodels carry their
	// tree pinned the same way, so the executor reads no latch; it seals
	// the trees of Tops.
	Tops map[string]digest.Digest `json:"tops,omitempty"`
	// Checkpoint is the Blueprint the journal records as last applied
	// once the plan is carried out: the Blueprint, plus the volumes it
	// dropped that are still on disk (the executor leaves out those this
	// plan's deletes and purges removed); nil when the Blueprint is not
	// complete. A plan read back from JSON has none: the Blueprint given
	// to Apply is then recorded as it is.
	Checkpoint  *materials.Blueprint  `json:"-"`
	Summary     Summary               `json:"summary"`
	Diagnostics materials.Diagnostics `json:"diagnostics"`
}

// Empty reports whether nothing is left to do (held remodels aside).
func (p *Plan) Empty() bool { return len(p.Remodels) == 0 }
