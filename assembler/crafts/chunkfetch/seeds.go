package chunkfetch

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/chunks"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// DirSeeds offers as seeds the complete blobs of a blob directory
// (<root>/persist/blobs/sha256, whose files were checked against their
// digest when they were committed) whose format, read from their first
// bytes, is the wanted content tree's: newest first (the previous version
// of an image is most often the latest blob of its format), at most max
// of them (3 when max <= 0), and none larger than four times the wanted
// blob's bound. Each seed is cut and hashed once per download, so the
// bound keeps that cost to a few reads of the image.
func DirSeeds(dir string, max int) SeedFunc {
	if max <= 0 {
		max = 3
	}
	return func(ctx context.Context, req device.FetchRequest) []Seed {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil
		}
		type cand struct {
			path  string
			size  int64
			mtime int64
		}
		var cands []cand
		for _, e := range ents {
			if !e.Type().IsRegular() || len(e.Name()) != 64 || e.Name() == req.Blob.Digest.Encoded() {
				continue
			}
			info, err := e.Info()
			if err != nil || info.Size() == 0 || (req.Blob.Size > 0 && info.Size() > 4*req.Blob.Size) {
				continue
			}
			cands = append(cands, cand{filepath.Join(dir, e.Name()), info.Size(), info.ModTime().UnixNano()})
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i].mtime > cands[j].mtime })
		var out []Seed
		for _, c := range cands {
			if len(out) == max || ctx.Err() != nil {
				break
			}
			// O_NOFOLLOW: a symlink planted in the blob directory is not
			// a seed.
			f, err := os.OpenFile(c.path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
			if err != nil {
				continue
			}
			if !sameFormat(f, req.ContentTree.Format) {
				f.Close()
				continue
			}
			out = append(out, Seed{Seed: chunks.Seed{Name: c.path, R: f, Size: c.size}, Blob: digest.NewDigestFromEncoded(digest.SHA256, filepath.Base(c.path)), Close: f.Close})
		}
		return out
	}
}

// sniff tells an image's format from its first bytes; anything it does not
// know is raw.
func sniff(head []byte) materials.Format {
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return materials.FormatQcow2
	case bytes.HasPrefix(head, []byte("KDMV")):
		return materials.FormatVMDK
	case bytes.HasPrefix(head, []byte("vhdxfile")):
		return materials.FormatVHDX
	}
	return materials.FormatRaw
}

func sameFormat(f *os.File, want materials.Format) bool {
	var head [8]byte
	n, _ := f.ReadAt(head[:], 0)
	got := sniff(head[:n])
	switch want {
	case materials.FormatQcow:
		want = materials.FormatQcow2 // qcow and qcow2 share the magic
	case materials.FormatISO, materials.FormatVHD:
		want = materials.FormatRaw // no magic at byte 0
	}
	return got == want
}
