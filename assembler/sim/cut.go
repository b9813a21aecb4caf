package sim

import (
	"fmt"
	"syscall"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/device"
)

// cut is a download to interrupt: after this many bytes of the blob.
type cut struct {
	after int64
	crash bool
}

// CutFetch interrupts the next fetch of blob dg after the first `after`
// bytes of it: the link drops (a retryable error) or, with crash, the
// device crashes as on a power loss. Either way what arrived stays as the
// blob's partial ingest, for a resume.
func (d *Device) CutFetch(dg digest.Digest, after int64, crash bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cuts == nil {
		d.cuts = map[digest.Digest]cut{}
	}
	d.cuts[dg] = cut{after: max(0, after), crash: crash}
}

// cutLocked applies a cut of o's fetch, if one is set and falls in what
// is left to write; ok says it did. The caller holds d.mu.
func (in *ingest) cutLocked(o Object, share float64) (n int64, ok bool, err error) {
	d := in.d
	c, set := d.cuts[o.Digest]
	if !set || c.after >= o.Size {
		return 0, false, nil
	}
	delete(d.cuts, o.Digest)
	n = min(max(0, c.after-in.rec.offset), d.free())
	d.reserve(n)
	in.rec.offset += n
	d.downloaded += int64(float64(n) * share)
	if c.crash {
		d.crashed = true
		return n, true, ErrCrashed
	}
	return n, true, device.Retryable(fmt.Errorf("fetch %s: %w after %d bytes", o.Digest, syscall.ECONNRESET, in.rec.offset))
}
