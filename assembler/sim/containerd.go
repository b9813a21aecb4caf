package sim

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// ctrState is containerd's content store as the device holds it: blobs
// (committed, or partial ingests), a lease per content tree being
// written, and image records. Its collector keeps only what a lease or
// an image record reaches, as containerd's garbage collector does; an
// overlay naming a blob's file is no reference containerd knows.
type ctrState struct {
	// dir is containerd's content directory as the device knows it; ""
	// when it does not (blobs then have no file, Path is "").
	dir    string
	blobs  map[digest.Digest]*blobRec
	leases map[string]map[digest.Digest]bool // content tree id -> blobs
	// leaseAt is when each tree's lease was made.
	leaseAt map[string]time.Time
	images  map[string]*ctrImage
}

// ctrImage is one image record edgewright wrote (Seal).
type ctrImage struct {
	target    digest.Digest
	mediaType string
	tree      string
	created   time.Time
	updated   time.Time
}

func newCtrState(dir string) *ctrState {
	if dir != "" {
		dir = filepath.Clean(dir)
	}
	return &ctrState{dir: dir, blobs: map[digest.Digest]*blobRec{}, leases: map[string]map[digest.Digest]bool{},
		leaseAt: map[string]time.Time{}, images: map[string]*ctrImage{}}
}

// octetStream is the media type of a single-blob tree's image record (a
// VM disk image), as the containerd craft writes it.
const octetStream = "application/octet-stream"

// ctrStore is the device's containerd content store: a device.TreeStore
// and ImageDeleter with the containerd craft's rules (ingests inside
// the tree's lease, sealed into `<tree id>-<URL>` once whole).
type ctrStore struct{ blobMap }

func (d *Device) containerdStore() ctrStore { return ctrStore{blobMap{d: d, ctr: true}} }

var (
	_ device.TreeStore    = ctrStore{}
	_ device.ImageDeleter = ctrStore{}
	_ device.Checker      = ctrStore{}
)

// Ingest refuses as the containerd craft does: an ingest belongs to a
// content tree's lease.
func (s ctrStore) Ingest(ctx context.Context, b materials.Blob) (device.Ingest, error) {
	return nil, device.Terminal("containerd ingest of %s: no content tree given (use IngestFor)", b.Digest)
}

// IngestFor opens b's ingest inside ct's lease; a committed blob is held
// for ct instead.
func (s ctrStore) IngestFor(ctx context.Context, ct materials.ContentTree, b materials.Blob) (device.Ingest, error) {
	return s.ingest(b, func() { s.d.ctr.hold(ct.ID, b.Digest, s.d.now()) })
}

func (c *ctrState) hold(tree string, dg digest.Digest, now time.Time) {
	if c.leases[tree] == nil {
		c.leases[tree] = map[digest.Digest]bool{}
		c.leaseAt[tree] = now
	}
	c.leases[tree][dg] = true
}

// Hold adds a present blob to ct's lease.
func (s ctrStore) Hold(ctx context.Context, ct materials.ContentTree, dg digest.Digest) error {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return err
	}
	d.ctr.hold(ct.ID, dg, d.now())
	return nil
}

// Seal names a whole tree with its image record and drops its lease; the
// collector then runs, as containerd's does when a lease goes.
func (s ctrStore) Seal(ctx context.Context, ct materials.ContentTree, top digest.Digest) (bool, error) {
	missing, err := s.d.walkTree(ctx, s, top, func(Object) {})
	if err != nil || missing != "" {
		return false, err
	}
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return false, err
	}
	mt := octetStream
	if o, ok := d.world.object(top); ok && o.MediaType != "" {
		mt = o.MediaType
	}
	name := ct.ID + "-" + ct.URL
	now := d.now()
	if im := d.ctr.images[name]; im != nil {
		if im.target != top || im.mediaType != mt {
			im.target, im.mediaType, im.updated = top, mt, now
		}
	} else {
		d.ctr.images[name] = &ctrImage{target: top, mediaType: mt, tree: ct.ID, created: now, updated: now}
	}
	delete(d.ctr.leases, ct.ID)
	d.collectLocked()
	return true, nil
}

// DeleteImage deletes an image record and its tree's lease, and the
// collector runs before it returns (the containerd craft deletes
// synchronously).
func (s ctrStore) DeleteImage(ctx context.Context, name string) error {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return err
	}
	im := d.ctr.images[name]
	if im == nil {
		return nil
	}
	delete(d.ctr.images, name)
	delete(d.ctr.leases, im.tree)
	d.collectLocked()
	return nil
}

// DeleteLease deletes a tree's lease by id (layout.LeaseID), and the
// collector runs before it returns; one already gone is no error.
func (s ctrStore) DeleteLease(ctx context.Context, id string) error {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return err
	}
	tree, ok := strings.CutPrefix(id, layout.LeaseID(""))
	if !ok {
		return device.Terminal("lease %s: not edgewright's", id)
	}
	delete(d.ctr.leases, tree)
	d.collectLocked()
	return nil
}

