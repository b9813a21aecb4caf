package chunks

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// BenchmarkMake: cutting and hashing an image and writing its chunk store
// (bytes/s of image).
func BenchmarkMake(b *testing.B) {
	img := randomImage(20, 32<<20)
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		if _, _, err := Make(context.Background(), bytes.NewReader(img), b.TempDir(), "chunks", DefaultParams); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlanAndAssemble: what a device spends besides the network for
// an update: cutting the seed, then writing the image from it (bytes/s of
// image).
func BenchmarkPlanAndAssemble(b *testing.B) {
	v1 := randomImage(21, 32<<20)
	v2 := mutate(v1, 100, 1<<20)
	store := b.TempDir()
	ix, _, err := Make(context.Background(), bytes.NewReader(v2), store, "chunks", DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	fetch := func(ctx context.Context, c Chunk, _ int) ([]byte, error) {
		return v2[c.Offset : c.Offset+int64(c.Size)], nil
	}
	b.SetBytes(int64(len(v2)))
	for b.Loop() {
		p, err := NewPlan(context.Background(), ix, []Seed{{Name: "v1", R: bytes.NewReader(v1), Size: int64(len(v1))}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Assemble(context.Background(), p, io.Discard, AssembleOptions{Fetch: fetch}); err != nil {
			b.Fatal(err)
		}
	}
}
