package chunkfetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/internal/dsconn"
	"github.com/edgewright/edgewright/assembler/oci"
	"github.com/edgewright/edgewright/chunks"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// errStoreRefused: the chunk store answered a chunk with a client error
// (404: the store lacks a chunk its index names). Retrying will not help.
var errStoreRefused = errors.New("chunk store refused the chunk")

// IndexSuffix is what a content tree's URL gets for its chunk index.
const IndexSuffix = ".chunks"

// SeedFunc lists the local blobs that may hold chunks of the wanted one,
// best first. The fetcher closes each seed when it is done with it.
type SeedFunc func(ctx context.Context, req device.FetchRequest) []Seed

// Seed is one candidate seed and how to release it.
type Seed struct {
	chunks.Seed
	// Blob is the seed's digest when it is a blob of the blob directory:
	// a scout's offer names it, so the plan can tell the facts are still
	// true. A seed without one makes the scout offer nothing.
	Blob  digest.Digest
	Close func() error
}

// Fetcher downloads VM images chunk by chunk when the datastore has an
// index, else through Whole.
type Fetcher struct {
	// Whole downloads a blob as one file: the fall-back.
	Whole device.Fetcher
	// Seeds lists candidate seeds; nil means none (every chunk is
	// fetched, so the index is of no use and Whole is used).
	Seeds SeedFunc
	// Transport is cloned per datastore (to add its CA certificates);
	// http.DefaultTransport when nil.
	Transport *http.Transport
	Logger    *zap.Logger
	// Parallel is how many chunk fetches run at once (default 8).
	Parallel int
	// MaxIndexBytes bounds the index download (default 64 MiB).
	MaxIndexBytes int64
	// MaxFetchShare: when more than this share of the blob must be
	// fetched, Whole is used, as one stream beats many small requests
	// (DefaultMaxFetchShare when 0).
	MaxFetchShare float64

	// failed remembers blobs whose index lied, so a retry goes whole.
	mu     sync.Mutex
	failed map[string]bool
	// keptKeys and keptVals are the indexes a scout fetched (and their
	// plans), oldest first, for the downloads that follow (scout.go).
	keptKeys []keyOf
	keptVals []kept
}

// DefaultMaxFetchShare is the share of a blob above which fetching its
// chunks does not pay.
const DefaultMaxFetchShare = 0.9

// Stats is what one chunked fetch did, for logs and tests.
type Stats struct {
	ImageSize, FromSeeds, Fetched int64
	Refetches                     int
}

func (f *Fetcher) log() *zap.Logger {
	if f.Logger == nil {
		return zap.NewNop()
	}
	return f.Logger
}

// Chunked reports whether a content tree's format is a VM image, the only
// kind an index is asked for.
func Chunked(fm materials.Format) bool {
	switch fm {
	case materials.FormatRaw, materials.FormatQcow, materials.FormatQcow2, materials.FormatVHD, materials.FormatVMDK, materials.FormatVHDX, materials.FormatISO:
		return true
	}
	return false
}

// Fetch assembles the blob from seeds and chunks when the datastore has a
// usable index, else hands it to Whole.
func (f *Fetcher) Fetch(ctx context.Context, req device.FetchRequest, dst device.Ingest, progress func(done, known int64)) error {
	if f.Whole == nil {
		return fmt.Errorf("chunkfetch: no whole-file fetcher: %w", device.ErrNoCraft)
	}
	if !Chunked(req.ContentTree.Format) || f.Seeds == nil || f.hasFailed(req.Blob) {
		return f.Whole.Fetch(ctx, req, dst, progress)
	}
	st, err := f.fetchChunked(ctx, req, dst, progress)
	var fb *fallback
	if errors.As(err, &fb) {
		lvl := f.log().Warn
		if fb.quiet {
			lvl = f.log().Info
		}
		lvl("chunked download not used, downloading the whole blob", zap.String("digest", string(req.Blob.Digest)), zap.String("reason", fb.reason), zap.Error(fb.err))
		return f.whole(ctx, req, dst, progress, st.Fetched)
	}
	if err == nil {
		f.forget(req.Blob.Digest)
	}
	return err
}

