package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/internal/durable"
)

// exchangeDurable swaps two directory entries in one step (renameat2
// RENAME_EXCHANGE) and fsyncs their directory: a crash finds either both
// old names or both new ones. It is how a directory, which rename cannot
// replace unless it is empty, is replaced atomically.
func exchangeDurable(a, b string) error {
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("exchange %s and %s: the file system cannot swap two entries atomically (renameat2 RENAME_EXCHANGE): %w", a, b, err)
		}
		return fmt.Errorf("exchange %s and %s: %w", a, b, err)
	}
	return durable.SyncDir(filepath.Dir(a))
}

// removeDurable removes a file or a whole tree at p, durably and so that a
// crash midway never leaves a half-removed tree under a name that means
// something: a tree is first renamed to gone (a temp name) and the
// directory fsynced, then removed.
func removeDurable(p, gone string) error {
	st, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		if err := os.RemoveAll(gone); err != nil {
			return fmt.Errorf("remove stale %s: %w", gone, err)
		}
		if err := durable.Rename(p, gone); err != nil {
			return err
		}
		if err := os.RemoveAll(gone); err != nil {
			return fmt.Errorf("remove %s: %w", gone, err)
		}
	} else if err := os.Remove(p); err != nil {
		return err
	}
	return durable.SyncDir(filepath.Dir(p))
}
