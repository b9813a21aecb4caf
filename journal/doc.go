// Package journal is the assembler's crash-safe memory under the root
// (<root>/persist/edgewright/journal.db, a bbolt file whose every commit is
// fsynced): the intent recorded before each remodel and its completion
// after, the Blueprint last applied, since when materials have been
// unreferenced (so grace periods survive restarts), OCI tag latches, and
// the lineage of app snapshots (materials.SnapshotLineage: which snapshot
// of which volume generation, taken when, of which type, for which config
// version; written before the snapshot is taken, dropped after its
// delete, listed in JournalState.Lineage).
// A Journal is an inspector.JournalSource: intents without completion are
// reported as in flight, which the inspector marks uncertain.
//
// A journal.db that is not a sound bbolt file (not a regular file, bad or
// out-of-bounds metas, a page that does not read) is found by Open before
// and right after bbolt maps it. A writable Open renames it aside as
// journal.db.damaged-<UTC time>, starts a fresh journal and says so in
// Quarantined: the fresh journal knows no last applied config, so nothing
// is deleted on one's strength until a config is applied again. A
// read-only Open returns an error wrapping ErrDamaged and changes nothing.
package journal
