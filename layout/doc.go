// Package layout owns where things live under a device root and how
// edgewright marks what it owns: every directory, file name and label the
// assembler writes, the inspector reads and the in-memory device mimics.
// Nothing else spells a path under persist/ or a label.
//
// The two volume layouts are EVE's: persist/vault/volumes for encrypted
// volumes and persist/clear/volumes for clear-text ones, a volume named
// <uuid>#<generation>.<format>; persist/img holds legacy names. Blobs are
// content-addressed in persist/blobs/sha256; edgewright's own state (the
// journal, the lock, ingest bookkeeping, staged copies) is under
// persist/edgewright.
package layout
