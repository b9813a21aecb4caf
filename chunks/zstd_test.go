package chunks

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// compressible is an image whose bytes compress (text-like runs) with a
// random part, so chunks differ.
func compressible(seed uint64, n int) []byte {
	r := randomImage(seed, n/8)
	var b bytes.Buffer
	for b.Len() < n {
		b.Write(r[:64])
		b.WriteString(strings.Repeat("edge device storage ", 8))
		r = r[64:]
		if len(r) < 64 {
			r = randomImage(seed+1, n/8)
		}
	}
	return b.Bytes()[:n]
}

// zstdFetch reads a store's files as the chunk fetcher does: the file,
// then the index's decoder.
func zstdFetch(t *testing.T, dir string, ix *Index) FetchFunc {
	dec, err := NewChunkDecoder(ix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dec.Close)
	return func(ctx context.Context, c Chunk, attempt int) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(ix.ChunkPath(c))))
		if err != nil {
			return nil, err
		}
		return dec.Decode(c, b)
	}
}

// TestZstdStore: a compressed store round-trips through the index (its
// flag), holds fewer bytes than the chunks, and lives beside a plain store
// of the same chunks without either overwriting the other.
func TestZstdStore(t *testing.T) {
	img := compressible(8, 2<<20)
	store := t.TempDir()
	plainIx := makeIndex(t, img, store)
	ix, st, err := MakeWith(context.Background(), bytes.NewReader(img), store, "chunks", DefaultParams, MakeOptions{Zstd: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.StoredChunks != st.Unique || st.StoredBytes >= int64(len(img))/2 {
		t.Errorf("stored %d files of %d distinct chunks, %d bytes for an image of %d", st.StoredChunks, st.Unique, st.StoredBytes, len(img))
	}
	parsed, err := Parse(bytes.NewReader(encoded(t, ix)), Limits{})
	if err != nil || !parsed.Zstd {
		t.Fatalf("parsed: %v, zstd %v", err, parsed != nil && parsed.Zstd)
	}
	for _, x := range []*Index{parsed, plainIx} {
		plan, err := NewPlan(context.Background(), x, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := Assemble(context.Background(), plan, &out, AssembleOptions{Fetch: zstdFetch(t, store, x)}); err != nil {
			t.Fatalf("zstd %v: %v", x.Zstd, err)
		}
		if !bytes.Equal(out.Bytes(), img) {
			t.Fatalf("zstd %v: image differs", x.Zstd)
		}
	}
}

// TestZstdBomb: a compressed chunk file that expands past its chunk (a
// few bytes that decode to 256 MiB) is refused as a bad chunk, fetched
// again and never used; so is one that decodes to other bytes.
func TestZstdBomb(t *testing.T) {
	img := compressible(9, 512<<10)
	store := t.TempDir()
	ix, _, err := MakeWith(context.Background(), bytes.NewReader(img), store, "chunks", DefaultParams, MakeOptions{Zstd: true})
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := zstd.NewWriter(nil)
	bomb := zw.EncodeAll(make([]byte, 256<<20), nil)
	other := zw.EncodeAll(bytes.Repeat([]byte{1}, int(ix.Chunks[1].Size)), nil)
	if len(bomb) > 64<<10 {
		t.Fatalf("the bomb is %d bytes", len(bomb))
	}
	for _, tc := range []struct {
		name string
		file []byte
	}{{"bomb", bomb}, {"other bytes", other}, {"not zstd", []byte("not a zstd frame")}} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(store, filepath.FromSlash(ix.ChunkPath(ix.Chunks[1]))), tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			plan, err := NewPlan(context.Background(), ix, nil)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			_, err = Assemble(context.Background(), plan, &out, AssembleOptions{Fetch: zstdFetch(t, store, ix), MaxAttempts: 2})
			if !errors.Is(err, ErrChunkDigest) {
				t.Fatalf("Assemble: %v, want %v", err, ErrChunkDigest)
			}
			if int64(out.Len()) > ix.Chunks[1].Offset {
				t.Errorf("%d bytes written, past the bad chunk at %d", out.Len(), ix.Chunks[1].Offset)
			}
		})
	}
}
