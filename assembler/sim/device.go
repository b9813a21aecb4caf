package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// ErrCrashed: the device crashed (Crash) and has not been rebooted; every
// operation of the session that was running fails with it and writes
// nothing, as a killed process writes nothing more.
var ErrCrashed = errors.New("sim: the device crashed")

// Options shape a Device.
type Options struct {
	// Root names the device's root in paths ("/sim" when empty).
	Root string
	// CapacityBytes is the disk's size; 0 means 1 TiB.
	CapacityBytes int64
	// Clock is the device's time (shared with the foreman and assembler);
	// a fixed 2026-01-01 clock when nil.
	Clock func() time.Time
	// HistoryLimit bounds the journal's finished-remodel history as
	// journal.Options.HistoryLimit does (4096 when 0); a fleet simulator
	// keeps it small.
	HistoryLimit int
	// Containerd models containerd's content store beside the blob
	// directory, as a device whose downloads go to containerd (wright
	// apply --containerd): blobs inside each content tree's lease, sealed
	// into an image record once the tree is whole, taken by containerd's
	// collector once no lease or image record reaches them.
	Containerd bool
	// ContainerdContentDir is containerd's content directory as the
	// device knows it (wright's --containerd-content): its blobs are
	// files there, a space overlay is backed by one named by its
	// absolute path, and Options tells the executor so (space overlays
	// planned, foreman.Options.ContentDirKnown). Empty: the blobs have
	// no file, a volume is made from a staged copy and space falls back
	// to a copy. Setting it implies Containerd.
	ContainerdContentDir string
}

// entry is one file or directory under the root.
type entry struct {
	dir     bool
	format  materials.Format
	virtual int64
	alloc   int64
	mod     time.Time
	// planted is a file placed by Load or PlantVolume: the survey
	// reports it as given (a legacy name, a broken header, junk).
	planted *materials.VolumeFile
	// snaps are the volume's snapshots (snapshots.go).
	snaps []snap
	// backing is the blob a space overlay reads through, spelled
	// backingName in its header, of format backingFormat.
	backing       digest.Digest
	backingName   string
	backingFormat materials.Format
	// backingCtr: the backing blob is containerd's, not the blob
	// directory's.
	backingCtr bool
	// staged is the blob a Stage copy holds.
	staged digest.Digest
}

// blobRec is one blob of the blob directory: complete, or a partial
// ingest at offset with the digest of what is being written.
type blobRec struct {
	size     int64
	offset   int64
	complete bool
	served   digest.Digest
	mod      time.Time
	// planted is a record placed by Load, reported as given until the
	// blob is written, committed or deleted.
	planted *materials.BlobRecord
}

// Device is one simulated device. Its methods are safe for concurrent use.
type Device struct {
	world    *World
	root     string
	capacity int64
	now      func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
	blobs   map[digest.Digest]*blobRec
	// ctr is containerd's content store; nil when not modelled.
	ctr     *ctrState
	journal *journalState
	planted []materials.VolumeFile
	locked  bool
	crashed bool
	used    int64
	// downloaded is the bytes this device has received; written the
	// bytes it has written (downloads and volumes); peak the most disk
	// it has used.
	downloaded, written, peak int64
	historyLimit              int
	// cuts are the downloads to interrupt (CutFetch).
	cuts map[digest.Digest]cut
}

// New is an empty device in world w.
func New(w *World, opts Options) *Device {
	if opts.Root == "" {
		opts.Root = "/sim"
	}
	if opts.CapacityBytes <= 0 {
		opts.CapacityBytes = 1 << 40
	}
	if opts.Clock == nil {
		t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		opts.Clock = func() time.Time { return t }
	}
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = historyLimit
	}
	d := &Device{world: w, root: opts.Root, capacity: opts.CapacityBytes, now: opts.Clock, historyLimit: opts.HistoryLimit,
		entries: map[string]*entry{}, blobs: map[digest.Digest]*blobRec{}, journal: newJournalState()}
	if opts.Containerd || opts.ContainerdContentDir != "" {
		d.ctr = newCtrState(opts.ContainerdContentDir)
	}
	return d
}

// Root is the device's root in paths.
func (d *Device) Root() string { return d.root }

// Crash stops the device as kill -9 stops the assembler: what was
// written stays, and nothing more is written until Reboot.
func (d *Device) Crash() {
	d.mu.Lock()
	d.crashed = true
	d.mu.Unlock()
}

// Reboot brings a crashed device back: its lock is free again.
func (d *Device) Reboot() {
	d.mu.Lock()
	d.crashed, d.locked = false, false
	d.mu.Unlock()
}

// Downloaded is the bytes the device has received from datastores.
func (d *Device) Downloaded() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.downloaded
}

// Written is the bytes the device has written to disk: downloads and the
// volumes made.
func (d *Device) Written() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.written
}

// PeakUsedBytes is the most disk the device's blobs and volumes have
// taken at once, and CapacityBytes its disk's size.
func (d *Device) PeakUsedBytes() (peak, capacity int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.peak, d.capacity
}

// UsedBytes is the disk the device's blobs and volumes take.
func (d *Device) UsedBytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.used
}

// alive refuses work after a crash. The caller holds d.mu.
func (d *Device) alive() error {
	if d.crashed {
		return ErrCrashed
	}
	return nil
}

// reserve takes n bytes of disk, or fails as a full disk does. The caller
// holds d.mu.
func (d *Device) reserve(n int64) error {
	if n > 0 && d.used+n > d.capacity {
		return fmt.Errorf("sim: %d bytes more, %d of %d used: %w", n, d.used, d.capacity, errNoSpace)
	}
	d.used += n
	d.written += max(n, 0)
	d.peak = max(d.peak, d.used)
	return nil
}

func (d *Device) release(n int64) { d.used = max(0, d.used-n) }

func (d *Device) free() int64 { return max(0, d.capacity-d.used) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// sameBlueprint is the journal's "same Blueprint again": equal JSON.
func sameBlueprint(a, b *materials.Blueprint) bool {
	if a == b || reflect.DeepEqual(a, b) {
		return true
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// sleep waits a moment for a lock, bounded by ctx.
func sleep(ctx context.Context) error {
	t := time.NewTimer(10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