// whole hands the blob to Whole, resuming after what the chunked path
// wrote; its transfer goes on from the before bytes the chunks took, so
// the bytes fetched never go back (a restart from zero counts again what
// it fetches again), and the bytes to fetch become what is left of the
// blob.
func (f *Fetcher) whole(ctx context.Context, req device.FetchRequest, dst device.Ingest, progress func(done, known int64), before int64) error {
	t := req.Transfer
	if t == nil {
		return f.Whole.Fetch(ctx, req, dst, progress)
	}
	req.Transfer = nil
	var mu sync.Mutex
	last, fetched := dst.Offset(), before
	return f.Whole.Fetch(ctx, req, dst, func(done, known int64) {
		progress(done, known)
		mu.Lock()
		if done > last {
			fetched += done - last
		}
		last = done
		got, left := fetched, max(known-done, 0)
		mu.Unlock()
		t(got, got+left)
	})
}

// fallback: the chunked path cannot be used; Whole takes over.
type fallback struct {
	quiet  bool // an expected choice (a first download), not a fault
	reason string
	err    error
}

func (e *fallback) Error() string { return e.reason + ": " + errText(e.err) }
func (e *fallback) Unwrap() error { return e.err }

func errText(err error) string {
	if err == nil {
		return "-"
	}
	return err.Error()
}

func (f *Fetcher) hasFailed(b materials.Blob) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed[string(b.Digest)]
}

func (f *Fetcher) markFailed(b materials.Blob) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropLocked(b.Digest)
	if f.failed == nil {
		f.failed = map[string]bool{}
	}
	f.failed[string(b.Digest)] = true
}

func (f *Fetcher) client(ds materials.Datastore) (*http.Client, error) {
	tr, err := dsconn.Transport(f.Transport, ds)
	if err != nil {
		return nil, err
	}
	// Parallel chunk fetches keep their connections.
	tr.MaxIdleConnsPerHost = max(tr.MaxIdleConnsPerHost, f.parallel())
	return &http.Client{Transport: tr, CheckRedirect: oci.CheckRedirect}, nil
}

func (f *Fetcher) parallel() int {
	if f.Parallel > 0 {
		return f.Parallel
	}
	return 8
}

// get sends one GET with the datastore's credentials (in a header, never
// in the URL; CheckRedirect drops them off the origin).
func get(ctx context.Context, c *http.Client, ds materials.Datastore, u *url.URL, from int64) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if ds.APIKey != "" || ds.Password != "" {
		hreq.SetBasicAuth(ds.APIKey, ds.Password)
	}
	if from > 0 {
		hreq.Header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-")
	}
	return c.Do(hreq)
}

// fetchChunked builds the blob from the seeds and the chunks the store
// serves, each verified, the whole verified in the same pass.
func (f *Fetcher) fetchChunked(ctx context.Context, req device.FetchRequest, dst device.Ingest, progress func(done, known int64)) (Stats, error) {
	var st Stats
	p, err := f.prepare(ctx, req)
	if err != nil {
		return st, err
	}
	defer p.close()
	u, ix, plan := p.u, p.ix, p.plan
	st.ImageSize = ix.ImageSize
	offset, err := startOffset(req, dst, ix, u)
	if err != nil {
		return st, err
	}
	if f.tooLittle(plan) {
		return st, &fallback{quiet: true, reason: fmt.Sprintf("the seeds hold only %d of %d bytes", plan.SeedBytes, ix.ImageSize)}
	}
	f.log().Info("chunked download", zap.String("url", u.Redacted()), zap.String("digest", string(req.Blob.Digest)),
		zap.Int64("size", ix.ImageSize), zap.Int64("fetch", plan.FetchBytes), zap.Int("fetchChunks", plan.FetchChunks),
		zap.Int64("fromSeeds", plan.SeedBytes), zap.Int("seeds", len(p.seeds)), zap.Int64("offset", offset))

	dec, err := chunks.NewChunkDecoder(ix)
	if err != nil {
		return st, err
	}
	defer dec.Close()
	m := &meter{report: req.Transfer}
	m.toFetch, _ = plan.FetchFrom(offset)
	progress(offset, ix.ImageSize)
	m.transfer()
	res, err := chunks.Assemble(ctx, plan, dst, chunks.AssembleOptions{
		Start: offset, Fetch: f.chunkFetch(p, req, dec, m), Parallel: f.parallel(),
		Progress: func(w int64) { progress(w, ix.ImageSize) },
	})
	st.FromSeeds, st.Fetched, st.Refetches = res.FromSeeds, m.fetched.Load(), res.Refetches
	if err != nil {
		return st, f.assembleFailed(ctx, req, dst, u, err)
	}
	m.done()
	f.log().Info("chunked download done", zap.String("digest", string(req.Blob.Digest)), zap.Int64("size", ix.ImageSize),
		zap.Int64("fromSeeds", res.FromSeeds), zap.Int64("fetched", st.Fetched), zap.Int("refetches", res.Refetches))
	return st, nil
}

