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
package inspector
