package chunks

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/restic/chunker"
)

// Seed is a local blob that may hold chunks of the wanted image.
type Seed struct {
	Name string
	R    io.ReaderAt
	Size int64
}

type kind uint8

const (
	fromFetch kind = iota // fetched from the chunk store
	fromSeed              // read from a seed
	fromCache             // a repeat of a fetched chunk kept in memory
	fromZeros             // all zero bytes: made, not fetched
)

type source struct {
	kind kind
	keep bool // fromFetch: keep the bytes for a later fromCache repeat
	seed int
	off  int64
}

// Plan says where each chunk of an index comes from.
type Plan struct {
	Index *Index
	Seeds []Seed
	from  []source
	// FetchBytes and FetchChunks are what must come over the network.
	FetchBytes  int64
	FetchChunks int
	// SeedBytes is what the seeds provide; SeedUse counts chunks per seed.
	SeedBytes int64
	SeedUse   []int
}

// unrelatedSeedBytes: a seed that holds none of the index's chunks in
// this many leading bytes is dropped (an update shares chunks all along
// the image; an unrelated image of the same format shares none). A
// variable for tests.
var unrelatedSeedBytes int64 = 64 << 20

// CacheBytes bounds the memory that keeps fetched chunks for their
// repeats later in the image.
const CacheBytes = 64 << 20

// NewPlan cuts every seed with the index's parameters and maps each chunk
// of the index to a seed that holds it (the first seed that does; callers
// order seeds best first) or to a fetch. A seed that fails to read is
// skipped (its error is returned only when ctx ends).
func NewPlan(ctx context.Context, ix *Index, seeds []Seed) (*Plan, error) {
	p := &Plan{Index: ix, Seeds: seeds, from: make([]source, len(ix.Chunks)), SeedUse: make([]int, len(seeds))}
	w := newWanted(ix)
	for si, s := range seeds {
		if w.found == len(w.at) {
			break
		}
		if err := w.cut(ctx, si, s); err != nil {
			return nil, err
		}
	}
	occ := p.fromSeedsAndZeros(w)
	p.fetchOrCache(occ)
	return p, nil
}

// wanted are the index's chunk sums looked for in the seeds and where
// the first copy of each was found.
type wanted struct {
	ix      *Index
	zeroSum map[uint32][sha256.Size]byte
	at      map[[sha256.Size]byte]int // sum -> -1 (not found) or index in locs
	sizes   map[uint32]bool
	locs    []seedLoc
	found   int
	buf     []byte
}

type seedLoc struct {
	seed int
	off  int64
}

// newWanted lists every chunk sum but the all-zero ones: zero chunks are
// made, not looked for (they would make any seed look related).
func newWanted(ix *Index) *wanted {
	w := &wanted{ix: ix, zeroSum: map[uint32][sha256.Size]byte{}, at: make(map[[sha256.Size]byte]int, len(ix.Chunks)),
		sizes: map[uint32]bool{}, buf: make([]byte, ix.Params.MaxSize)}
	for _, sz := range []uint32{ix.Params.MinSize, ix.Params.MaxSize} {
		w.zeroSum[sz] = sha256.Sum256(make([]byte, sz))
	}
	for _, c := range ix.Chunks {
		if !w.isZeros(c) {
			w.at[c.Sum] = -1
			w.sizes[c.Size] = true
		}
	}
	return w
}

func (w *wanted) isZeros(c Chunk) bool { z, ok := w.zeroSum[c.Size]; return ok && z == c.Sum }

