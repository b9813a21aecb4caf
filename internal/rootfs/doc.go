// Package rootfs opens, creates, renames and removes paths in edgewright's
// own directories under a root (persist/blobs, persist/edgewright, the
// volume directories). Unlike a container layer, these directories never
// hold a symlink, so every component below the root is opened without
// following one (openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS where the
// kernel has it, else one O_NOFOLLOW openat per component): a symlink
// planted there is refused with ErrSymlink, never written through. Files
// are opened with O_NONBLOCK and checked to be regular before use, so a
// FIFO or device node in their place is refused with ErrNotRegular instead
// of blocking. The root itself is the caller's and is opened as given.
package rootfs
