package sim

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/internal/diskimage"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// volumes builds the device's volumes as entries, by the QemuVolumes
// rules: a blank volume needs a size; content larger than the volume is
// refused; a volume is grown to its size, never shrunk.
type volumes struct{ d *Device }

var (
	_ device.VolumeBuilder    = volumes{}
	_ device.ContainerBuilder = volumes{}
	_ device.OverlayBuilder   = volumes{}
)

// overlayAlloc is what a fresh qcow2 overlay takes on disk (qemu-img
// create's header, L1 and refcount tables).
const overlayAlloc = 256 << 10

// put makes an entry at final, taking alloc bytes of disk. The caller
// holds d.mu.
func (d *Device) put(final string, e *entry) error {
	c, err := d.under("create", final)
	if err != nil {
		return err
	}
	if err := d.alive(); err != nil {
		return err
	}
	if err := d.reserve(e.alloc); err != nil {
		return fmt.Errorf("create volume %s: %w", final, err)
	}
	if err := d.mkdirAll(filepath.Dir(c)); err != nil {
		d.release(e.alloc)
		return err
	}
	if old, ok := d.entries[c]; ok {
		d.release(old.alloc + old.snapCharge())
	}
	e.mod = d.now()
	d.entries[c] = e
	return nil
}

func (v volumes) CreateBlank(ctx context.Context, final string, format materials.Format, size int64) error {
	if size <= 0 {
		return fmt.Errorf("create blank volume %s: maxsizebytes %d: a blank volume needs a size > 0", final, size)
	}
	if format != materials.FormatRaw && format != materials.FormatQcow2 {
		return fmt.Errorf("create blank volume %s: format %q: want raw or qcow2", final, format)
	}
	v.d.mu.Lock()
	defer v.d.mu.Unlock()
	return v.d.put(final, &entry{format: format, virtual: size})
}

// content is the blob a volume is made from, found by its path: a blob
// file of the blob directory or of containerd's content directory, or a
// staged copy of a blob.
func (d *Device) content(src string) (*blobRec, digest.Digest, error) {
	if dg, ok := d.ctrName(src); ok {
		if b := d.ctr.blobs[dg]; b != nil && b.complete {
			return b, dg, nil
		}
		return nil, "", &fs.PathError{Op: "open", Path: src, Err: fs.ErrNotExist}
	}
	if e := d.entries[filepath.Clean(src)]; e != nil && e.staged != "" {
		return &blobRec{size: e.alloc, complete: true, served: e.staged}, e.staged, nil
	}
	dir, hex := filepath.Split(src)
	dg := digest.NewDigestFromEncoded(digest.SHA256, hex)
	b, ok := d.blobs[dg]
	if filepath.Clean(dir) != filepath.Join(layout.BlobsPath(d.root), "sha256") || !ok || !b.complete {
		return nil, "", &fs.PathError{Op: "open", Path: src, Err: fs.ErrNotExist}
	}
	return b, dg, nil
}

// sound is the content blob at src a volume is made from, with its size
// and virtual size, by the qemu craft's rules: complete in the blob
// directory, sound, no larger than the volume's size. The caller holds
// d.mu; what names the error's subject is what.
func (d *Device) sound(what, src string, size int64) (o Object, dg digest.Digest, vs int64, err error) {
	if err := d.alive(); err != nil {
		return o, "", 0, err
	}
	b, dg, err := d.content(src)
	if err != nil {
		return o, "", 0, fmt.Errorf("%s: %w", what, err)
	}
	o, ok := d.world.object(b.served)
	if !ok || o.Broken {
		return o, "", 0, fmt.Errorf("%s: %w", what, diskimage.ErrRefused)
	}
	vs = o.VirtualSize
	if vs == 0 {
		vs = o.Size
	}
	if size > 0 && vs > size {
		return o, "", 0, fmt.Errorf("%s: content virtual size %d exceeds the volume's maxsizebytes %d: %w", what, vs, size, diskimage.ErrRefused)
	}
	return o, dg, vs, nil
}

func (v volumes) CreateFrom(ctx context.Context, final string, format materials.Format, src string, srcFormat materials.Format, size int64, progress func(done, known int64)) error {
	if format != materials.FormatRaw && format != materials.FormatQcow2 {
		return fmt.Errorf("create volume %s from %s: format %q: want raw or qcow2", final, src, format)
	}
	d := v.d
	d.mu.Lock()
	defer d.mu.Unlock()
	o, _, vs, err := d.sound("create volume "+final+" from "+src, src, size)
	if err != nil {
		return err
	}
	if err := d.put(final, &entry{format: format, virtual: max(vs, size), alloc: o.Size}); err != nil {
		return err
	}
	if progress != nil {
		progress(vs, vs)
	}
	return nil
}

