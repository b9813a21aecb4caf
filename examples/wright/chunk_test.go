package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/chunks"
)

func TestChunkCommand(t *testing.T) {
	tmp := t.TempDir()
	img := filepath.Join(tmp, "disk.img")
	data := make([]byte, 1<<20)
	rand.Read(data)
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "pub")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{name: "image first", args: []string{img, "--out", out}, wantCode: 0},
		{name: "flags first", args: []string{"--out", out, img}, wantCode: 0},
		{name: "compressed store", args: []string{img, "--out", out, "--zstd"}, wantCode: 0},
		{name: "no out", args: []string{img}, wantCode: 2, wantStderr: "usage: wright chunk"},
		{name: "no image", args: []string{"--out", out}, wantCode: 2, wantStderr: "usage: wright chunk"},
		{name: "two images", args: []string{"--out", out, img, img}, wantCode: 2, wantStderr: "usage: wright chunk"},
		{name: "missing image", args: []string{filepath.Join(tmp, "nope"), "--out", out}, wantCode: 1, wantStderr: "no such file"},
		{name: "store escapes", args: []string{img, "--out", out, "--store", "../x"}, wantCode: 1, wantStderr: "not a clean relative path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o, e bytes.Buffer
			code := run(append([]string{"chunk"}, tc.args...), &o, &e)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, e.String())
			}
			if !strings.Contains(e.String(), tc.wantStderr) {
				t.Fatalf("stderr lacks %q:\n%s", tc.wantStderr, e.String())
			}
			if code != 0 {
				return
			}
			f, err := os.Open(filepath.Join(out, "disk.img.chunks"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sum := sha256.Sum256(data)
			ix, err := chunks.Parse(f, chunks.Limits{WantSum: sum, WantSize: int64(len(data))})
			if err != nil {
				t.Fatalf("the index written does not parse: %v", err)
			}
			if ix.Zstd != slices.Contains(tc.args, "--zstd") {
				t.Fatalf("index zstd flag %v for %v", ix.Zstd, tc.args)
			}
			dec, err := chunks.NewChunkDecoder(ix)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			// Every chunk is in the store with its bytes.
			for _, c := range ix.Chunks {
				b, err := os.ReadFile(filepath.Join(out, "chunks", filepath.FromSlash(ix.ChunkPath(c))))
				if err == nil {
					b, err = dec.Decode(c, b)
				}
				if err != nil || !bytes.Equal(b, data[c.Offset:c.Offset+int64(c.Size)]) {
					t.Fatalf("chunk at %d: %v or wrong bytes", c.Offset, err)
				}
			}
		})
	}
}
