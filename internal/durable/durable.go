// Package durable is how edgewright makes a rename or removal survive a
// crash (the crafts, the chunk store, the container-volume unpacker): the
// directory that holds the entry is fsynced after it, opened never
// through a symlink planted at its name (a symlink there is refused, not
// followed: the fsync would land on another directory).
package durable

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// SyncDir fsyncs a directory so a rename or removal in it is durable.
func SyncDir(dir string) error {
	d, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// Rename renames from over to and fsyncs to's directory: after it
// returns, a crash finds to whole.
func Rename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(to))
}
