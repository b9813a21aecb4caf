package device

import (
	"context"
	"time"

	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
)

// Journal is the device's crash-safe record of what the assembler is
// doing and has done: intents before work, outcomes after, the grace
// clocks of unreferenced materials, tag latches and the last applied
// Blueprint. journal.Journal (bbolt under the root) implements it; so does
// the in-memory device. Every method is durable when it returns.
type Journal interface {
	// Begin records that a remodel's work is about to start.
	Begin(in journal.Intent) error
	// Finish records a remodel's outcome and drops its intent.
	Finish(in journal.Intent, outcome journal.Outcome, errText string, at time.Time) error
	// Intents lists the intents not yet finished.
	Intents() ([]journal.Intent, error)
	// DropIntents drops every intent not of apply keepApply, returning
	// how many went.
	DropIntents(keepApply string) (int, error)
	// History lists finished remodels, oldest first.
	History() ([]journal.Record, error)
	// UpdateUnreferenced starts grace clocks (add) and stops others (clear).
	UpdateUnreferenced(add []materials.Unreferenced, clear []materials.MaterialRef) error
	// ReplaceUnreferenced makes list the grace clocks running.
	ReplaceUnreferenced(list []materials.Unreferenced) error
	// Unreferenced lists the grace clocks running.
	Unreferenced() ([]materials.Unreferenced, error)
	// PutLatch records the digest a tag resolved to.
	PutLatch(l materials.TagLatch) error
	// Latches lists the recorded tag latches.
	Latches() ([]materials.TagLatch, error)
	// Checkpoint records bp as the last applied Blueprint.
	Checkpoint(bp *materials.Blueprint, now time.Time) error
	// LastApplied is the last checkpointed Blueprint, nil when none.
	LastApplied() (*materials.Blueprint, error)
	// PutLineage records app snapshots taken (before they are taken),
	// replacing a record of the same app, snapshot and volume generation.
	PutLineage(list []materials.SnapshotLineage) error
	// DropLineage removes the records of snapshot snap of app on vols.
	DropLineage(app, snap string, vols []materials.VolumeKey) error
	// PutDense records what a sparsify left at a path (its size and
	// mtime), replacing an earlier record of the path.
	PutDense(f materials.DenseFile) error
	// JournalState is what a survey reads of the journal (Lineage too).
	JournalState(ctx context.Context) (*materials.JournalState, error)
	// Quarantined tells whether opening found the journal damaged and
	// started fresh; nil when not.
	Quarantined() *journal.Quarantine
	Close() error
}

var _ Journal = (*journal.Journal)(nil)
