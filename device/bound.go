package device

import "math"

// Limit is the smallest bound on a fetched body: the content tree's
// maxSizeBytes, the blob's descriptor size, or the free space after what
// the partial already holds. Bytes is 0 when nothing bounds it.
type Limit struct {
	Bytes int64
	From  string // "maxSizeBytes", "descriptor size", "free space"
}

// Limit is the bound of the request's body for an ingest at offset: the
// rule every fetcher applies before it writes a byte.
func (r FetchRequest) Limit(offset int64) Limit {
	var l Limit
	consider := func(b int64, from string) {
		if b > 0 && (l.Bytes == 0 || b < l.Bytes) {
			l = Limit{b, from}
		}
	}
	if m := r.ContentTree.MaxSizeBytes; m > 0 && m <= math.MaxInt64 {
		consider(int64(m), "maxSizeBytes")
	}
	consider(r.Blob.Size, "descriptor size")
	if r.FreeBytes > 0 {
		consider(offset+r.FreeBytes, "free space")
	}
	return l
}

// MaxOffset is the longest partial a resume may keep: a longer one is not
// this body's prefix (maxSizeBytes and the descriptor bound the body, the
// free space does not).
func (r FetchRequest) MaxOffset() int64 {
	return FetchRequest{ContentTree: r.ContentTree, Blob: r.Blob}.Limit(0).Bytes
}

// ResumeFrom is where a fetch whose ingest already holds held bytes
// starts: at held, or at 0 when the partial cannot be this body's prefix,
// being longer than any body of the request may be (MaxOffset) or, when
// the source's size is known (size >= 0; -1 when not), longer than the
// source. Every fetcher, the in-memory device's too, resumes by it; the
// caller drops the partial when it says 0 for a held > 0.
func (r FetchRequest) ResumeFrom(held, size int64) int64 {
	if m := r.MaxOffset(); m > 0 && held > m {
		return 0
	}
	if size >= 0 && held > size {
		return 0
	}
	return held
}