// cut cuts seed si with the index's parameters and records where each
// wanted chunk not found yet is in it.
func (w *wanted) cut(ctx context.Context, si int, s Seed) error {
	p := w.ix.Params
	ck := chunker.NewWithBoundaries(io.NewSectionReader(s.R, 0, s.Size), p.Pol, uint(p.MinSize), uint(p.MaxSize))
	ck.SetAverageBits(int(p.AvgBits))
	off := int64(0)
	matched := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// A seed with no chunk of the image in its first
		// unrelatedSeedBytes is another image: not worth reading to its
		// end.
		if matched == 0 && off >= unrelatedSeedBytes {
			return nil
		}
		c, err := ck.Next(w.buf)
		if err != nil {
			// io.EOF, or a seed that cannot be read: what was cut so far
			// is still good (each use is verified again).
			return nil
		}
		// Only chunk sizes the index has can match: skip hashing the rest.
		if w.sizes[uint32(c.Length)] {
			sum := sha256.Sum256(c.Data)
			if l, ok := w.at[sum]; ok && l < 0 {
				w.at[sum] = len(w.locs)
				w.locs = append(w.locs, seedLoc{si, off})
				w.found++
				matched++
			}
		}
		off += int64(c.Length)
	}
}

// fromSeedsAndZeros maps each chunk a seed holds to it and each zero
// chunk to zeros, and counts how often each other sum occurs.
func (p *Plan) fromSeedsAndZeros(w *wanted) map[[sha256.Size]byte]int {
	occ := map[[sha256.Size]byte]int{}
	for i, c := range p.Index.Chunks {
		if l, ok := w.at[c.Sum]; ok && l >= 0 {
			loc := w.locs[l]
			p.from[i] = source{kind: fromSeed, seed: loc.seed, off: loc.off}
			p.SeedBytes += int64(c.Size)
			p.SeedUse[loc.seed]++
			continue
		}
		if w.isZeros(c) {
			p.from[i] = source{kind: fromZeros}
			continue
		}
		occ[c.Sum]++
	}
	return occ
}

// fetchOrCache maps the rest to fetches: repeats of a fetched chunk are
// served from memory while the cache has room, else fetched again.
func (p *Plan) fetchOrCache(occ map[[sha256.Size]byte]int) {
	live := map[[sha256.Size]byte]bool{}
	liveBytes := int64(0)
	for i, c := range p.Index.Chunks {
		if p.from[i].kind == fromSeed || p.from[i].kind == fromZeros {
			continue
		}
		occ[c.Sum]--
		if live[c.Sum] {
			p.from[i] = source{kind: fromCache}
			if occ[c.Sum] == 0 {
				delete(live, c.Sum)
				liveBytes -= int64(c.Size)
			}
			continue
		}
		p.from[i] = source{kind: fromFetch}
		p.FetchBytes += int64(c.Size)
		p.FetchChunks++
		if occ[c.Sum] > 0 && liveBytes+int64(c.Size) <= CacheBytes {
			p.from[i].keep = true
			live[c.Sum] = true
			liveBytes += int64(c.Size)
		}
	}
}

// WithSeeds is the same plan over seeds reopened in the same order (a
// plan made before and kept, its seeds closed in between). Every seed
// chunk is verified when it is read, so a seed that changed meanwhile
// costs a fetch, never a wrong byte.
func (p *Plan) WithSeeds(seeds []Seed) (*Plan, error) {
	if len(seeds) != len(p.Seeds) {
		return nil, fmt.Errorf("plan made with %d seeds, given %d", len(p.Seeds), len(seeds))
	}
	c := *p
	c.Seeds = seeds
	return &c, nil
}

// firstFrom is the first chunk that reaches past start.
func (p *Plan) firstFrom(start int64) int {
	ix := p.Index
	first := 0
	for first < len(ix.Chunks) && ix.Chunks[first].Offset+int64(ix.Chunks[first].Size) <= start {
		first++
	}
	return first
}

// sourcesFrom is where each chunk from first on comes from when writing
// starts there: a repeat whose kept copy was fetched before first (a
// resumed ingest) is fetched itself, and kept for its own repeats.
func (p *Plan) sourcesFrom(first int) []source {
	from := slices.Clone(p.from)
	kept := map[[sha256.Size]byte]bool{}
	for i := first; i < len(from); i++ {
		sum := p.Index.Chunks[i].Sum
		switch {
		case from[i].kind == fromFetch && from[i].keep:
			kept[sum] = true
		case from[i].kind == fromCache && !kept[sum]:
			from[i] = source{kind: fromFetch, keep: true}
			kept[sum] = true
		}
	}
	return from
}