// startOffset is where the ingest resumes: over the index's image size it
// starts again. The bounds every fetcher applies (maxSizeBytes, the free
// space) hold on the size the index declares, before a byte is written:
// terminal, as the whole download's refusal would be.
func startOffset(req device.FetchRequest, dst device.Ingest, ix *chunks.Index, u *url.URL) (int64, error) {
	offset := dst.Offset()
	if offset > ix.ImageSize {
		if err := dst.Truncate(); err != nil {
			return 0, err
		}
		offset = 0
	}
	if l := req.Limit(offset); l.Bytes > 0 && ix.ImageSize > l.Bytes {
		_ = dst.Truncate()
		return 0, &device.TooLargeError{Blob: req.Blob, URL: u.Redacted(), Bound: l.Bytes, From: l.From, Got: ix.ImageSize, Declared: true}
	}
	return offset, nil
}

// meter counts the bytes the chunk store sent and reports them against
// what the plan fetches. Chunk fetches run in parallel: the count is read
// and reported under one lock, so a report never carries less than one
// made before it.
type meter struct {
	report  func(done, total int64)
	toFetch int64
	fetched atomic.Int64
	mu      sync.Mutex
}

func (m *meter) transfer() { m.send(false) }

// done reports the last count as the whole: a compressed store takes
// less than its chunks' sizes.
func (m *meter) done() { m.send(true) }

func (m *meter) send(whole bool) {
	if m.report == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.fetched.Load()
	if whole {
		m.report(n, n)
		return
	}
	m.report(n, max(m.toFetch, n)) // a refetch adds to both
}

// chunkFetch fetches one chunk from the store beside the index. The
// store is the index's relative path, below the index's directory: Parse
// refuses "..", absolute paths and schemes, so it stays on the
// datastore's origin and under the image's directory.
func (f *Fetcher) chunkFetch(p *prepared, req device.FetchRequest, dec *chunks.ChunkDecoder, m *meter) chunks.FetchFunc {
	su := *p.u
	su.Path = path.Join(path.Dir(p.u.Path), p.ix.Store) + "/"
	return func(ctx context.Context, c chunks.Chunk, attempt int) ([]byte, error) {
		cu := su
		cu.Path += p.ix.ChunkPath(c)
		b, err := fetchChunk(ctx, p.client, req.Datastore, &cu, p.ix.MaxFileSize(c), &m.fetched)
		if err == nil {
			b, err = dec.Decode(c, b)
		}
		if err != nil {
			f.log().Debug("chunk fetch", zap.String("url", cu.Redacted()), zap.Int("attempt", attempt), zap.Error(err))
		}
		m.transfer()
		return b, err
	}
}

