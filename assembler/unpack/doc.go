// Package unpack applies OCI image layers, in order, to a directory: the
// container volume's `<final>.tmp/`, which the caller renames into place.
//
// Layers are tar streams, gzip- or zstd-compressed or not (detected by
// their magic bytes). Whiteouts are honoured (`.wh.<name>` deletes a lower
// layer's entry, `.wh..wh..opq` empties a directory of lower layers'
// entries), and so are hardlinks, symlinks, modes, mtimes, and ownership
// when running as root.
//
// Nothing is ever written outside the root. Every path is resolved from a
// file descriptor of the root with openat2(RESOLVE_BENEATH|
// RESOLVE_NO_MAGICLINKS) where the kernel has it, or by a user-space
// resolver that walks one component at a time with O_NOFOLLOW and follows
// symlinks itself, refusing any that leave the root. The final component
// is never followed (files are created O_EXCL|O_NOFOLLOW after the old
// entry is removed). An entry is refused with *EscapeError, naming it,
// when:
//   - its path is absolute or climbs out of the root with `..`;
//   - its parent directory resolves outside the root (a symlink to an
//     absolute path, or a chain of relative ones that climbs out);
//   - it is a symlink whose relative target climbs out of the root;
//   - it is a hardlink whose target is absolute or climbs out.
//
// A symlink with an absolute target is kept: inside a container it means
// the container's root (images are full of them, /bin/sh -> /bin/busybox),
// and unpacking never follows it.
//
// # Bounds and privileges
//
// Options.MaxBytes bounds what all layers together put on disk (each
// entry's declared size, a sparse file's holes included, plus 512 bytes
// an entry); Options.MaxEntries bounds their entries. Both are checked at
// each tar header, before anything of the entry is written, so a gzip or
// zstd bomb stops at once with a *LimitError naming the volume, the layer
// (its position, and its digest when Options.LayerDigests gives it) and
// the bound. Deletions by later layers are not credited back. Build
// removes `<final>.tmp/` whenever it fails.
//
// Unless Options.KeepPrivileges, setuid and setgid bits on files are
// cleared, char and block devices are skipped (both with a warning) and
// security.* xattrs (file capabilities) are dropped. A hardlink to an
// entry that was skipped (in its layer or an earlier one) is skipped too,
// with a warning, rather than failing the unpack. Directories keep
// setgid (group inheritance grants nothing); FIFOs are kept (a rendezvous
// point grants nothing either).
package unpack
