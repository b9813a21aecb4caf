package sim

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
	"github.com/opencontainers/go-digest"
)

// errNoSpace is what a full disk says, so device.NoSpace knows it.
var errNoSpace error = syscall.ENOSPC

var (
	_ device.Files         = (*Device)(nil)
	_ device.Locker        = (*Device)(nil)
	_ device.JournalOpener = (*Device)(nil)
)

// under checks that p is below the root, as rootfs refuses paths that
// leave it.
func (d *Device) under(op, p string) (string, error) {
	c := filepath.Clean(p)
	if c != d.root && !strings.HasPrefix(c, d.root+string(filepath.Separator)) {
		return "", &fs.PathError{Op: op, Path: p, Err: fmt.Errorf("outside the root %s", d.root)}
	}
	return c, nil
}

// Lstat says what is at p.
// Stat is the entry's size and mtime, as the survey reports them.
func (d *Device) Stat(p string) (int64, time.Time, error) {
	c, err := d.under("stat", p)
	if err != nil {
		return 0, time.Time{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return 0, time.Time{}, err
	}
	e, ok := d.entries[c]
	if !ok || e.dir {
		return 0, time.Time{}, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
	}
	size := e.virtual
	if e.format == materials.FormatQcow2 {
		size = e.alloc
	}
	return size, e.mod, nil
}

func (d *Device) Lstat(p string) (fs.FileMode, error) {
	c, err := d.under("lstat", p)
	if err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return 0, err
	}
	if c == d.root {
		return fs.ModeDir | 0o755, nil
	}
	e, ok := d.entries[c]
	if !ok {
		return 0, &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
	}
	if e.dir {
		return fs.ModeDir | 0o755, nil
	}
	return 0o644, nil
}

// List names dir's entries starting with prefix.
func (d *Device) List(dir, prefix string) ([]string, error) {
	c, err := d.under("list", dir)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return nil, err
	}
	var out []string
	for p := range d.entries {
		if filepath.Dir(p) == c && strings.HasPrefix(filepath.Base(p), prefix) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// MkdirAll makes dir and its parents.
func (d *Device) MkdirAll(dir string) error {
	c, err := d.under("mkdir", dir)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return err
	}
	return d.mkdirAll(c)
}

func (d *Device) mkdirAll(c string) error {
	for p := c; p != d.root && p != "/" && p != "."; p = filepath.Dir(p) {
		if e, ok := d.entries[p]; ok {
			if !e.dir {
				return &fs.PathError{Op: "mkdir", Path: p, Err: syscall.ENOTDIR}
			}
			continue
		}
		d.entries[p] = &entry{dir: true, mod: d.now()}
	}
	return nil
}

// RemoveAll removes p and what is below it.
func (d *Device) RemoveAll(p string) error {
	c, err := d.under("remove", p)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return err
	}
	d.removeAll(c)
	return nil
}

func (d *Device) removeAll(c string) {
	for q, e := range d.entries {
		if q == c || strings.HasPrefix(q, c+string(filepath.Separator)) {
			d.release(e.alloc + e.snapCharge())
			delete(d.entries, q)
		}
	}
}

// Stage makes a private copy of r's bytes' worth under dir. The blob
// directory always names a path; the executor stages a blob of
// containerd's store when the device does not know its content
// directory. The executor names the copy by the blob's hex (prefix), so
// the copy holds that blob's content and a volume can be made from it.
func (d *Device) Stage(ctx context.Context, dir, prefix string, r io.Reader) (string, func(), error) {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return "", nil, err
	}
	c, err := d.under("stage", filepath.Join(dir, prefix+".stage"))
	if err != nil {
		return "", nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return "", nil, err
	}
	if err := d.reserve(n); err != nil {
		return "", nil, err
	}
	if err := d.mkdirAll(filepath.Dir(c)); err != nil {
		return "", nil, err
	}
	e := &entry{alloc: n, mod: d.now()}
	if dg := digest.NewDigestFromEncoded(digest.SHA256, prefix); dg.Validate() == nil {
		if b := d.ctrBlobLocked(dg); b != nil {
			e.alloc, e.staged = b.size, b.served
			if err := d.reserve(b.size - n); err != nil {
				d.release(n)
				return "", nil, err
			}
		}
	}
	d.entries[c] = e
	return c, func() { _ = d.RemoveAll(c) }, nil
}

// FreeBytes is the capacity less what blobs and volumes take.
func (d *Device) FreeBytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.free()
}

// Lock takes the device's lock; a second holder waits (bounded by ctx)
// or is refused with device.ErrLocked.
func (d *Device) Lock(ctx context.Context, wait bool) (func() error, error) {
	for {
		d.mu.Lock()
		if !d.locked {
			d.locked = true
			d.mu.Unlock()
			return func() error {
				d.mu.Lock()
				d.locked = false
				d.mu.Unlock()
				return nil
			}, nil
		}
		d.mu.Unlock()
		if !wait {
			return nil, fmt.Errorf("lock sim root %s: %w", d.root, device.ErrLocked)
		}
		if err := sleep(ctx); err != nil {
			return nil, fmt.Errorf("lock sim root %s: %w (while waiting: %w)", d.root, device.ErrLocked, err)
		}
	}
}

// OpenJournal opens a session on the device's journal.
func (d *Device) OpenJournal(afterWrite func(n int)) (device.Journal, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return nil, err
	}
	return &simJournal{d: d, afterWrite: afterWrite}, nil
}
