package assembler

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// BenchmarkIngest compares the blob directory's ingest (sha256 computed
// in the same pass as the write, checked at commit) with writing first and
// re-reading to hash, the pass the ingest saves. Run with
// `go test -run ^$ -bench Ingest ./assembler/`; compare the MB/s of the two.
func BenchmarkIngest(b *testing.B) {
	data := rawImage(42, 32<<20)
	d := digest.FromBytes(data)
	chunk := 256 << 10
	b.Run("hash-while-writing", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for range b.N {
			root := b.TempDir()
			in, err := NewBlobDir(root).Ingest(context.Background(), materials.Blob{Digest: d})
			if err != nil {
				b.Fatal(err)
			}
			for off := 0; off < len(data); off += chunk {
				if _, err := in.Write(data[off:min(off+chunk, len(data))]); err != nil {
					b.Fatal(err)
				}
			}
			if err := in.Commit(context.Background(), int64(len(data))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("write-then-rehash", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for range b.N {
			p := filepath.Join(b.TempDir(), "blob")
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			for off := 0; off < len(data); off += chunk {
				f.Write(data[off:min(off+chunk, len(data))])
			}
			f.Sync()
			f.Close()
			// Drop the page cache's help as a device would not have it for
			// a blob larger than memory: read it back through a fresh fd.
			r, _ := os.Open(p)
			h := sha256.New()
			io.Copy(h, r)
			r.Close()
			if digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)) != d {
				b.Fatal("digest")
			}
		}
	})
}