// assembleFailed says what a failed assembly means: a lying index or a
// store that keeps sending wrong bytes falls back to the whole download;
// the network is retried, and the retry resumes.
func (f *Fetcher) assembleFailed(ctx context.Context, req device.FetchRequest, dst device.Ingest, u *url.URL, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case errors.Is(err, chunks.ErrImageDigest):
		// Every chunk matched and the whole did not: the index lies.
		// What was written is wrong; start over, whole.
		f.markFailed(req.Blob)
		if terr := dst.Truncate(); terr != nil {
			return terr
		}
		return &fallback{reason: "the chunks do not make the blob", err: err}
	case errors.Is(err, chunks.ErrChunkDigest), errors.Is(err, errStoreRefused):
		// What was written is verified, so Whole resumes after it.
		f.markFailed(req.Blob)
		return &fallback{reason: "the chunk store does not serve a chunk right", err: err}
	}
	if ce := (*chunks.ChunkError)(nil); errors.As(err, &ce) {
		return device.Retryable(fmt.Errorf("chunked download %s: %w", u.Redacted(), err))
	}
	return fmt.Errorf("chunked download %s: %w", u.Redacted(), err)
}

// index fetches and parses the index; anything wrong is a fallback.
func (f *Fetcher) index(ctx context.Context, client *http.Client, req device.FetchRequest, iu *url.URL, want []byte) (*chunks.Index, error) {
	resp, err := get(ctx, client, req.Datastore, iu, 0)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &fallback{reason: "index " + iu.Redacted() + " not fetched", err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &fallback{reason: "no index at " + iu.Redacted() + ": " + resp.Status}
	}
	maxIdx := f.MaxIndexBytes
	if maxIdx <= 0 {
		maxIdx = 64 << 20
	}
	if resp.ContentLength > maxIdx {
		return nil, &fallback{reason: fmt.Sprintf("index %s declares %d bytes, more than the bound %d", iu.Redacted(), resp.ContentLength, maxIdx)}
	}
	lim := chunks.Limits{MaxImageSize: req.Blob.Size}
	copy(lim.WantSum[:], want)
	body := &io.LimitedReader{R: resp.Body, N: maxIdx + 1}
	ix, err := chunks.Parse(body, lim)
	if err == nil && body.N <= 0 {
		err = fmt.Errorf("more than the bound %d bytes", maxIdx)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &fallback{reason: "index " + iu.Redacted() + " refused", err: err}
	}
	return ix, nil
}

// fetchChunk GETs one chunk, at most size bytes, resuming with a Range
// request when the body breaks off (a few times); counted adds the bytes
// that came over the wire.
func fetchChunk(ctx context.Context, client *http.Client, ds materials.Datastore, u *url.URL, size int64, counted *atomic.Int64) ([]byte, error) {
	buf := make([]byte, 0, size)
	var last error
	for try := 0; try < 3; try++ {
		resp, err := get(ctx, client, ds, u, int64(len(buf)))
		if err != nil {
			last = err
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			buf = buf[:0]
		case resp.StatusCode == http.StatusPartialContent && len(buf) > 0:
			if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.Itoa(len(buf))+"-") {
				buf = buf[:0]
				resp.Body.Close()
				last = fmt.Errorf("%s: Content-Range %q does not start at %d", u.Redacted(), resp.Header.Get("Content-Range"), len(buf))
				continue
			}
		case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
			resp.Body.Close()
			return nil, fmt.Errorf("%s: %s: %w", u.Redacted(), resp.Status, errStoreRefused)
		default:
			resp.Body.Close()
			return nil, fmt.Errorf("%s: %s", u.Redacted(), resp.Status)
		}
		// Read to the body's end or one byte past the size (a body that
		// is too long). A body that ends cleanly, short or not, goes to
		// Assemble, which refuses one that does not match; one that
		// breaks off is resumed.
		var rerr error
		for len(buf) < cap(buf) && rerr == nil {
			var n int
			n, rerr = resp.Body.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			counted.Add(int64(n))
		}
		if rerr == nil {
			var one [1]byte
			m, err := resp.Body.Read(one[:])
			counted.Add(int64(m))
			if m > 0 {
				resp.Body.Close()
				return nil, fmt.Errorf("%s: body longer than the index's %d bytes: %w", u.Redacted(), size, errStoreRefused)
			}
			rerr = err
			if rerr == nil {
				rerr = io.EOF // a reader may say EOF on the next call only
			}
		}
		resp.Body.Close()
		if errors.Is(rerr, io.EOF) {
			return buf, nil
		}
		last = fmt.Errorf("%s: read at byte %d of %d: %w", u.Redacted(), len(buf), size, rerr)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, last
}