// FetchFrom is what must come over the network when the image is
// written from byte start on (a resumed ingest): bytes and chunks.
func (p *Plan) FetchFrom(start int64) (bytes int64, n int) {
	first := p.firstFrom(start)
	for i, src := range p.sourcesFrom(first)[first:] {
		if src.kind == fromFetch {
			bytes += int64(p.Index.Chunks[first+i].Size)
			n++
		}
	}
	return bytes, n
}

// FetchFunc fetches one chunk from the chunk store; attempt counts from 1.
// Assemble checks the bytes it returns.
type FetchFunc func(ctx context.Context, c Chunk, attempt int) ([]byte, error)

// AssembleOptions tune Assemble.
type AssembleOptions struct {
	// Start is how many bytes of the image dst already holds (a resumed
	// ingest); Assemble writes from there on. With Start > 0 the whole
	// image's sha256 is the writer's to check (Result.WholeVerified is
	// false), as the prefix is not read back.
	Start int64
	Fetch FetchFunc
	// Parallel is how many fetches run at once (default 8).
	Parallel int
	// Ahead bounds how many fetched chunks wait in memory for their turn
	// (default 8*Parallel).
	Ahead int
	// MaxAttempts bounds the fetches of one chunk, digest failures and
	// errors alike (default 4).
	MaxAttempts int
	// Progress gets the image bytes written so far (from 0, with Start).
	Progress func(written int64)
}

// Result tells what Assemble did.
type Result struct {
	Written       int64 // bytes written to dst by this call
	FromSeeds     int64
	Fetched       int64 // bytes fetched, refetches included
	Refetches     int   // chunks fetched again after a bad digest or error
	WholeVerified bool  // the whole image's sha256 was checked here
}

// ChunkError: a chunk could not be had with the right bytes.
type ChunkError struct {
	Index    int
	Chunk    Chunk
	Attempts int
	Err      error
}

func (e *ChunkError) Error() string {
	return fmt.Sprintf("chunk %d (offset %d, %d bytes, sha256:%s): %d attempts: %v", e.Index, e.Chunk.Offset, e.Chunk.Size, e.Chunk.Hex(), e.Attempts, e.Err)
}
func (e *ChunkError) Unwrap() error { return e.Err }

// ErrChunkDigest: a chunk's bytes do not hash to its index entry.
var ErrChunkDigest = errors.New("chunk digest mismatch")

// ErrImageDigest: the assembled image does not hash to the index's
// image sha256 (every chunk matched: the index lies about the image).
var ErrImageDigest = errors.New("image digest mismatch")

type slot struct {
	done chan struct{}
	data []byte
	err  error
}

// Assemble writes the plan's image into dst from opts.Start on, in order.
// Every chunk is checked against its digest before a byte of it is
// written; a chunk that fails is fetched again up to MaxAttempts and never
// used. When Start is 0 the whole image's sha256 is checked too, in the
// same pass. On error dst holds a prefix of the image made of verified
// chunks, so a later call resumes from it.
func Assemble(ctx context.Context, p *Plan, dst io.Writer, opts AssembleOptions) (Result, error) {
	opts = opts.withDefaults()
	ix := p.Index
	if opts.Start < 0 || opts.Start > ix.ImageSize {
		return Result{}, fmt.Errorf("assemble: start %d is outside the image's %d bytes", opts.Start, ix.ImageSize)
	}
	a := newAssembly(p, opts)
	if err := a.checkFetchable(); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	a.dispatch(ctx)
	res, err := a.write(ctx, dst)
	// Stop the dispatcher and its fetches, whatever ended the write: a
	// fetch may still be running, and its bytes count.
	cancel()
	a.wg.Wait()
	res.Fetched, res.Refetches = a.fetched, a.refetches
	if err != nil {
		return res, err
	}
	return res, a.verifyWhole(&res)
}

