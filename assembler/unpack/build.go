package unpack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/internal/durable"
)

// Build makes the container volume directory final from layers: it
// unpacks them in order into `<final>.tmp/` (a stale one from an
// interrupted build is removed first), syncs the filesystem, renames the
// directory into place and syncs its parent. A final that already exists
// is an error: regenerating a volume is a new generation, a new path.
func Build(ctx context.Context, final string, layers []Layer, opts Options) (st Stats, err error) {
	if _, err := os.Lstat(final); err == nil {
		return Stats{}, fmt.Errorf("container volume %s: already exists", final)
	}
	tmp := final + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return Stats{}, fmt.Errorf("container volume %s: remove stale %s: %w", final, tmp, err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return Stats{}, fmt.Errorf("container volume %s: %w", final, err)
	}
	// A failed build leaves no .tmp holding the disk.
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if opts.Name == "" {
		opts.Name = final
	}
	st, err = Unpack(ctx, tmp, layers, opts)
	var lim *LimitError
	if errors.As(err, &lim) {
		return st, err
	}
	if err != nil {
		return st, fmt.Errorf("container volume %s: %w", final, err)
	}
	if err := syncTree(tmp, st); err != nil {
		return st, fmt.Errorf("container volume %s: sync: %w", final, err)
	}
	if err := durable.Rename(tmp, final); err != nil {
		return st, fmt.Errorf("container volume %s: %w", final, err)
	}
	return st, nil
}

// fsyncEachMax is the most files and directories a volume may have for
// its entries to be fsynced one by one; a larger volume is flushed with one
// syncfs.
const fsyncEachMax = 64

// syncTree makes everything unpacked under dir durable before the rename.
// A volume of few entries (an image of a few large files) fsyncs each
// regular file and directory: syncfs would also wait for every other
// writer's dirty data on the filesystem (another runtime's freshly
// unpacked snapshot, say), and the large files' data is mostly on disk
// already (early writeback). A volume of many entries is flushed with
// one syncfs instead of an fsync per file.
func syncTree(dir string, st Stats) error {
	if st.Files+st.Dirs+st.Hardlinks+st.Symlinks > fsyncEachMax {
		return syncfs(dir)
	}
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() || d.IsDir() {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(paths) > fsyncEachMax+1 {
		return syncfs(dir)
	}
	// Files first, directories (their entries) after; dir itself last.
	for i := len(paths) - 1; i >= 0; i-- {
		if err := fsyncPath(paths[i]); err != nil {
			return err
		}
	}
	return nil
}

// fsyncPath fsyncs a regular file or directory without following a
// symlink put in its place.
func fsyncPath(p string) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return fmt.Errorf("fsync %s: %w", p, err)
	}
	return nil
}

// syncfs flushes the filesystem holding dir: one call instead of an fsync
// per unpacked file.
func syncfs(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}
