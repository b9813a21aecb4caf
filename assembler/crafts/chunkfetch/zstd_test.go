package chunkfetch

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/chunks"
)

// publishZstd is publish with a compressed chunk store (`wright chunk
// --zstd`).
func publishZstd(t *testing.T, dir, name string, img []byte) *chunks.Index {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), img, 0o644); err != nil {
		t.Fatal(err)
	}
	ix, _, err := chunks.MakeWith(context.Background(), bytes.NewReader(img), filepath.Join(dir, "chunks"), "chunks", chunks.DefaultParams, chunks.MakeOptions{Zstd: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := chunks.WriteIndexFile(filepath.Join(dir, name+".chunks"), ix); err != nil {
		t.Fatal(err)
	}
	return ix
}

// halfZeros is a random image with every other 4 KiB block zero inside
// each chunk's worth: chunks that compress to about half.
func halfZeros(b []byte) []byte {
	for i := 0; i+8192 <= len(b); i += 8192 {
		clear(b[i : i+4096])
	}
	return b
}

// TestZstdChunkedDownload: from a compressed store the download takes
// fewer bytes than the chunks it lacks and builds the right blob; a chunk
// file that is a zstd bomb is refused, and the download falls back to the
// whole blob with a warning, never using it.
func TestZstdChunkedDownload(t *testing.T) {
	// The insertion is a multiple of 8 KiB: the new bytes of v2 follow
	// the pattern too.
	v1 := halfZeros(random(1, imgSize))
	v2 := halfZeros(Version2(v1, 6, 256<<10, 9))
	for _, bomb := range []bool{false, true} {
		t.Run(map[bool]string{false: "compressed store", true: "a bomb in the store"}[bomb], func(t *testing.T) {
			r := newRig(t)
			ix1 := publishZstd(t, r.srv.dir, "v1.raw", v1)
			ix2 := publishZstd(t, r.srv.dir, "v2.raw", v2)
			ctx := context.Background()
			if err := r.fetch(ctx, t, "v1.raw", v1); err != nil {
				t.Fatal(err)
			}
			if bomb {
				old := map[[32]byte]bool{}
				for _, c := range ix1.Chunks {
					old[c.Sum] = true
				}
				zw, _ := zstd.NewWriter(nil)
				for _, c := range ix2.Chunks {
					if !old[c.Sum] {
						os.WriteFile(filepath.Join(r.srv.dir, "chunks", filepath.FromSlash(ix2.ChunkPath(c))), zw.EncodeAll(make([]byte, 64<<20), nil), 0o644)
						break
					}
				}
			}
			o, ok, err := r.f.Scout(ctx, r.req("v2.raw", v2), 0)
			if !ok || err != nil {
				t.Fatalf("scout: %v, %v", ok, err)
			}
			r.srv.sent.Store(0)
			if err := r.fetch(ctx, t, "v2.raw", v2); err != nil {
				t.Fatal(err)
			}
			r.check(t, v2)
			sent := r.srv.sent.Load()
			t.Logf("chunks to fetch %d bytes, the store sent %d", o.FetchBytes, sent)
			if bomb {
				if !r.warned("does not serve a chunk right") {
					t.Errorf("no fall-back warning: %v", r.logs.All())
				}
				return
			}
			if sent >= o.FetchBytes*3/4 {
				t.Errorf("sent %d bytes for %d of chunks: not compressed", sent, o.FetchBytes)
			}
			if n := r.logs.FilterLevelExact(zap.WarnLevel).Len(); n != 0 {
				t.Errorf("%d warnings", n)
			}
		})
	}
}
