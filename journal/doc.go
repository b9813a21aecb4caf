// Package journal is the assembler's crash-safe memory under the root
// (<root>/persist/edgewright/journal.db, a bbolt file whose every commit is
// fsynced): the intent recorded before each remodel and its completion
// after, the Blueprint last applied, since when materials have been
// unreferenced (so grace periods survive restarts), and OCI tag latches.
// A Journal is an inspector.JournalSource: intents without completion are
// reported as in flight, which the inspector marks uncertain.
package journal
