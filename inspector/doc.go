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
//     header that names another file outside the root's stores (an
//     external data file, vmdk extents or parent, a qcow2 backing file
//     not in the stores: qemu would open a host path), or an image format
//     edgewright never makes; with the reason. Headers are
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
// # Backing chains
//
// A qcow2 volume's backing file (a space-strategy overlay) is resolved
// lexically, as qemu would (relative to the volume's directory, or
// absolute), before anything is opened, and followed only when it lands
// on a blob of the blob directory (persist/blobs/sha256/<hex>), a blob of
// containerd's content directory (blobs/sha256/<hex> under
// Options.ContainerdContentDir, when given), or another volume file of
// the same volume uuid in a volume directory (an overlay chain, at most
// 16 links, no loops). It is then opened one component at a time with
// O_NOFOLLOW from the root's (or the content directory's) descriptor, its
// header read: raw or qcow2, a blob naming no file of its own, the
// format the referring header's backing-format extension names. The
// links go into VolumeFile.Backing, nearest first (and into the
// fingerprint). Any other name (/etc/shadow, ../../etc/passwd, a
// protocol, a symlink on the way) is never opened and the volume is
// broken with the reason; a confined but missing blob makes it broken
// with the link Missing (a re-fetch mends it).
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
