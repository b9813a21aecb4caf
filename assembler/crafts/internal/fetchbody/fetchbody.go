// Package fetchbody is the part every datastore fetcher shares around a
// body: where a resume starts, the bound on the body's size, and the copy
// into an ingest that stops one byte past that bound and reports progress.
package fetchbody

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/edgewright/edgewright/device"
)

// Limit is the bound on a body (device.Limit: the rule is the device's,
// so the in-memory device bounds by it too), with the refusal and the
// bounded copy a fetcher needs.
type Limit device.Limit

// LimitFor is the bound of req's body for an ingest at offset.
func LimitFor(req device.FetchRequest, offset int64) Limit { return Limit(req.Limit(offset)) }

// Resume is where a fetch into dst starts, the source's size not yet
// known: the ingest's offset, or 0 after dropping a partial longer than
// any body of req may be (device.FetchRequest.ResumeFrom): it is not this
// body's prefix.
func Resume(req device.FetchRequest, dst device.Ingest) (int64, error) {
	return ResumeWithin(req, dst, -1)
}

// ResumeWithin is Resume for a source whose size is known (size >= 0):
// a partial longer than the source is dropped too.
func ResumeWithin(req device.FetchRequest, dst device.Ingest, size int64) (int64, error) {
	offset := dst.Offset()
	if req.ResumeFrom(offset, size) != offset {
		if err := dst.Truncate(); err != nil {
			return 0, err
		}
		offset = 0
	}
	return offset, nil
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
//
// progress hears (bytes in the ingest, the total) as device.Fetcher's
// contract says: the total is 0 while the source declared no length,
// else the declared length, raised to the bytes written when a body runs
// past it (so known is never below done). A body longer than declared is
// not refused here: the caller decides (the digest decides at Commit).
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
			progress(done, reportedTotal(done, known))
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

// reportedTotal is the total progress reports after done bytes of a body
// that declared known (0: no length declared, and that is what is told).
func reportedTotal(done, known int64) int64 {
	if known == 0 {
		return 0
	}
	return max(known, done)
}

// ParseContentRange reads a Content-Range header, "bytes start-end/total" (total may be "*").
func ParseContentRange(s string) (start, total int64, ok bool) {
	s, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, false
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, total, true
}
