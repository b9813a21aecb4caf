package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// blobMap is what the device's two stores share: blob records by digest
// (the blob directory's, or containerd's when ctr) and how they are asked
// for and deleted. It is comparable, as the executor compares stores.
type blobMap struct {
	d   *Device
	ctr bool
}

// records is the store's map.
func (s blobMap) records() map[digest.Digest]*blobRec {
	if s.ctr {
		return s.d.ctr.blobs
	}
	return s.d.blobs
}

func (s blobMap) Has(ctx context.Context, dg digest.Digest) (bool, int64, error) {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return false, 0, err
	}
	if b, ok := s.records()[dg]; ok && b.complete {
		return true, b.size, nil
	}
	return false, 0, nil
}

// Open reads nothing: the sim holds no bytes. The executor verifies
// through Check instead.
func (s blobMap) Open(ctx context.Context, dg digest.Digest) (io.ReadCloser, error) {
	if ok, _, err := s.Has(ctx, dg); err != nil || !ok {
		return nil, errors.Join(err, fmt.Errorf("open blob %s: not present", dg))
	}
	return io.NopCloser(strings.NewReader("")), nil
}

// Check says what the blob's bytes hash to: what its source served, or a
// damage planted by Damage.
func (s blobMap) Check(ctx context.Context, dg digest.Digest) (int64, digest.Digest, error) {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return 0, "", err
	}
	b, ok := s.records()[dg]
	if !ok || !b.complete {
		return 0, "", fmt.Errorf("check blob %s: not present", dg)
	}
	return b.size, b.served, nil
}

// Delete removes the blob and any partial of it (every blob of the sim's
// containerd store is edgewright's).
func (s blobMap) Delete(ctx context.Context, dg digest.Digest) error {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return err
	}
	if b, ok := s.records()[dg]; ok {
		d.release(max(b.size, b.offset))
		delete(s.records(), dg)
	}
	return nil
}

// blobStore is the device's blob directory.
type blobStore struct{ blobMap }

func (d *Device) dirStore() blobStore { return blobStore{blobMap{d: d}} }

var (
	_ device.BlobStore = blobStore{}
	_ device.Checker   = blobStore{}
)

// Ingest opens b's partial (made empty when there is none), as the blob
// directory opens its ingest file.
func (s blobStore) Ingest(ctx context.Context, b materials.Blob) (device.Ingest, error) {
	return s.ingest(b, nil)
}

// ingest opens b's partial in the store's map (made empty when there is
// none), after calling hold, under the device's lock, for a blob there
// or not; a complete blob is device.ErrAlreadyPresent.
func (s blobMap) ingest(b materials.Blob, hold func()) (device.Ingest, error) {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return nil, err
	}
	if err := b.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("ingest %s: %w", b.Digest, err)
	}
	if hold != nil {
		hold()
	}
	rec, ok := s.records()[b.Digest]
	if ok && rec.complete {
		return nil, device.ErrAlreadyPresent
	}
	if !ok {
		rec = &blobRec{mod: d.now()}
		s.records()[b.Digest] = rec
	}
	rec.planted = nil // written from now on: reported as it is
	return &ingest{d: d, want: b.Digest, rec: rec, store: s.records()}, nil
}

func (s blobStore) Path(dg digest.Digest) string {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if b, ok := d.blobs[dg]; !ok || !b.complete {
		return ""
	}
	return blobPath(d.root, dg)
}

func blobPath(root string, dg digest.Digest) string {
	return filepath.Join(layout.BlobsPath(root), "sha256", dg.Encoded())
}

// ingest is a resumable write into the blob directory. The sim's fetcher
// fills it with what a datastore serves; bytes written directly count,
// but their digest is unknown and fails the commit.
type ingest struct {
	d    *Device
	want digest.Digest
	rec  *blobRec
	// store is the map of the store the ingest writes to (the blob
	// directory's or containerd's).
	store map[digest.Digest]*blobRec
	done  bool
}

func (in *ingest) Offset() int64 {
	in.d.mu.Lock()
	defer in.d.mu.Unlock()
	return in.rec.offset
}

func (in *ingest) Write(p []byte) (int, error) {
	d := in.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return 0, err
	}
	if err := d.reserve(int64(len(p))); err != nil {
		return 0, err
	}
	in.rec.offset += int64(len(p))
	in.rec.served = ""
	return len(p), nil
}

// fill writes o's bytes from the offset on, up to the disk's capacity.
// fill writes the rest of o; share is the part of the bytes written
// that came over the network (below 1 for a chunked download), which the
// device counts as downloaded.
func (in *ingest) fill(o Object, share float64) (int64, error) {
	d := in.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return 0, err
	}
	if in.rec.offset > 0 && in.rec.served != o.Digest {
		// A partial of other bytes: the commit's hash would tell.
		in.rec.served = ""
	} else {
		in.rec.served = o.Digest
	}
	if n, cut, err := in.cutLocked(o, share); cut {
		return n, err
	}
	n := o.Size - in.rec.offset
	if room := d.free(); n > room {
		d.reserve(room)
		in.rec.offset += room
		d.downloaded += int64(float64(room) * share)
		return room, fmt.Errorf("write ingest %s: %w", in.want, errNoSpace)
	}
	d.reserve(n)
	in.rec.offset += n
	d.downloaded += int64(float64(n) * share)
	return n, nil
}

func (in *ingest) Truncate() error {
	d := in.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return err
	}
	d.release(in.rec.offset)
	in.rec.offset, in.rec.served = 0, ""
	return nil
}

func (in *ingest) Commit(ctx context.Context, expectedSize int64) error {
	d := in.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return err
	}
	if in.done {
		return errors.New("ingest already closed")
	}
	in.done = true
	got := in.rec.served
	if got != in.want || (expectedSize > 0 && in.rec.offset != expectedSize) {
		in.discardLocked()
		if got == in.want {
			return &device.DigestMismatchError{Want: fmt.Sprintf("%s (%d bytes)", in.want, expectedSize), Got: fmt.Sprintf("%s (%d bytes)", got, in.rec.offset)}
		}
		return &device.DigestMismatchError{Want: string(in.want), Got: string(got)}
	}
	in.rec.complete, in.rec.size, in.rec.offset, in.rec.mod = true, in.rec.offset, 0, d.now()
	return nil
}

func (in *ingest) discardLocked() {
	d := in.d
	if in.store[in.want] == in.rec {
		d.release(in.rec.offset)
		delete(in.store, in.want)
	}
}

// Abort drops the partial: nothing will resume it.
func (in *ingest) Abort() error {
	d := in.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.alive(); err != nil {
		return err
	}
	if !in.done {
		in.done = true
		in.discardLocked()
	}
	return nil
}

// Close keeps the partial for a resume.
func (in *ingest) Close() error {
	in.done = true
	return nil
}
