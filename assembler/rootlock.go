package assembler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"

	"github.com/edgewright/edgewright/internal/rootfs"
	"github.com/edgewright/edgewright/layout"
)

// LockPath is the root's cross-process lock file.
func LockPath(root string) string { return layout.LockPath(root) }

// lockRoot takes the root's lock: it waits (polling, bounded by ctx) when
// wait is set, else refuses at once with ErrRootLocked.
func lockRoot(ctx context.Context, root string, wait bool) (*flock.Flock, error) {
	p := LockPath(root)
	// The root itself is the caller's to choose (it may be made here, as
	// before); below it, the lock's directory is the journal's too: ours,
	// never a symlink.
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("lock root %s: %w", root, err)
	}
	rfs := rootfs.New(root)
	if err := rfs.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("lock root %s: %w", root, err)
	}
	f, err := rfs.OpenFile(p, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock root %s: %w", root, err)
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
			return nil, fmt.Errorf("lock root %s: %w (while waiting: %w)", root, ErrRootLocked, ctx.Err())
		}
		return nil, fmt.Errorf("lock root %s: %w", root, err)
	}
	if !ok {
		return nil, fmt.Errorf("lock root %s: %w (lock file %s)", root, ErrRootLocked, p)
	}
	return fl, nil
}