// collectLocked is containerd's garbage collector: every blob no lease
// holds and no image record reaches (its target, an index's manifests, a
// manifest's config and layers) goes. The caller holds d.mu.
func (d *Device) collectLocked() {
	live := map[digest.Digest]bool{}
	for _, l := range d.ctr.leases {
		for dg := range l {
			live[dg] = true
		}
	}
	for _, im := range d.ctr.images {
		for _, dg := range d.reachLocked(im.target) {
			live[dg] = true
		}
	}
	for dg, b := range d.ctr.blobs {
		if !live[dg] {
			d.release(max(b.size, b.offset))
			delete(d.ctr.blobs, dg)
		}
	}
}

// reachLocked is every digest reachable from top (top too, and what is
// named but not in the store), sorted, as the containerd survey lists an
// image record's blobs: by what the World says of each committed blob
// (an index's manifests, a manifest's config and layers). The caller
// holds d.mu.
func (d *Device) reachLocked(top digest.Digest) []digest.Digest {
	seen := map[digest.Digest]bool{}
	queue := []digest.Digest{top}
	for len(queue) > 0 {
		dg := queue[0]
		queue = queue[1:]
		if seen[dg] {
			continue
		}
		seen[dg] = true
		if b, ok := d.ctr.blobs[dg]; ok && b.complete && b.served == dg {
			if o, ok := d.world.object(dg); ok {
				queue = append(queue, o.Children...)
			}
		}
	}
	out := make([]digest.Digest, 0, len(seen))
	for dg := range seen {
		out = append(out, dg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Path is the blob's file in the content directory, "" when the device
// does not know the directory or the blob is not committed.
func (s ctrStore) Path(dg digest.Digest) string {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if b, ok := d.ctr.blobs[dg]; !ok || !b.complete || d.ctr.dir == "" {
		return ""
	}
	p, err := layout.ContainerdBackingName(d.ctr.dir, dg)
	if err != nil {
		return ""
	}
	return filepath.FromSlash(p)
}

// ctrBlobLocked is dg complete in containerd's store, nil when not.
// The caller holds d.mu.
func (d *Device) ctrBlobLocked(dg digest.Digest) *blobRec {
	if d.ctr == nil {
		return nil
	}
	if b := d.ctr.blobs[dg]; b != nil && b.complete {
		return b
	}
	return nil
}

// ctrName is the blob a file name of containerd's content directory
// names, as the inspector resolves it against the directory it was
// given; ok is false for any other name.
func (d *Device) ctrName(name string) (digest.Digest, bool) {
	if d.ctr == nil || d.ctr.dir == "" {
		return "", false
	}
	return layout.ParseContainerdBackingName(d.ctr.dir, filepath.ToSlash(filepath.Clean(name)))
}

// ctrSurvey is what the inspector's containerd survey reports: each
// blob (labelled as edgewright's) and each image record with the blobs
// it reaches. The caller holds d.mu.
func (d *Device) ctrSurvey(fp *materials.Floorplan) {
	if d.ctr == nil {
		return
	}
	for dg, b := range d.ctr.blobs {
		r := materials.BlobRecord{Digest: dg, Store: materials.BlobStoreContainerd, CreatedAt: b.mod, UpdatedAt: b.mod}
		if !b.complete {
			r.State, r.Reason, r.Offset = materials.StatePartial, "partial ingest", b.offset
			r.Ref = layout.IngestRef(dg)
		} else {
			r.State, r.Size = materials.StateComplete, b.size
			r.Labels = map[string]string{layout.OwnerLabel: layout.OwnerValue}
			if o, ok := d.world.object(b.served); ok && b.served == dg {
				r.MediaType, r.Children, r.ChildBlobs = o.MediaType, o.Children, o.ChildBlobs
			}
		}
		fp.Blobs = append(fp.Blobs, r)
	}
	fp.Leases = d.leasesLocked()
	names := make([]string, 0, len(d.ctr.images))
	for n := range d.ctr.images {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		im := d.ctr.images[n]
		fp.Images = append(fp.Images, materials.ImageRecord{Name: n, Target: im.target, MediaType: im.mediaType,
			Labels: map[string]string{layout.OwnerLabel: layout.OwnerValue, layout.ContentTreeLabel: im.tree},
			Blobs:  d.reachLocked(im.target), CreatedAt: im.created, UpdatedAt: im.updated})
	}
}

// leasesLocked are the trees' leases as the survey lists them, by id.
func (d *Device) leasesLocked() []materials.LeaseRecord {
	var out []materials.LeaseRecord
	for tree, blobs := range d.ctr.leases {
		l := materials.LeaseRecord{ID: layout.LeaseID(tree), CreatedAt: d.ctr.leaseAt[tree],
			Labels: map[string]string{layout.OwnerLabel: layout.OwnerValue, layout.ContentTreeLabel: tree}}
		for dg := range blobs {
			l.Blobs = append(l.Blobs, dg)
		}
		slices.Sort(l.Blobs)
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
