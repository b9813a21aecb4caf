package qemu

import (
	"fmt"
	"os"
	"syscall"
)

// syncDir fsyncs a directory so a rename or removal in it is durable.
func syncDir(dir string) error {
	// Never through a symlink planted at our own directory's name.
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
