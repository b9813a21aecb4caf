package chunks

import (
	"bytes"
	"context"
	"testing"
)

// FuzzParse feeds Parse hostile indexes: the fuzzed bytes are parsed as
// they are (mostly broken zstd) and as the plain content of a zstd frame
// (so mutations reach the parser). Parse must never panic or allocate past
// its limits, and whatever it accepts must tile its image and survive a
// round trip.
func FuzzParse(f *testing.F) {
	img := randomImage(8, 64<<10)
	ix, _, err := Make(context.Background(), bytes.NewReader(img), f.TempDir(), "chunks", DefaultParams)
	if err != nil {
		f.Fatal(err)
	}
	var b bytes.Buffer
	ix.encode(&b)
	f.Add(b.Bytes())
	zr := plainNoT(b.Bytes())
	f.Add(zr)
	f.Add([]byte("EWCHUNKS"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxChunks: 1 << 16, MaxImageSize: 1 << 30}
		for _, in := range [][]byte{data, pack(t, data)} {
			got, err := Parse(bytes.NewReader(in), lim)
			if err != nil {
				continue
			}
			next := int64(0)
			for i, c := range got.Chunks {
				if c.Offset != next || c.Size == 0 || c.Size > got.Params.MaxSize {
					t.Fatalf("accepted chunk %d %+v that does not tile", i, c)
				}
				next += int64(c.Size)
			}
			if next != got.ImageSize {
				t.Fatalf("accepted chunks ending at %d for an image of %d", next, got.ImageSize)
			}
			var re bytes.Buffer
			if _, err := got.WriteTo(&re); err != nil {
				t.Fatalf("re-encode an accepted index: %v", err)
			}
			again, err := Parse(&re, lim)
			if err != nil || len(again.Chunks) != len(got.Chunks) || again.ImageSum != got.ImageSum {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}
