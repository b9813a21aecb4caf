// Package rootdir is a real device root's files, lock and journal: the
// device.Files, device.Locker and device.JournalOpener the assembler uses
// on a directory. Every path below the root is reached without following
// a symlink (internal/rootfs); the lock is a flock on
// persist/edgewright/lock; the journal is bbolt at
// persist/edgewright/journal.db (package journal).
package rootdir