func (o AssembleOptions) withDefaults() AssembleOptions {
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.Ahead <= 0 {
		o.Ahead = 8 * o.Parallel
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 4
	}
	return o
}

// assembly is one Assemble call: where each chunk comes from, the
// fetches in flight, and the chunks kept for their repeats.
type assembly struct {
	p     *Plan
	ix    *Index
	opts  AssembleOptions
	first int
	from  []source
	whole hash.Hash // nil when resuming: the prefix is not read back

	slots   []*slot // fromFetch chunks, filled by the dispatcher
	ahead   chan struct{}
	workers chan struct{}
	wg      sync.WaitGroup

	// The fetches count into fetched and refetches under mu.
	mu        sync.Mutex
	fetched   int64
	refetches int

	cache     map[[sha256.Size]byte][]byte
	cacheLeft map[[sha256.Size]byte]int
	seedBuf   []byte
}

func newAssembly(p *Plan, opts AssembleOptions) *assembly {
	ix := p.Index
	a := &assembly{p: p, ix: ix, opts: opts, first: p.firstFrom(opts.Start)}
	a.from = p.sourcesFrom(a.first)
	if opts.Start == 0 {
		a.whole = sha256.New()
	}
	a.slots = make([]*slot, len(ix.Chunks))
	a.cache = map[[sha256.Size]byte][]byte{}
	a.cacheLeft = map[[sha256.Size]byte]int{}
	for i := a.first; i < len(ix.Chunks); i++ {
		switch a.from[i].kind {
		case fromFetch:
			a.slots[i] = &slot{done: make(chan struct{})}
		case fromCache:
			a.cacheLeft[ix.Chunks[i].Sum]++
		}
	}
	a.ahead = make(chan struct{}, opts.Ahead)
	a.workers = make(chan struct{}, opts.Parallel)
	a.seedBuf = make([]byte, ix.Params.MaxSize)
	return a
}

// checkFetchable refuses a plan that needs fetches when there is none.
func (a *assembly) checkFetchable() error {
	if a.opts.Fetch != nil {
		return nil
	}
	for i := a.first; i < len(a.ix.Chunks); i++ {
		if a.from[i].kind == fromFetch || a.from[i].kind == fromCache {
			return fmt.Errorf("assemble: chunk %d must be fetched and there is no fetch", i)
		}
	}
	return nil
}

// dispatch starts the fetches in image order, at most Parallel at once
// and at most Ahead waiting to be written.
func (a *assembly) dispatch(ctx context.Context) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for i := a.first; i < len(a.ix.Chunks); i++ {
			s := a.slots[i]
			if s == nil {
				continue
			}
			if !send(ctx, a.ahead) || !send(ctx, a.workers) {
				return
			}
			a.wg.Add(1)
			go func(i int, s *slot) {
				defer a.wg.Done()
				s.data, s.err = a.fetchOK(ctx, i)
				<-a.workers
				close(s.done)
			}(i, s)
		}
	}()
}

// send takes a place in a bounded channel, or says the context ended.
func send(ctx context.Context, c chan struct{}) bool {
	select {
	case c <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// fetchOK fetches chunk i until its bytes match its entry, at most
// MaxAttempts times, backing off between attempts.
func (a *assembly) fetchOK(ctx context.Context, i int) ([]byte, error) {
	c := a.ix.Chunks[i]
	var last error
	for n := 1; n <= a.opts.MaxAttempts; n++ {
		if n > 1 {
			a.mu.Lock()
			a.refetches++
			a.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(n-1) * 50 * time.Millisecond):
			}
		}
		data, err := a.opts.Fetch(ctx, c, n)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.mu.Lock()
		a.fetched += int64(len(data))
		a.mu.Unlock()
		if last = checkChunk(c, data, err); last == nil {
			return data, nil
		}
	}
	return nil, &ChunkError{Index: i, Chunk: c, Attempts: a.opts.MaxAttempts, Err: last}
}

