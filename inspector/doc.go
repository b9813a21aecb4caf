// Package inspector surveys what really exists under a root (volume files in
// both layouts, a blob directory, the assembler's journal, and a content
// store beyond the root such as containerd, surveyed by
// inspector/ctrsurvey) and returns a deterministic Floorplan. It reads only
// headers, never follows a symlink out of the root, and reports what it
// cannot read or parse instead of failing.
//
// What it trusts:
//
//   - complete: named as edgewright names things, header sound.
//   - partial: `.tmp` work in progress, a partial download or ingest, or
//     anything the journal says was in flight when the last apply stopped.
//   - broken: named right, content damaged (a corrupt qcow2 header), or a
//     header that names another file (a qcow2 backing file or external
//     data file, vmdk extents or parent: qemu would open a host path), or
//     an image format edgewright never makes; with the reason. Headers are
//     read by internal/diskimage, the reader the assembler uses too.
//   - unknown: a name it cannot parse or must not trust, a symlink, a file
//     it cannot read. Unknown is never a reason to delete.
//
// Diagnostics of severity error mean a whole scope (a directory,
// containerd, the journal) is missing from the Floorplan, so its absence
// there says nothing about the device; warnings concern one item, which is
// still listed.
//
// Every file below the root is reached with openat/fstatat relative to an
// open directory, O_NOFOLLOW and AT_SYMLINK_NOFOLLOW, one path component at
// a time; a name with `..`, a separator or a control character is listed
// but never parsed or opened.
//
// Deepen is an opt-in deep survey beyond headers: `qemu-img check` of
// every complete qcow2 (corruptions, leaks into VolumeFile.Check), with
// no backing file ever opened; package check turns it into fixes.
//
// # Snapshots
//
// A qcow2 volume's internal snapshots are read from its snapshot table
// (internal/diskimage: at most 1024 entries and 4 MiB of table, names of
// at most 1 KiB, offsets checked against the file, nothing followed) into
// VolumeFile.Snapshots with their names, dates, VM state and disk sizes; a
// corrupt table makes the volume broken (qemu would not open it), a table
// past those bounds is a warning and lists none. A raw or container
// volume's snapshots are copies beside it named by package layout's rule,
// <uuid>#<generation>@<snapshot>.<format>: each complete one is listed in
// its volume's Snapshots (with its path, mtime as its date, and its state)
// and not as a volume; one whose volume is not there stays listed as
// unknown, never a reason to delete. A snapshot copy or rollback copy in
// progress (<...>@<snapshot>.<format>.tmp, <...>@rollback.<format>.tmp)
// is listed as a partial temp of its volume, for clean-up.
package inspector
