// Package check finds what is wrong with a device root and says how it
// could be fixed, without fixing it: Check is a pure function from a
// Floorplan (the inspector's survey, optionally deepened by
// inspector.Deepen) to a Report of fixes and a status per volume. It does
// no I/O and reads no clock; the time is Options.Now.
//
// A Fix has a stable ID, derived from its type and its target
// ("clean:file/persist/vault/volumes/x.tmp", "mend:volume/<uuid>#<gen>"),
// so that the same damage found by two checks has the same ID and a
// person can name it to a fix runner. Bytes is what the fix frees
// (positive) or costs (negative), 0 when it cannot be known from a
// survey. Remedy says what a runner would do; RemedyReport means nothing
// is done automatically (an unknown file is listed, never deleted).
//
// The four types are VDSM's (checkStorageRepository):
//
//   - clean frees space: `.tmp` work older than Options.StaleAfter that the
//     journal does not list as in flight; partial ingests (blob directory
//     or containerd) likewise; complete blobs whose grace clock in the
//     journal (Journal.Unreferenced) has run past Options.GracePeriod; and
//     unknown files under the root's directories, listed for a person
//     with RemedyReport; and containerd image records edgewright wrote
//     (layout.OwnerLabel) whose grace clock has run out, unless the last
//     applied config names them or an overlay reads through one of their
//     blobs (the record only: its blobs are containerd's collector's);
//     and containerd leases edgewright made (a tree's lease, held while
//     the tree downloads) older than Options.StaleAfter that outlived
//     their download: the tree's image record holds it now, or the last
//     applied config no longer names it. A lease is kept while a download
//     of its blobs is in flight or when it alone keeps a blob an overlay
//     reads through; left alone it expires after a day.
//   - mend repairs a broken volume: a damaged header, a qcow2 with a
//     backing or data file (the inspector refuses those: qemu would open
//     another file), a qcow2 whose deep check found corrupted clusters
//     (re-created from content when the last applied Blueprint knows the
//     generation's content tree, else reported only: a blank volume's data
//     is in that file alone) or only leaked clusters (repaired in place
//     with `qemu-img check -r leaks`, which touches no data cluster); an
//     overlay whose backing content blob is gone from the stores
//     (VolumeFile.Backing, a link Missing with its Blob) is mended by
//     downloading the blob again from the last applied content tree whose
//     top it is (RemedyRefetch), else reported. A backing name outside the
//     stores makes the inspector call the volume broken: re-created or
//     reported as any damaged header.
//   - optimize improves a sound volume: a raw volume that is fully
//     allocated may hold zero blocks that could be holes. Whether it does
//     takes reading its data, which a survey never does, so the fix's
//     Bytes is 0 and its reason says so. After a sparsify the assembler
//     journals the file's size and mtime (JournalState.Dense): a volume
//     that still matches them held no zeros and is not listed again
//     until it is written (a new mtime) or resized. An overlay whose strategy
//     (Options.VolumeStrategy for its generation, else Options.Strategy)
//     is performance is flattened (RemedyFlatten; Bytes is minus what its
//     chain holds, the cost of copying it in). With no strategy known no
//     overlay is judged.
//   - merge collapses an overlay chain longer than one link (overlay ->
//     overlay -> blob) into one overlay on the blob (RemedyMerge; Bytes is
//     minus what the middle links hold). Under performance the flatten
//     does it instead, one fix per volume. The middle files stay: another
//     overlay's link (a snapshot's file) is never judged on its own.
//
// A blob that any overlay's chain names is never cleaned, whatever its
// grace clock says.
//
// A volume's status is broken (a mend that is not a leak repair),
// degraded (any other fix, or uncertain work in flight), else optimized.
// Volumes are the surveyed volume files that are not `.tmp` work and not
// unknown; their ID is the volume key, or the path for a legacy file or
// a key found in both layouts.
//
// # Running fixes
//
// PlanFixes turns the fixes a Selection names (IDs; all; all of a type)
// of a fresh check into a remodel.Plan for the assembler, so that fixes
// are journaled, locked and crash-safe like every other remodel: a clean
// is a delete (of the file, or of the blob in every store holding it);
// a re-fetch a download into the blob directory from the last applied
// content tree; a recreate (remodel.ActionRecreate, after a download of
// the content when no store holds it) writes the generation anew beside
// the damaged file and renames it over (under the space strategy, as
// the check was told it, a qcow2 overlay on the content blob, as its
// create made it); repair-leaks, sparsify, flatten
// and merge rewrite the file beside itself through the device's
// VolumeFixer (qemu-img in assembler/crafts/qemu, opening a chain only
// as the survey followed it). FixPlan.Fixes gives each fix's remodels in
// order: a runner reports stage X of Y and the assembler's progress as
// a percent. RemedyReport fixes are never run (FixPlan.Reported); an ID
// the check does not list is an *UnknownFixError naming it. The trust
// rule holds whatever a report says: no blob the last applied config or
// any overlay's chain names is deleted, nor a volume's or a complete
// blob's file as a leftover (FixPlan.Refused). The plan carries the
// journal's grace clocks unchanged and no checkpoint.
//
// `wright fix --root DIR (ID... | --all [--type TYPE])` (examples/wright)
// checks, settles the intents a killed run left in flight
// (assembler.Settle: under the root's lock, only when the root is as
// surveyed), plans, applies and checks again. Options.Store is where a
// download goes (`--containerd SOCKET`: containerd, as `wright apply
// --containerd` keeps blobs; a re-fetch goes to the store whose file the
// overlay's chain names). A sparsify of a raw volume that holds no zeros
// leaves it fully allocated; the journal's record of what it left keeps
// the check from listing it again, so `fix --all` converges.
//
// `wright fix --json` prints one object: "settled" (intents settled),
// "selected" (each chosen fix by id: "id", "type", "target", "outcome" —
// "applied", "failed" with "error", "reported" or "refused" with "why"),
// and the check after the fixes as `wright check --json` prints it,
// "fixes" ("id", "type", "target", "bytes", "reason") and "volumes"
// ("id", "status"); when the apply fails as a whole, "error" instead of
// the check after.
//
// What a survey cannot see is not checked: image records and orphan
// blobs that never got a grace clock (only the foreman, with the current
// config, knows they are unneeded). Check is advisory: a runner re-plans before
// it deletes anything.
package check