// checkChunk is why a fetch's answer cannot be used, or nil.
func checkChunk(c Chunk, data []byte, err error) error {
	switch {
	case err != nil:
		return err
	case uint32(len(data)) != c.Size:
		return fmt.Errorf("%w: got %d bytes, want %d", ErrChunkDigest, len(data), c.Size)
	}
	if got := sha256.Sum256(data); got != c.Sum {
		return fmt.Errorf("%w: got sha256:%x", ErrChunkDigest, got)
	}
	return nil
}

// write writes every chunk from the first on into dst, in order, hashing
// the whole image as it goes.
func (a *assembly) write(ctx context.Context, dst io.Writer) (Result, error) {
	var res Result
	written := a.opts.Start
	report := func() {
		if a.opts.Progress != nil {
			a.opts.Progress(written)
		}
	}
	report()
	for i := a.first; i < len(a.ix.Chunks); i++ {
		c := a.ix.Chunks[i]
		data, err := a.chunk(ctx, i, &res)
		if err != nil {
			return res, err
		}
		if a.whole != nil {
			a.whole.Write(data)
		}
		if c.Offset < a.opts.Start {
			// The chunk holding the resume point: only its tail is new.
			data = data[a.opts.Start-c.Offset:]
		}
		if _, err := dst.Write(data); err != nil {
			return res, fmt.Errorf("assemble: write at byte %d: %w", written, err)
		}
		written += int64(len(data))
		res.Written += int64(len(data))
		report()
	}
	return res, nil
}

// chunk is chunk i's verified bytes, from wherever the plan says.
func (a *assembly) chunk(ctx context.Context, i int, res *Result) ([]byte, error) {
	c := a.ix.Chunks[i]
	switch src := a.from[i]; src.kind {
	case fromSeed:
		return a.fromSeed(ctx, i, src, res)
	case fromZeros:
		data := a.seedBuf[:c.Size]
		clear(data)
		return data, nil
	case fromCache:
		data := a.cache[c.Sum]
		if a.cacheLeft[c.Sum]--; a.cacheLeft[c.Sum] == 0 {
			delete(a.cache, c.Sum)
		}
		return data, nil
	default:
		return a.fetchedChunk(ctx, i, src.keep)
	}
}

// fromSeed reads chunk i from its seed; a seed that changed under us or
// cannot be read is fetched instead.
func (a *assembly) fromSeed(ctx context.Context, i int, src source, res *Result) ([]byte, error) {
	c := a.ix.Chunks[i]
	data := a.seedBuf[:c.Size]
	_, err := a.p.Seeds[src.seed].R.ReadAt(data, src.off)
	if err == nil && sha256.Sum256(data) == c.Sum {
		res.FromSeeds += int64(c.Size)
		return data, nil
	}
	if a.opts.Fetch == nil {
		return nil, &ChunkError{Index: i, Chunk: c, Attempts: 0, Err: fmt.Errorf("seed %s at %d: %w (and there is no fetch)", a.p.Seeds[src.seed].Name, src.off, ErrChunkDigest)}
	}
	return a.fetchOK(ctx, i)
}

// fetchedChunk waits for the dispatcher's fetch of chunk i, keeping its
// bytes for a later repeat when the plan says so.
func (a *assembly) fetchedChunk(ctx context.Context, i int, keep bool) ([]byte, error) {
	s := a.slots[i]
	select {
	case <-s.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	<-a.ahead
	if s.err != nil {
		return nil, s.err
	}
	data := s.data
	s.data = nil
	if keep {
		a.cache[a.ix.Chunks[i].Sum] = data
	}
	return data, nil
}

// verifyWhole checks the whole image's sha256 when this call saw every
// byte of it.
func (a *assembly) verifyWhole(res *Result) error {
	if a.whole == nil {
		return nil
	}
	var got [sha256.Size]byte
	copy(got[:], a.whole.Sum(nil))
	if got != a.ix.ImageSum {
		return fmt.Errorf("%w: chunks make sha256:%x, the index says sha256:%x", ErrImageDigest, got, a.ix.ImageSum)
	}
	res.WholeVerified = true
	return nil
}
