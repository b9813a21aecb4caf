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
	zeroSum := map[uint32][sha256.Size]byte{}
	for _, sz := range []uint32{ix.Params.MinSize, ix.Params.MaxSize} {
		zeroSum[sz] = sha256.Sum256(make([]byte, sz))
	}
	isZeros := func(c Chunk) bool { z, ok := zeroSum[c.Size]; return ok && z == c.Sum }
	// Zero chunks are made, not looked for: they would make any seed look
	// related.
	want := make(map[[sha256.Size]byte]int, len(ix.Chunks)) // sum -> -1 (not found) or loc index
	sizes := map[uint32]bool{}
	for _, c := range ix.Chunks {
		if !isZeros(c) {
			want[c.Sum] = -1
			sizes[c.Size] = true
		}
	}
	type loc struct {
		seed int
		off  int64
	}
	var locs []loc
	found := 0
	buf := make([]byte, ix.Params.MaxSize)
	for si, s := range seeds {
		if found == len(want) {
			break
		}
		ck := chunker.NewWithBoundaries(io.NewSectionReader(s.R, 0, s.Size), ix.Params.Pol, uint(ix.Params.MinSize), uint(ix.Params.MaxSize))
		ck.SetAverageBits(int(ix.Params.AvgBits))
		off := int64(0)
		matched := 0
		for {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			// A seed with no chunk of the image in its first
			// unrelatedSeedBytes is another image: not worth reading
			// to its end.
			if matched == 0 && off >= unrelatedSeedBytes {
				break
			}
			c, err := ck.Next(buf)
			if err != nil {
				// io.EOF, or a seed that cannot be read: what was cut
				// so far is still good (each use is verified again).
				break
			}
			// Only chunk sizes the index has can match: skip hashing
			// the rest.
			if sizes[uint32(c.Length)] {
				sum := sha256.Sum256(c.Data)
				if l, ok := want[sum]; ok && l < 0 {
					want[sum] = len(locs)
					locs = append(locs, loc{si, off})
					found++
					matched++
				}
			}
			off += int64(c.Length)
		}
	}
	occ := map[[sha256.Size]byte]int{}
	for i, c := range ix.Chunks {
		if l, ok := want[c.Sum]; ok && l >= 0 {
			p.from[i] = source{kind: fromSeed, seed: locs[l].seed, off: locs[l].off}
			p.SeedBytes += int64(c.Size)
			p.SeedUse[locs[l].seed]++
			continue
		}
		if isZeros(c) {
			p.from[i] = source{kind: fromZeros}
			continue
		}
		occ[c.Sum]++
	}
	// Repeats of a fetched chunk are served from memory while the cache
	// has room, else fetched again.
	live := map[[sha256.Size]byte]bool{}
	liveBytes := int64(0)
	for i, c := range ix.Chunks {
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
	return p, nil
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
func Assemble(ctx context.Context, p *Plan, dst io.Writer, opts AssembleOptions) (out Result, err error) {
	var res Result
	ix := p.Index
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if opts.Ahead <= 0 {
		opts.Ahead = 8 * opts.Parallel
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 4
	}
	if opts.Start < 0 || opts.Start > ix.ImageSize {
		return res, fmt.Errorf("assemble: start %d is outside the image's %d bytes", opts.Start, ix.ImageSize)
	}
	first := p.firstFrom(opts.Start)
	from := p.sourcesFrom(first)
	if opts.Fetch == nil {
		for i := first; i < len(ix.Chunks); i++ {
			if from[i].kind == fromFetch || from[i].kind == fromCache {
				return res, fmt.Errorf("assemble: chunk %d must be fetched and there is no fetch", i)
			}
		}
	}
	var whole hash.Hash
	if opts.Start == 0 {
		whole = sha256.New()
	}
	ctx, cancel := context.WithCancel(ctx)

	// The fetches count into fetched and refetches (under mu); they join
	// the result once every fetch has stopped (the deferred wait below),
	// since a fetch may still be running when the write loop returns.
	var mu sync.Mutex
	var fetched int64
	var refetches int
	fetchOK := func(i int) ([]byte, error) {
		c := ix.Chunks[i]
		var last error
		for a := 1; a <= opts.MaxAttempts; a++ {
			if a > 1 {
				mu.Lock()
				refetches++
				mu.Unlock()
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(time.Duration(a-1) * 50 * time.Millisecond):
				}
			}
			data, err := opts.Fetch(ctx, c, a)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			mu.Lock()
			fetched += int64(len(data))
			mu.Unlock()
			if err != nil {
				last = err
				continue
			}
			if uint32(len(data)) != c.Size {
				last = fmt.Errorf("%w: got %d bytes, want %d", ErrChunkDigest, len(data), c.Size)
				continue
			}
			if got := sha256.Sum256(data); got != c.Sum {
				last = fmt.Errorf("%w: got sha256:%x", ErrChunkDigest, got)
				continue
			}
			return data, nil
		}
		return nil, &ChunkError{Index: i, Chunk: c, Attempts: opts.MaxAttempts, Err: last}
	}

	// The dispatcher starts fetches in image order, at most Parallel at
	// once and at most Ahead waiting to be written.
	slots := make([]*slot, len(ix.Chunks))
	for i := first; i < len(ix.Chunks); i++ {
		if from[i].kind == fromFetch {
			slots[i] = &slot{done: make(chan struct{})}
		}
	}
	ahead := make(chan struct{}, opts.Ahead)
	workers := make(chan struct{}, opts.Parallel)
	var wg sync.WaitGroup
	// Stop the dispatcher and its fetches before returning, whatever ends
	// the write.
	defer func() {
		cancel()
		wg.Wait()
		out.Fetched += fetched
		out.Refetches += refetches
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := first; i < len(ix.Chunks); i++ {
			s := slots[i]
			if s == nil {
				continue
			}
			select {
			case ahead <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case workers <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func(i int, s *slot) {
				defer wg.Done()
				s.data, s.err = fetchOK(i)
				<-workers
				close(s.done)
			}(i, s)
		}
	}()

	cache := map[[sha256.Size]byte][]byte{}
	cacheLeft := map[[sha256.Size]byte]int{}
	for i := first; i < len(ix.Chunks); i++ {
		if from[i].kind == fromCache {
			cacheLeft[ix.Chunks[i].Sum]++
		}
	}
	seedBuf := make([]byte, ix.Params.MaxSize)
	written := opts.Start
	report := func() {
		if opts.Progress != nil {
			opts.Progress(written)
		}
	}
	report()
	for i := first; i < len(ix.Chunks); i++ {
		c := ix.Chunks[i]
		src := from[i]
		var data []byte
		switch src.kind {
		case fromSeed:
			data = seedBuf[:c.Size]
			_, err := p.Seeds[src.seed].R.ReadAt(data, src.off)
			if err == nil && sha256.Sum256(data) == c.Sum {
				res.FromSeeds += int64(c.Size)
				break
			}
			// The seed changed under us or cannot be read: fetch it.
			if opts.Fetch == nil {
				return res, &ChunkError{Index: i, Chunk: c, Attempts: 0, Err: fmt.Errorf("seed %s at %d: %w (and there is no fetch)", p.Seeds[src.seed].Name, src.off, ErrChunkDigest)}
			}
			if data, err = fetchOK(i); err != nil {
				return res, err
			}
		case fromZeros:
			data = seedBuf[:c.Size]
			clear(data)
		case fromCache:
			data = cache[c.Sum]
			if cacheLeft[c.Sum]--; cacheLeft[c.Sum] == 0 {
				delete(cache, c.Sum)
			}
		case fromFetch:
			s := slots[i]
			select {
			case <-s.done:
			case <-ctx.Done():
				return res, ctx.Err()
			}
			<-ahead
			if s.err != nil {
				return res, s.err
			}
			data, s.data = s.data, nil
			if src.keep {
				cache[c.Sum] = data
			}
		}
		if whole != nil {
			whole.Write(data)
		}
		if c.Offset < opts.Start {
			// The chunk holding the resume point: only its tail is new.
			data = data[opts.Start-c.Offset:]
		}
		if _, err := dst.Write(data); err != nil {
			return res, fmt.Errorf("assemble: write at byte %d: %w", written, err)
		}
		written += int64(len(data))
		res.Written += int64(len(data))
		report()
	}
	if whole != nil {
		var got [sha256.Size]byte
		copy(got[:], whole.Sum(nil))
		if got != ix.ImageSum {
			return res, fmt.Errorf("%w: chunks make sha256:%x, the index says sha256:%x", ErrImageDigest, got, ix.ImageSum)
		}
		res.WholeVerified = true
	}
	return res, nil
}
