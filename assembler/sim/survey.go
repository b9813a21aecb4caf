package sim

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// Crafts are the device's hands, for assembler.Options.Crafts: one
// fetcher for every datastore type it serves, the blob directory, the
// volume and container builders and the tag resolver; with containerd
// modelled, its store is the default one and deletes image records.
func (d *Device) Crafts() device.Crafts {
	f, v := fetcher{d}, volumes{d}
	c := device.Crafts{
		Fetchers: map[materials.DatastoreType]device.Fetcher{
			materials.DatastoreHTTP: f, materials.DatastoreHTTPS: f, materials.DatastoreContainerRegistry: f,
		},
		Stores:       map[materials.BlobStore]device.BlobStore{materials.BlobStoreDir: d.dirStore()},
		DefaultStore: materials.BlobStoreDir,
		Volumes:      v,
		Containers:   v,
		Resolver:     f,
		Snapshots:    snapshots{d},
	}
	if d.ctr != nil {
		c.Stores[materials.BlobStoreContainerd] = d.containerdStore()
		c.DefaultStore = materials.BlobStoreContainerd
		c.Images = d.containerdStore()
		c.Leases = d.containerdStore()
	}
	return c
}

// Survey is the Floorplan the inspector would return for the device: the
// journal's state from j (the session's) or, when nil, the device's own.
func (d *Device) Survey(ctx context.Context, j device.Journal) (*materials.Floorplan, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var js *materials.JournalState
	if j != nil {
		var err error
		if js, err = j.JournalState(ctx); err != nil {
			return nil, fmt.Errorf("sim survey: %w", err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return nil, err
	}
	if js == nil {
		js = d.journal.state()
	}
	fp := &materials.Floorplan{Root: d.root, Journal: js,
		Volumes: make([]materials.VolumeFile, 0, len(d.entries)), Blobs: make([]materials.BlobRecord, 0, len(d.blobs)),
		Images: []materials.ImageRecord{}, Diagnostics: materials.Diagnostics{},
		Space: materials.Space{TotalBytes: uint64(d.capacity), FreeBytes: uint64(d.free())}}
	for p, e := range d.entries {
		if vf, ok := d.volumeFile(p, e); ok {
			fp.Volumes = append(fp.Volumes, vf)
		}
	}
	for dg, b := range d.blobs {
		fp.Blobs = append(fp.Blobs, d.blobRecord(dg, b))
	}
	d.ctrSurvey(fp)
	inspector.Settle(fp)
	return fp, nil
}

// volumeFile is what the inspector reports for an entry in a volumes
// directory; ok is false for entries elsewhere.
func (d *Device) volumeFile(p string, e *entry) (materials.VolumeFile, bool) {
	rel, ok := strings.CutPrefix(p, d.root+"/")
	if !ok {
		return materials.VolumeFile{}, false
	}
	dir := rel[:max(0, strings.LastIndexByte(rel, '/'))]
	if dir != layout.VaultVolumesDir && dir != layout.ClearVolumesDir && dir != layout.LegacyDir {
		return materials.VolumeFile{}, false
	}
	if e.planted != nil {
		vf := *e.planted
		vf.Path = rel
		vf.Snapshots = e.snapshotInfos(rel)
		if len(vf.Backing) > 0 {
			// A backing blob is there or not as the device holds it now
			// (a download brings a missing one back).
			vf.Backing = append([]materials.BackingLink(nil), vf.Backing...)
			for i := range vf.Backing {
				if l := &vf.Backing[i]; l.Blob != "" {
					_, ctr := d.ctrName(l.Name)
					l.Missing = !d.backingPresent(l.Blob, ctr)
				}
			}
		}
		return vf, true
	}
	vf := materials.VolumeFile{Path: rel, ClearText: dir == layout.ClearVolumesDir, ModTime: e.mod, Format: e.format, Dir: e.dir,
		VirtualSize: e.virtual, ApparentSize: e.virtual, AllocatedSize: e.alloc}
	if e.dir {
		vf.Format, vf.VirtualSize, vf.ApparentSize = materials.FormatContainer, e.alloc, e.alloc
	} else if e.format == materials.FormatQcow2 {
		vf.ApparentSize = e.alloc
	}
	vf.Snapshots = e.snapshotInfos(rel)
	broken := d.backingOf(e, &vf)
	n := inspector.ParseVolumeName(rel[len(dir)+1:])
	switch {
	case dir == layout.LegacyDir || n.Reason != "":
		vf.State, vf.Reason = materials.StateUnknown, n.Reason
	case n.Temp:
		vf.ID, vf.Generation, vf.Temp = n.ID, n.Generation, true
		vf.State, vf.Reason = materials.StatePartial, "work in progress (.tmp)"
	case broken != "":
		vf.ID, vf.Generation, vf.State, vf.Reason = n.ID, n.Generation, materials.StateBroken, broken
	default:
		vf.ID, vf.Generation, vf.State = n.ID, n.Generation, materials.StateComplete
	}
	return vf, true
}

// backingOf fills an overlay's backing chain as the inspector reads it:
// one link to its blob, missing when the blob is not complete in its
// store, the blob directory or containerd's content directory (then the
// volume is broken, the reason returned).
func (d *Device) backingOf(e *entry, vf *materials.VolumeFile) string {
	if e.backing == "" {
		return ""
	}
	vf.BackingFile = e.backingName
	l := materials.BackingLink{Name: e.backingName, Blob: e.backing, Format: e.backingFormat}
	if !d.backingPresent(e.backing, e.backingCtr) {
		l.Format, l.Missing = "", true
	}
	vf.Backing = []materials.BackingLink{l}
	if l.Missing {
		return "backing blob " + string(e.backing) + " is missing (fetch it again)"
	}
	return ""
}

// backingPresent says whether an overlay's backing blob is complete in
// its store (containerd's when ctr). The caller holds d.mu.
func (d *Device) backingPresent(dg digest.Digest, ctr bool) bool {
	m := d.blobs
	if ctr {
		if d.ctr == nil {
			return false
		}
		m = d.ctr.blobs
	}
	b, ok := m[dg]
	return ok && b.complete
}

// blobRecord is what the inspector reports for a blob of the directory.
func (d *Device) blobRecord(dg digest.Digest, b *blobRec) materials.BlobRecord {
	if b.planted != nil {
		return *b.planted
	}
	r := materials.BlobRecord{Digest: dg, Store: materials.BlobStoreDir, CreatedAt: b.mod, UpdatedAt: b.mod}
	if !b.complete {
		r.Path = layout.BlobsIngestDir + "/" + dg.Encoded()
		r.State, r.Reason, r.Offset = materials.StatePartial, "partial download", b.offset
		return r
	}
	r.Path = layout.BlobsSHA256Dir + "/" + dg.Encoded()
	r.State, r.Size = materials.StateComplete, b.size
	if o, ok := d.world.object(b.served); ok && b.served == dg {
		r.MediaType, r.Children, r.ChildBlobs = o.MediaType, o.Children, o.ChildBlobs
	}
	return r
}

// Load makes the device hold what fp says (a Floorplan a test or a
// simulator made up): its volume files and directory blobs as given, and
// its journal's state. The files are reported as given until the
// assembler changes them. Blobs of another store are refused.
func (d *Device) Load(fp *materials.Floorplan) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// What was there before counts as neither written nor downloaded.
	defer func(w int64) { d.written = w }(d.written)
	for i := range fp.Volumes {
		vf := fp.Volumes[i]
		if strings.HasPrefix(vf.Path, "/") || strings.Contains(vf.Path, "..") {
			return fmt.Errorf("load volume file %q: path leaves the root", vf.Path)
		}
		p := filepath.Join(d.root, filepath.FromSlash(vf.Path))
		e := &entry{dir: vf.Dir, format: vf.Format, virtual: vf.VirtualSize, alloc: vf.AllocatedSize, planted: &vf}
		if err := d.put(p, e); err != nil {
			return fmt.Errorf("load volume file %q: %w", vf.Path, err)
		}
		e.plantSnapshots(&vf)
		if err := d.reserve(e.snapCharge()); err != nil {
			return fmt.Errorf("load volume file %q: its snapshots: %w", vf.Path, err)
		}
	}
	for i := range fp.Blobs {
		br := fp.Blobs[i]
		if br.Store != materials.BlobStoreDir {
			return fmt.Errorf("load blob %s: store %q: the sim has only the blob directory", br.Digest, br.Store)
		}
		rec := &blobRec{size: br.Size, offset: br.Offset, complete: br.State != materials.StatePartial, served: br.Digest, planted: &br}
		if br.State == materials.StateBroken {
			rec.served = "sha256:damaged"
		}
		if err := d.reserve(max(br.Size, br.Offset)); err != nil {
			return fmt.Errorf("load blob %s: %w", br.Digest, err)
		}
		d.blobs[br.Digest] = rec
	}
	if fp.Journal != nil {
		d.loadJournal(fp.Journal)
	}
	return nil
}

func (d *Device) loadJournal(js *materials.JournalState) {
	s := newJournalState()
	for _, in := range js.InFlight {
		id := in.RemodelID
		if id == "" {
			id = in.Action + ":" + in.Target.String()
		}
		s.intents[id] = journal.Intent{ApplyID: "loaded", RemodelID: id, Action: in.Action, Target: in.Target, StartedAt: in.StartedAt}
	}
	for _, u := range js.Unreferenced {
		s.unreferenced[u.Target] = u.Since
	}
	for _, l := range js.Latches {
		s.latches[latchKey(l.ContentTree, l.Generation)] = l
	}
	for _, u := range js.Usage {
		s.usage[u.Target] = u
	}
	s.lastApplied = js.LastApplied
	d.journal = s
}

// Options are the executor's options with every role of this device set
// (Root, Files, Locker, Journals, Crafts, Survey); the caller adds the
// rest (Clock, Logger, Retry, hooks).
func (d *Device) Options() assembler.Options {
	o := assembler.Options{Root: d.root, Files: d, Locker: d, Journals: d, Crafts: d.Crafts(), Survey: d.Survey}
	if d.ctr != nil {
		o.ContainerdContentDir = d.ctr.dir
	}
	return o
}
