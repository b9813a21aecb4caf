package chunks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// randomImage is deterministic pseudo-random bytes (incompressible, so no
// chunk repeats by accident).
func randomImage(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// mutate writes count random 4 KiB blocks and inserts ins bytes in the
// middle.
func mutate(v1 []byte, count, ins int) []byte {
	r := rand.New(rand.NewPCG(7, 11))
	v2 := append([]byte(nil), v1...)
	for range count {
		off := r.IntN(len(v2) - 4096)
		copy(v2[off:], randomImage(uint64(off), 4096))
	}
	mid := len(v2) / 2
	out := append(append(append([]byte{}, v2[:mid]...), randomImage(99, ins)...), v2[mid:]...)
	return out
}

func storeFetch(t *testing.T, dir string) FetchFunc {
	return func(ctx context.Context, c Chunk, attempt int) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, filepath.FromSlash(StorePath(c))))
	}
}

func makeIndex(t *testing.T, img []byte, store string) *Index {
	t.Helper()
	ix, _, err := Make(context.Background(), bytes.NewReader(img), store, "chunks", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func encoded(t *testing.T, ix *Index) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := ix.encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTripWithSeed(t *testing.T) {
	v1 := randomImage(1, 4<<20)
	v2 := mutate(v1, 20, 100<<10)
	store := t.TempDir()
	makeIndex(t, v1, store)
	ix2 := makeIndex(t, v2, store)
	raw := encoded(t, ix2)
	parsed, err := Parse(bytes.NewReader(raw), Limits{WantSum: sha256.Sum256(v2), WantSize: int64(len(v2))})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(parsed.Chunks) != len(ix2.Chunks) || parsed.ImageSize != int64(len(v2)) {
		t.Fatalf("parsed %d chunks of %d bytes, want %d of %d", len(parsed.Chunks), parsed.ImageSize, len(ix2.Chunks), len(v2))
	}
	plan, err := NewPlan(context.Background(), parsed, []Seed{{Name: "v1", R: bytes.NewReader(v1), Size: int64(len(v1))}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := Assemble(context.Background(), plan, &out, AssembleOptions{Fetch: storeFetch(t, store)})
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	if !bytes.Equal(out.Bytes(), v2) || !res.WholeVerified {
		t.Fatalf("assembled image differs (verified %v)", res.WholeVerified)
	}
	// 20 blocks of 4 KiB and 100 KiB inserted: the fetch is a small share.
	if plan.FetchBytes > int64(len(v2))/5 {
		t.Errorf("fetch %d bytes of %d: the seed was not used", plan.FetchBytes, len(v2))
	}
	if res.Fetched != plan.FetchBytes || res.FromSeeds != plan.SeedBytes {
		t.Errorf("fetched %d / seeds %d, plan said %d / %d", res.Fetched, res.FromSeeds, plan.FetchBytes, plan.SeedBytes)
	}
	t.Logf("v2 %d bytes, %d chunks: fetch %d bytes (%.2f%%)", len(v2), len(ix2.Chunks), plan.FetchBytes, 100*float64(plan.FetchBytes)/float64(len(v2)))
}

func TestResumeMidChunk(t *testing.T) {
	img := randomImage(2, 1<<20)
	store := t.TempDir()
	ix := makeIndex(t, img, store)
	plan, err := NewPlan(context.Background(), ix, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, start := range []int64{0, 1, ix.Chunks[3].Offset, ix.Chunks[3].Offset + 5, int64(len(img)) - 1, int64(len(img))} {
		var out bytes.Buffer
		out.Write(img[:start])
		res, err := Assemble(context.Background(), plan, &out, AssembleOptions{Start: start, Fetch: storeFetch(t, store)})
		if err != nil {
			t.Fatalf("start %d: %v", start, err)
		}
		if !bytes.Equal(out.Bytes(), img) {
			t.Fatalf("start %d: image differs", start)
		}
		if res.Written != int64(len(img))-start {
			t.Errorf("start %d: wrote %d", start, res.Written)
		}
	}
}

func TestZerosAndRepeatsAreNotFetched(t *testing.T) {
	img := make([]byte, 2<<20)
	block := randomImage(3, 64<<10)
	copy(img[100<<10:], block)
	copy(img[1<<20:], block)
	store := t.TempDir()
	ix := makeIndex(t, img, store)
	plan, err := NewPlan(context.Background(), ix, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plan.FetchBytes > 3*64<<10 {
		t.Errorf("fetch %d bytes: zeros or the repeated block are fetched", plan.FetchBytes)
	}
	var out bytes.Buffer
	if _, err := Assemble(context.Background(), plan, &out, AssembleOptions{Fetch: storeFetch(t, store)}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), img) {
		t.Fatal("image differs")
	}
	var b bytes.Buffer
	n, _ := ix.WriteTo(&b)
	t.Logf("2 MiB mostly zero: %d chunks, index %d bytes, fetch %d", len(ix.Chunks), n, plan.FetchBytes)
}

func TestBadChunkIsRefetchedThenRefused(t *testing.T) {
	img := randomImage(4, 512<<10)
	store := t.TempDir()
	ix := makeIndex(t, img, store)
	plan, err := NewPlan(context.Background(), ix, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := storeFetch(t, store)
	for _, tc := range []struct {
		name     string
		badTries int // attempts that return flipped bytes
		wantErr  bool
	}{
		{"one bad then good", 1, false},
		{"three bad then good", 3, false},
		{"always bad", 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fetch := func(ctx context.Context, c Chunk, attempt int) ([]byte, error) {
				b, err := good(ctx, c, attempt)
				if c.Offset == ix.Chunks[2].Offset && attempt <= tc.badTries && err == nil {
					b[0] ^= 1
				}
				return b, err
			}
			var out bytes.Buffer
			res, err := Assemble(context.Background(), plan, &out, AssembleOptions{Fetch: fetch, MaxAttempts: 4})
			if tc.wantErr {
				var ce *ChunkError
				if !errors.As(err, &ce) || !errors.Is(err, ErrChunkDigest) || ce.Index != 2 {
					t.Fatalf("err %v, want a ChunkError for chunk 2", err)
				}
				// What was written is a verified prefix, ending before chunk 2.
				if out.Len() > int(ix.Chunks[2].Offset) || !bytes.Equal(out.Bytes(), img[:out.Len()]) {
					t.Fatalf("wrote %d bytes past the bad chunk or wrong bytes", out.Len())
				}
				return
			}
			if err != nil || !bytes.Equal(out.Bytes(), img) {
				t.Fatalf("err %v, or image differs", err)
			}
			if res.Refetches != tc.badTries {
				t.Errorf("refetches %d, want %d", res.Refetches, tc.badTries)
			}
		})
	}
}

// TestLyingIndexes: every lie ends in a clear error, never in wrong bytes.
func TestLyingIndexes(t *testing.T) {
	img := randomImage(5, 256<<10)
	other := randomImage(6, 256<<10)
	store := t.TempDir()
	good := makeIndex(t, img, store)
	makeIndex(t, other, store)
	clone := func() *Index {
		c := *good
		c.Chunks = append([]Chunk(nil), good.Chunks...)
		return &c
	}
	for _, tc := range []struct {
		name  string
		raw   func() []byte
		lim   Limits
		parse bool // Parse refuses it (else Assemble does)
		want  error
	}{
		{name: "another image", parse: true, want: ErrBadIndex, lim: Limits{WantSum: sha256.Sum256(other)},
			raw: func() []byte { return encoded(t, good) }},
		{name: "another size", parse: true, want: ErrBadIndex, lim: Limits{WantSize: 1},
			raw: func() []byte { return encoded(t, good) }},
		{name: "image above the bound", parse: true, want: ErrBadIndex, lim: Limits{MaxImageSize: 1000},
			raw: func() []byte { return encoded(t, good) }},
		{name: "chunk size too large", parse: true, want: ErrBadIndex, raw: func() []byte {
			ix := clone()
			ix.Chunks[1].Size = ix.Params.MaxSize + 1
			return encoded(t, ix)
		}},
		{name: "gap between chunks", parse: true, want: ErrBadIndex, raw: func() []byte {
			ix := clone()
			ix.Chunks[1].Offset++
			return encoded(t, ix)
		}},
		{name: "sizes do not add up", parse: true, want: ErrBadIndex, raw: func() []byte {
			ix := clone()
			ix.ImageSize += 10
			return encoded(t, ix)
		}},
		{name: "overlapping chunks", parse: true, want: ErrBadIndex, raw: func() []byte {
			ix := clone()
			ix.Chunks[0].Size += 100
			return encoded(t, ix)
		}},
		{name: "a tiny chunk in the middle", parse: true, want: ErrBadIndex, raw: func() []byte {
			ix := clone()
			c := ix.Chunks[0]
			ix.Chunks = append([]Chunk{{Offset: 0, Size: 10, Sum: c.Sum}, {Offset: 10, Size: c.Size - 10, Sum: c.Sum}}, ix.Chunks[1:]...)
			return encoded(t, ix)
		}},
		{name: "absurd count", parse: true, want: ErrBadIndex, raw: func() []byte {
			ix := clone()
			b := encoded(t, ix)
			// Rewrite the count field: decode, patch, re-encode the frame.
			return patchCount(t, b, 1<<40)
		}},
		{name: "count above the limit", parse: true, want: ErrBadIndex, lim: Limits{MaxChunks: 2},
			raw: func() []byte { return encoded(t, good) }},
		{name: "damaged trailer", parse: true, want: ErrBadIndex, raw: func() []byte { return patchPlain(t, encoded(t, good), -1) }},
		{name: "damaged entry", parse: true, want: ErrBadIndex, raw: func() []byte { return patchPlain(t, encoded(t, good), -40) }},
		{name: "truncated", parse: true, want: ErrBadIndex, raw: func() []byte { return truncPlain(t, encoded(t, good), 50) }},
		{name: "trailing bytes", parse: true, want: ErrBadIndex, raw: func() []byte { return appendPlain(t, encoded(t, good), []byte("x")) }},
		{name: "not zstd", parse: true, want: ErrBadIndex, raw: func() []byte { return []byte("EWCHUNKS not compressed") }},
		{name: "empty", parse: true, want: ErrBadIndex, raw: func() []byte { return nil }},
		{name: "store escapes", parse: true, want: ErrBadIndex, raw: func() []byte {
			ix := clone()
			ix.Store = "../../etc"
			return encoded(t, ix)
		}},
		{name: "store absolute", parse: true, want: ErrBadIndex, raw: func() []byte {
			ix := clone()
			ix.Store = "/chunks"
			return encoded(t, ix)
		}},
		{name: "store with a scheme", parse: true, want: ErrBadIndex, raw: func() []byte {
			ix := clone()
			ix.Store = "http://evil/x"
			return encoded(t, ix)
		}},
		{name: "reducible polynomial", parse: true, want: ErrBadIndex, raw: func() []byte {
			ix := clone()
			ix.Params.Pol = 1 << 50
			return encoded(t, ix)
		}},
		{name: "max size above the bound", parse: true, want: ErrBadIndex, raw: func() []byte {
			ix := clone()
			ix.Params.MaxSize = MaxChunkSize + 1
			return encoded(t, ix)
		}},
		// Lies that parse: the bytes decide.
		{name: "a chunk's digest lies", want: ErrChunkDigest, raw: func() []byte {
			ix := clone()
			ix.Chunks[1].Sum = good.Chunks[0].Sum
			return encoded(t, ix)
		}},
		{name: "image digest lies", want: ErrImageDigest, raw: func() []byte {
			ix := clone()
			ix.ImageSum[0] ^= 1
			return encoded(t, ix)
		}},
		{name: "sizes lie (same total)", want: ErrChunkDigest, raw: func() []byte {
			ix := clone()
			ix.Chunks[0].Size += 8
			ix.Chunks[1].Offset += 8
			ix.Chunks[1].Size -= 8
			return encoded(t, ix)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix, err := Parse(bytes.NewReader(tc.raw()), tc.lim)
			if tc.parse {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Parse: %v, want %v", err, tc.want)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			plan, err := NewPlan(context.Background(), ix, []Seed{{Name: "img", R: bytes.NewReader(img), Size: int64(len(img))}})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			_, err = Assemble(context.Background(), plan, &out, AssembleOptions{Fetch: storeFetch(t, store), MaxAttempts: 2})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Assemble: %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

func TestIndexFileIsPublishable(t *testing.T) {
	img := randomImage(9, 64<<10)
	dir := t.TempDir()
	ix := makeIndex(t, img, filepath.Join(dir, "chunks"))
	p := filepath.Join(dir, "img.chunks")
	if err := WriteIndexFile(p, ix); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("index file: %v, mode %v, want 0644 (a web server reads it)", err, st.Mode())
	}
	f, _ := os.Open(p)
	defer f.Close()
	if _, err := Parse(f, Limits{}); err != nil {
		t.Fatal(err)
	}
}

type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// TestUnrelatedSeedIsDropped: a seed of another image is read only up to
// unrelatedSeedBytes, and the related seed after it still serves.
func TestUnrelatedSeedIsDropped(t *testing.T) {
	defer func(v int64) { unrelatedSeedBytes = v }(unrelatedSeedBytes)
	unrelatedSeedBytes = 256 << 10
	v1 := randomImage(10, 2<<20)
	v2 := mutate(v1, 4, 10<<10)
	// The unrelated image has zero runs: zero chunks must not make it
	// look related.
	other := randomImage(11, 2<<20)
	clear(other[:512<<10])
	store := t.TempDir()
	ix := makeIndex(t, v2, store)
	o := &countingReaderAt{r: bytes.NewReader(other)}
	plan, err := NewPlan(context.Background(), ix, []Seed{
		{Name: "other", R: o, Size: int64(len(other))},
		{Name: "v1", R: bytes.NewReader(v1), Size: int64(len(v1))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if plan.SeedUse[0] != 0 || plan.SeedUse[1] == 0 {
		t.Errorf("seed use %v, want none from other and some from v1", plan.SeedUse)
	}
	if n := o.n.Load(); n > unrelatedSeedBytes+1<<20 {
		t.Errorf("read %d bytes of the unrelated seed, the bound is %d (plus the chunker's buffer)", n, unrelatedSeedBytes)
	}
	var out bytes.Buffer
	if _, err := Assemble(context.Background(), plan, &out, AssembleOptions{Fetch: storeFetch(t, store)}); err != nil || !bytes.Equal(out.Bytes(), v2) {
		t.Fatalf("assemble: %v, or bytes differ", err)
	}
}

// TestResumeAfterAKeptRepeat: a resumed ingest whose resume point is past
// the first copy of a repeated chunk (kept in memory for its repeats when
// the write began at 0) fetches the repeat instead of writing nothing, and
// FetchFrom counts it.
func TestResumeAfterAKeptRepeat(t *testing.T) {
	a := randomImage(5, 1<<20)
	img := append(append(append(append([]byte{}, a...), randomImage(6, 300<<10)...), a...), randomImage(7, 300<<10)...)
	store := t.TempDir()
	ix := makeIndex(t, img, store)
	plan, err := NewPlan(context.Background(), ix, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := map[[sha256.Size]byte]int{}
	start := int64(-1)
	for i, c := range ix.Chunks {
		if j, ok := first[c.Sum]; ok {
			start = ix.Chunks[j].Offset + int64(ix.Chunks[j].Size)
			break
		}
		first[c.Sum] = i
	}
	if start < 0 {
		t.Fatal("the image has no repeated chunk")
	}
	var out bytes.Buffer
	out.Write(img[:start])
	res, err := Assemble(context.Background(), plan, &out, AssembleOptions{Start: start, Fetch: storeFetch(t, store)})
	if err != nil {
		t.Fatalf("start %d: %v", start, err)
	}
	if !bytes.Equal(out.Bytes(), img) {
		t.Fatalf("start %d: image differs", start)
	}
	if want, _ := plan.FetchFrom(start); res.Fetched != want {
		t.Errorf("fetched %d bytes from %d, FetchFrom says %d", res.Fetched, start, want)
	}
	if all, _ := plan.FetchFrom(0); all != plan.FetchBytes {
		t.Errorf("FetchFrom(0) = %d, the plan's FetchBytes %d", all, plan.FetchBytes)
	}
}
