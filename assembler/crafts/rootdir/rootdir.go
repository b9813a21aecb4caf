package rootdir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/internal/rootfs"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/layout"
)

// Root is one device root directory.
type Root struct {
	dir string
	fs  rootfs.Root
}

// New is the root at dir.
func New(dir string) *Root { return &Root{dir: dir, fs: rootfs.New(dir)} }

var (
	_ device.Files         = (*Root)(nil)
	_ device.Locker        = (*Root)(nil)
	_ device.JournalOpener = (*Root)(nil)
)

// Lstat says what is at p, never following a symlink below the root.
func (r *Root) Lstat(p string) (fs.FileMode, error) {
	mode, _, err := r.fs.Lstat(p)
	return mode, err
}

// Stat is the size and mtime of the file at p (not following a
// symlink), as the inspector reads them.
func (r *Root) Stat(p string) (int64, time.Time, error) {
	st, err := r.fs.StatT(p)
	if err != nil {
		return 0, time.Time{}, err
	}
	return st.Size, time.Unix(st.Mtim.Sec, st.Mtim.Nsec).UTC(), nil
}

// List names dir's entries starting with prefix. The directory itself is
// opened without following a symlink.
func (r *Root) List(dir, prefix string) ([]string, error) {
	mode, err := r.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !mode.IsDir() {
		return nil, fmt.Errorf("list %s: not a directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// MkdirAll makes dir below the root, through no symlink.
func (r *Root) MkdirAll(dir string) error { return r.fs.MkdirAll(dir, 0o755) }

// RemoveAll removes p and syncs its directory.
func (r *Root) RemoveAll(p string) error {
	if err := r.fs.RemoveAll(p); err != nil {
		return err
	}
	if err := r.fs.SyncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Stage copies src into a new private file under dir.
func (r *Root) Stage(ctx context.Context, dir, prefix string, src io.Reader) (string, func(), error) {
	if err := r.fs.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp(dir, prefix+".*")
	if err != nil {
		return "", nil, err
	}
	remove := func() { os.Remove(f.Name()) }
	if _, err := io.Copy(f, ctxReader{ctx, src}); err != nil {
		f.Close()
		remove()
		return "", nil, err
	}
	if err := f.Close(); err != nil {
		remove()
		return "", nil, err
	}
	return f.Name(), remove, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// FreeBytes is the space available to us under the root; 0 when unknown.
func (r *Root) FreeBytes() int64 {
	var st unix.Statfs_t
	if r.dir == "" || unix.Statfs(r.dir, &st) != nil {
		return 0
	}
	free := st.Bavail * uint64(st.Bsize)
	if free > 1<<62 {
		return 1 << 62
	}
	return int64(free)
}

// Lock takes the root's flock: waiting (polling, bounded by ctx) when
// wait is set, else refusing at once with device.ErrLocked.
func (r *Root) Lock(ctx context.Context, wait bool) (func() error, error) {
	p := layout.LockPath(r.dir)
	// The root itself is the caller's to choose (it may be made here);
	// below it, the lock's directory is the journal's too: ours, never a
	// symlink.
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock root %s: %w", r.dir, err)
	}
	if err := r.fs.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("lock root %s: %w", r.dir, err)
	}
	f, err := r.fs.OpenFile(p, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock root %s: %w", r.dir, err)
	}
	f.Close()
	fl := flock.New(p)
	var ok bool
	if wait {
		ok, err = fl.TryLockContext(ctx, 50*time.Millisecond)
	} else {
		ok, err = fl.TryLock()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("lock root %s: %w (while waiting: %w)", r.dir, device.ErrLocked, ctx.Err())
		}
		return nil, fmt.Errorf("lock root %s: %w", r.dir, err)
	}
	if !ok {
		return nil, fmt.Errorf("lock root %s: %w (lock file %s)", r.dir, device.ErrLocked, p)
	}
	return fl.Unlock, nil
}

// OpenJournal opens the root's bbolt journal.
func (r *Root) OpenJournal(afterWrite func(n int)) (device.Journal, error) {
	j, err := journal.OpenRoot(r.dir, journal.Options{AfterWrite: afterWrite})
	if err != nil {
		return nil, err
	}
	return j, nil
}
