package unpack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Build makes the container volume directory final from layers: it
// unpacks them in order into `<final>.tmp/` (a stale one from an
// interrupted build is removed first), syncs the filesystem, renames the
// directory into place and syncs its parent. A final that already exists
// is an error: regenerating a volume is a new generation, a new path.
func Build(ctx context.Context, final string, layers []Layer, opts Options) (Stats, error) {
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
	st, err := Unpack(ctx, tmp, layers, opts)
	if err != nil {
		return st, fmt.Errorf("container volume %s: %w", final, err)
	}
	if err := syncfs(tmp); err != nil {
		return st, fmt.Errorf("container volume %s: sync: %w", final, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return st, fmt.Errorf("container volume %s: %w", final, err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return st, fmt.Errorf("container volume %s: sync parent: %w", final, err)
	}
	return st, nil
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

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
