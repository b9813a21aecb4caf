package sim

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

var _ device.VolumeFixer = volumes{}

// The storage check's in-place fixes. The in-memory device holds no
// bytes: a fix makes the entry what its name says, a sound volume of its
// format (the damage, chain and deep-check findings a planted record
// carried are gone), as the real fix leaves a sound file. Like the real
// one, each is atomic (one step under the lock) and idempotent.

// fixEntry rewrites the entry at p by fn. The caller holds no lock.
func (v volumes) fixEntry(op, p string, fn func(e *entry) error) error {
	d := v.d
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.fileEntry(op, p)
	if err != nil {
		return err
	}
	if e.planted != nil {
		if e.planted.Format != "" {
			e.format = e.planted.Format
		}
		e.virtual = max(e.virtual, e.planted.VirtualSize)
		e.planted = nil
	}
	if err := fn(e); err != nil {
		return err
	}
	e.mod = d.now()
	return nil
}

func done(progress func(done, known int64), n int64) {
	if progress != nil {
		progress(n, n)
	}
}

func (v volumes) RepairLeaks(ctx context.Context, p string, progress func(done, known int64)) error {
	return v.fixEntry("repair leaks of", p, func(e *entry) error {
		if e.format != materials.FormatQcow2 {
			return fmt.Errorf("repair leaks of %s: a %s volume has no clusters", p, e.format)
		}
		done(progress, e.alloc)
		return nil
	})
}

func (v volumes) Sparsify(ctx context.Context, p string, progress func(done, known int64)) error {
	return v.fixEntry("sparsify", p, func(e *entry) error {
		done(progress, e.virtual)
		return nil
	})
}

func (v volumes) Flatten(ctx context.Context, p string, chain []device.Link, progress func(done, known int64)) error {
	return v.fixEntry("flatten", p, func(e *entry) error {
		if e.backing != "" {
			// The blob's data is copied in.
			m := v.d.blobs
			if e.backingCtr && v.d.ctr != nil {
				m = v.d.ctr.blobs
			}
			if b, ok := m[e.backing]; ok {
				if err := v.d.reserve(b.size); err != nil {
					return fmt.Errorf("flatten %s: %w", p, err)
				}
				e.alloc += b.size
			}
			e.backing, e.backingName, e.backingFormat, e.backingCtr = "", "", "", false
		}
		done(progress, e.virtual)
		return nil
	})
}

func (v volumes) Merge(ctx context.Context, p string, chain []device.Link, progress func(done, known int64)) error {
	if len(chain) < 2 {
		return fmt.Errorf("merge %s: a chain of %d links has nothing to merge", p, len(chain))
	}
	last := chain[len(chain)-1]
	name, err := filepath.Rel(filepath.Dir(p), last.Path)
	if err != nil {
		return fmt.Errorf("merge %s: %w", p, err)
	}
	return v.fixEntry("merge", p, func(e *entry) error {
		// One link left: the chain's last, a blob of the blob directory.
		e.backing = digest.NewDigestFromEncoded(digest.SHA256, filepath.Base(last.Path))
		e.backingName, e.backingFormat = name, last.Format
		done(progress, e.virtual)
		return nil
	})
}
