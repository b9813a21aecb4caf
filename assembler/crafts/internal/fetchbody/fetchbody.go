// Package fetchbody is the part every datastore fetcher shares once a
// body is open: the bound on its size, and the copy into an ingest that
// stops one byte past that bound and reports progress.
package fetchbody

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/edgewright/edgewright/device"
)

// Limit is the smallest bound on a body: the content tree's
// maxSizeBytes, the blob's descriptor size, or the free space after what
// the partial already holds. Bytes is 0 when nothing bounds it.
type Limit struct {
	Bytes int64
	From  string // "maxSizeBytes", "descriptor size", "free space"
}

// LimitFor is the bound of req's body for an ingest at offset.
func LimitFor(req device.FetchRequest, offset int64) Limit {
	var l Limit
	consider := func(b int64, from string) {
		if b > 0 && (l.Bytes == 0 || b < l.Bytes) {
			l = Limit{b, from}
		}
	}
	if m := req.ContentTree.MaxSizeBytes; m > 0 && m <= math.MaxInt64 {
		consider(int64(m), "maxSizeBytes")
	}
	consider(req.Blob.Size, "descriptor size")
	if req.FreeBytes > 0 {
		consider(offset+req.FreeBytes, "free space")
	}
	return l
}

// MaxOffset is the longest partial a resume may keep: a longer one is not
// this body's prefix (maxSizeBytes and the descriptor bound the body, the
// free space does not).
func MaxOffset(req device.FetchRequest) int64 {
	return LimitFor(device.FetchRequest{ContentTree: req.ContentTree, Blob: req.Blob}, 0).Bytes
}

// TooLarge discards the partial (the same source would send the same
// body again) and says what was refused. got is the declared length when
// declared, else the bytes read.
func (l Limit) TooLarge(req device.FetchRequest, dst device.Ingest, where string, got int64, declared bool) error {
	_ = dst.Truncate()
	return &device.TooLargeError{Blob: req.Blob, URL: where, Bound: l.Bytes, From: l.From, Got: got, Declared: declared}
}

// Copy reads src into dst, which holds done bytes already, until EOF.
// known is the body's full length when the source declared it (0 when
// not). A read error is device.Retryable (a dropped link), a write error
// terminal, a body past the bound a *device.TooLargeError, and a body
// that ends before known a retryable io.ErrUnexpectedEOF. It returns the
// bytes the ingest holds.
func (l Limit) Copy(ctx context.Context, req device.FetchRequest, dst device.Ingest, src io.Reader, where string, done, known int64, progress func(done, known int64)) (int64, error) {
	if l.Bytes > 0 && known > l.Bytes {
		return done, l.TooLarge(req, dst, where, known, true)
	}
	progress(done, known)
	buf := make([]byte, 256<<10)
	for {
		room := int64(len(buf))
		if l.Bytes > 0 {
			// One byte past the bound tells a body that is too long.
			room = min(room, l.Bytes-done+1)
		}
		n, rerr := src.Read(buf[:room])
		if l.Bytes > 0 && done+int64(n) > l.Bytes {
			return done, l.TooLarge(req, dst, where, done+int64(n), false)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return done, fmt.Errorf("fetch %s: write ingest: %w", where, werr)
			}
			done += int64(n)
			progress(done, max(known, done))
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return done, ctx.Err()
			}
			return done, device.Retryable(fmt.Errorf("fetch %s: read at byte %d: %w", where, done, rerr))
		}
	}
	if known > 0 && done < known {
		return done, device.Retryable(fmt.Errorf("fetch %s: body ended at byte %d of %d: %w", where, done, known, io.ErrUnexpectedEOF))
	}
	return done, nil
}
