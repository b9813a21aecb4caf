// Package snapshot takes, restores and deletes snapshots of one volume,
// by its format, for the snapshot, rollback and delete-snapshot remodels
// of an app's SnapshotConfig. A snapshot is named by its uuid (a
// lower-case canonical UUID, checked: it reaches file names and
// qemu-img's command line). Every operation is idempotent, so a step the
// journal saw start and not finish is simply run again: Take of a snapshot
// that exists and Delete of one that is gone do nothing and say so
// (Result.AlreadyDone).
//
// # qcow2: internal snapshots
//
// A qcow2 volume's snapshots live inside its file (qemu-img snapshot -c,
// -a, -d), not in an external overlay chain. Why: a snapshot then costs a
// copy of the L1 table and a refcount update, whatever the volume's size
// (the goal is under 100 ms for 4 GiB); a rollback rewrites only the L1
// table; deleting any snapshot, oldest or not, frees its clusters in place
// with no block copy; and the volume stays one self-contained file. An
// overlay chain would make every volume name a backing file, which
// edgewright refuses on sight (internal/diskimage) because a header that
// names a path is how a hostile image reaches host files; deleting a
// snapshot in the middle of a chain needs a commit or stream of its
// blocks; and a rollback swaps which file is the volume. EVE takes
// internal qcow2 snapshots too.
//
// Before qemu-img runs, the header is read by internal/diskimage (refused
// when it names another file or is marked corrupt) and the snapshot table
// by diskimage.Snapshots; qemu-img then opens the volume as a json:
// filename with no backing and no data file. A name held by more than one
// entry (someone else's doing) is refused with ErrAmbiguous.
//
// Crash safety is qemu's: a snapshot is added or removed by writing a new
// table and then switching nb_snapshots and snapshots_offset in one
// header write; a revert raises the snapshot's refcounts, rewrites the
// active L1 table in one synced write and lowers the old ones. A crash
// leaves the old or the new state and at worst leaked clusters (qemu-img
// check -r leaks reclaims them; content never changes). The L1 write is
// one sector, the unit a disk writes whole, only when the L1 table has at
// most 64 entries (a virtual disk of up to 32 GiB at 64 KiB clusters);
// for a larger one the revert is applied to a copy beside the volume
// (<uuid>#<gen>@rollback.qcow2.tmp; a reflink where the file system can)
// that is fsynced and renamed over the volume (MethodQcow2OnCopy).
//
// # raw: a reflink, else a sparse copy
//
// A raw volume's snapshot is a file beside it, layout.SnapshotPath
// (<uuid>#<generation>@<snapshot>.raw): a reflink (FICLONE) where the file
// system shares extents (XFS, btrfs), else a copy of its data extents only
// (SEEK_DATA/SEEK_HOLE, copy_file_range), holes kept. Result.Method says
// which, Result.Bytes what was copied. Taking writes <name>.tmp, fsyncs,
// renames and fsyncs the directory; a rollback writes the restored copy
// at layout.RollbackTempPath and renames it over the volume the same way,
// so a crash leaves the old volume or the restored one, never a mix.
//
// # container: a tree copy
//
// A container volume's snapshot is a directory beside it: every entry
// copied by descriptor (openat with O_NOFOLLOW: the tree is the app's, a
// symlink in it is copied and never followed) with its type (files,
// directories, symlinks, fifos, sockets, device nodes), mode (set-id bits
// too), owner, extended attributes, atime and mtime, and hard links kept
// as hard links within the tree; regular files are reflinked or sparse-
// copied as for raw. One syncfs makes the copy durable before the rename.
// A rollback copies the snapshot to the rollback temp and swaps it with
// the volume in one renameat2(RENAME_EXCHANGE) (a file system without it
// is an error, never a two-step swap), then removes the old tree, now at
// the temp name. A deleted directory snapshot is first renamed to a temp
// name, so a crash never leaves half of it under a snapshot's name.
//
// # Rollback across generations
//
// An app-update snapshot is taken of the generation an update then
// replaces; the old generation is kept while it holds the snapshot.
// RestoreFrom (the device.SnapshotRestorer role) restores such a
// snapshot into the generation the app uses now, through that
// generation's rollback temp, fsynced and renamed over it: a qcow2 by
// `qemu-img convert -l snapshot.name=` (MethodQcow2Convert: a copy of the
// snapshot's data into a fresh image, grown to the new generation's
// virtual size when that is larger; the fresh image holds no internal
// snapshots, so the planner does not ask for this when the new generation
// holds any), a raw or directory snapshot by copying its copy again as a
// rollback in place does. The old generation and its snapshot stay.
//
// A copy of the snapshot's data costs seconds per GiB (2.58 s for 1 GiB of
// data in a 4 GiB qcow2). When nothing but its snapshots keeps the old
// generation's qcow2 (the planner says so: RollbackPayload.Move), the
// rollback moves that file instead (device.SnapshotMover), in two steps
// the executor separates by a journal write:
//
//   - PrepareMove reverts the old generation's file itself to the
//     snapshot (qemu-img snapshot -a: one L1 table write) and grows it to
//     the new generation's virtual size when that is larger (the revert
//     sets the snapshot's size). Only the old file changes, and only its
//     active state, which nobody reads: the planner keeps that file for
//     its snapshots alone, and they are untouched. A crash leaves the new
//     generation as it was; a retry reverts and grows again.
//   - MoveOver renames the old file over the new generation's path and
//     fsyncs the directory: the one step that changes the volume, atomic.
//     The snapshot, and any other internal snapshot of the old file, now
//     live in the new generation (later rollbacks are in place); the new
//     generation's own file is replaced, so the planner asks for a move
//     only when it holds no internal snapshot.
//
// The executor records the moved snapshots' lineage on the new generation
// between the two steps and drops the old generation's records after the
// rename; a crash in between leaves a record the next plan drops as stale.
// PrepareMove and MoveOver refuse with ErrNotMovable, before changing
// anything, what a rename could not carry whole (the executor then
// restores by convert): a raw or directory volume (its snapshot is a copy
// beside the file, named by its generation), two generations in different
// directories (clear text and vault), a new generation holding internal
// snapshots of its own (the rename would drop them), and an L1 table
// beyond one sector (the in-place revert would not be one atomic write).
// An overlay never gets here: its header names a backing file, which
// every operation of this craft refuses (diskimage.ErrRefused), so no
// overlay holds a snapshot of ours; were it to, a rename within the
// volume directory would still find a backing name relative to it.
//
// Leftover temps (<snapshot name>.tmp, the rollback temp) are work in
// progress: the next operation on the same volume replaces them, and the
// inspector reports them partial for the foreman's cleanup.
//
// # What the caller must do
//
// Stop the app that uses the volume before a Take of type immediate on a
// raw or container volume and before any Rollback: a copy of a volume
// being written is not a snapshot of any moment, and qemu-img refuses a
// qcow2 another process holds its write lock on. Chowning copies and
// making device nodes need the privileges the agent runs with (root).
package snapshot