// CreateOverlay makes a space overlay on a blob of the blob directory or
// of containerd's content directory, by the qemu craft's rules: the blob must be complete and sound content of
// a raw or qcow2 format, no larger than the volume.
func (v volumes) CreateOverlay(ctx context.Context, final, backing, backingName string, backingFormat materials.Format, size int64) error {
	if backingFormat != materials.FormatRaw && backingFormat != materials.FormatQcow2 {
		return fmt.Errorf("create overlay volume %s on %s: backing format %q: want raw or qcow2: %w", final, backing, backingFormat, diskimage.ErrRefused)
	}
	if backingName == "" {
		return fmt.Errorf("create overlay volume %s on %s: no backing name", final, backing)
	}
	d := v.d
	d.mu.Lock()
	defer d.mu.Unlock()
	_, dg, vs, err := d.sound("create overlay volume "+final+" on "+backing, backing, size)
	if err != nil {
		return err
	}
	if e := d.entries[filepath.Clean(backing)]; e != nil && e.staged != "" {
		// A staged copy goes when the build ends: no backing file.
		return fmt.Errorf("create overlay volume %s on %s: a staged copy is no backing file", final, backing)
	}
	_, ctr := d.ctrName(backing)
	return d.put(final, &entry{format: materials.FormatQcow2, virtual: max(vs, size), alloc: overlayAlloc,
		backing: dg, backingName: backingName, backingFormat: backingFormat, backingCtr: ctr})
}

func (v volumes) Resize(ctx context.Context, p string, format materials.Format, size int64) error {
	d := v.d
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.fileEntry("resize volume", p)
	if err != nil {
		return err
	}
	if e.planted != nil {
		e.format, e.planted = e.planted.Format, nil
	}
	e.virtual = max(e.virtual, size)
	return nil
}

func (v volumes) Delete(ctx context.Context, p string) error { return v.d.RemoveAll(p) }

// Adopt renames a volume (and what is below it) into place.
func (v volumes) Adopt(ctx context.Context, from, to string) error {
	d := v.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return err
	}
	from, to = filepath.Clean(from), filepath.Clean(to)
	if _, ok := d.entries[to]; ok {
		return fmt.Errorf("adopt %s: %s already exists", from, to)
	}
	if _, ok := d.entries[from]; !ok {
		return fmt.Errorf("adopt %s: %w", from, fs.ErrNotExist)
	}
	if err := d.mkdirAll(filepath.Dir(to)); err != nil {
		return err
	}
	for p, e := range d.entries {
		if p == from || strings.HasPrefix(p, from+string(filepath.Separator)) {
			delete(d.entries, p)
			if e.planted != nil {
				// Moved into the new layout: what the name now says counts.
				e.format, e.virtual, e.planted = e.planted.Format, e.planted.VirtualSize, nil
			}
			d.entries[to+strings.TrimPrefix(p, from)] = e
		}
	}
	return nil
}

// CreateContainer makes a container volume's directory once every blob
// of its tree is in the store, as the unpack needs them.
func (v volumes) CreateContainer(ctx context.Context, final string, vol materials.Volume, ct materials.ContentTree, store device.BlobStore) error {
	d := v.d
	top := ct.Digest()
	var layers int64
	missing, err := d.walkTree(ctx, store, top, func(o Object) { layers += o.Size })
	if err != nil {
		return fmt.Errorf("create container volume %s: %w", vol.Key(), err)
	}
	if missing != "" {
		return fmt.Errorf("create container volume %s: blob %s of content tree %s is not in the store", vol.Key(), missing, ct.ID)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.put(final, &entry{dir: true, format: materials.FormatContainer, alloc: layers})
}

// walkTree visits a tree's blobs this platform uses (an index's followed
// manifest, a manifest's children), returning the first one missing.
func (d *Device) walkTree(ctx context.Context, store device.BlobStore, top digest.Digest, visit func(Object)) (digest.Digest, error) {
	queue := []digest.Digest{top}
	for len(queue) > 0 {
		dg := queue[0]
		queue = queue[1:]
		ok, _, err := store.Has(ctx, dg)
		if err != nil {
			return "", err
		}
		if !ok {
			return dg, nil
		}
		o, _ := d.world.object(dg)
		switch {
		case o.Follow != nil:
			queue = append(queue, o.Follow.Digest)
		case len(o.Children) > 0:
			queue = append(queue, o.Children...)
		default:
			visit(o)
		}
	}
	return "", nil
}

// fileEntry is the volume file entry at p for op, on a live device. The
// caller holds d.mu.
func (d *Device) fileEntry(op, p string) (*entry, error) {
	if err := d.alive(); err != nil {
		return nil, err
	}
	e, ok := d.entries[filepath.Clean(p)]
	if !ok || e.dir {
		return nil, fmt.Errorf("%s %s: %w", op, p, fs.ErrNotExist)
	}
	return e, nil
}
