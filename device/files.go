package device

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"
)

// Files is the root's own directories as the executor sees them: it asks
// what is at a path and makes or clears room; content is written only by
// crafts. Paths are absolute, under the device's root; an implementation
// never follows a symlink below the root and refuses a path outside it.
type Files interface {
	// Lstat says what is at path without following a symlink: its mode,
	// or an error wrapping fs.ErrNotExist.
	Lstat(path string) (fs.FileMode, error)
	// List names the entries of dir whose names start with prefix, as
	// paths (dir joined with the name), sorted; none when dir is missing.
	List(dir, prefix string) ([]string, error)
	// MkdirAll makes dir and its parents below the root.
	MkdirAll(dir string) error
	// RemoveAll removes path and what is below it, durably (the parent
	// directory is synced); a missing path is no error.
	RemoveAll(path string) error
	// Stage copies r into a new private file under dir (made when
	// missing), for a craft that needs a file where the store has none.
	// remove deletes it.
	Stage(ctx context.Context, dir, prefix string, r io.Reader) (path string, remove func(), err error)
	// FreeBytes is the space available under the root; 0 when unknown.
	FreeBytes() int64
	// Stat is the size and modification time of the file at path (not
	// following a symlink), as a survey reports them.
	Stat(path string) (size int64, modTime time.Time, err error)
}

// Locker is the root's cross-process lock: one assembler at a time.
type Locker interface {
	// Lock takes it. With wait it waits, bounded by ctx; else a lock
	// another holder has fails at once with an error wrapping ErrLocked.
	Lock(ctx context.Context, wait bool) (unlock func() error, err error)
}

// ErrLocked: another assembler holds the root's lock.
var ErrLocked = errors.New("root is locked by another assembler")

// JournalOpener opens the device's journal for one session. afterWrite,
// when set, is called after each durable commit with its sequence number
// (fault injection).
type JournalOpener interface {
	OpenJournal(afterWrite func(n int)) (Journal, error)
}
