package chunks

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
	"github.com/restic/chunker"
	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/internal/durable"
)

// MakeStats tells what Make wrote.
type MakeStats struct {
	Chunks       int   // chunks in the index
	Unique       int   // distinct chunk digests
	StoredChunks int   // chunk files written (the rest were in the store already)
	StoredBytes  int64 // bytes of the chunk files written
}

// Make cuts image into chunks with p, writes every chunk not yet in the
// chunk store storeDir, and returns the index (whose Store is storeName,
// the store's path relative to where the index will be published).
//
// Chunk files appear atomically: they are written under storeDir/.tmp,
// made durable with one syncfs per batch (instead of an fsync per chunk:
// a 1 GiB image has ~100k chunks), then renamed into place and the
// directories fsynced. A crash leaves only .tmp litter, never a chunk file
// with wrong bytes.
func Make(ctx context.Context, image io.Reader, storeDir, storeName string, p Params) (*Index, MakeStats, error) {
	return MakeWith(ctx, image, storeDir, storeName, p, MakeOptions{})
}

// MakeOptions tune MakeWith.
type MakeOptions struct {
	// Zstd stores each chunk as a zstd frame (<hex>.zst) and flags the
	// index so: fewer bytes on the wire for images that compress.
	Zstd bool
}

// MakeWith is Make with options.
func MakeWith(ctx context.Context, image io.Reader, storeDir, storeName string, p Params, o MakeOptions) (*Index, MakeStats, error) {
	var st MakeStats
	if err := p.validate(); err != nil {
		return nil, st, fmt.Errorf("chunk params: %w", err)
	}
	if err := validStore(storeName); err != nil {
		return nil, st, err
	}
	sw, err := newStoreWriter(storeDir, o.Zstd)
	if err != nil {
		return nil, st, err
	}
	defer sw.abandon()
	ix := &Index{Params: p, Store: storeName, Zstd: o.Zstd}
	whole := sha256.New()
	ck := chunker.NewWithBoundaries(io.TeeReader(image, whole), p.Pol, uint(p.MinSize), uint(p.MaxSize))
	ck.SetAverageBits(int(p.AvgBits))
	buf := make([]byte, p.MaxSize)
	seen := map[[sha256.Size]byte]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		c, err := ck.Next(buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, st, fmt.Errorf("chunk image at byte %d: %w", ix.ImageSize, err)
		}
		sum := sha256.Sum256(c.Data)
		ix.Chunks = append(ix.Chunks, Chunk{Offset: ix.ImageSize, Size: uint32(c.Length), Sum: sum})
		ix.ImageSize += int64(c.Length)
		if !seen[sum] {
			seen[sum] = true
			wrote, err := sw.put(sum, c.Data)
			if err != nil {
				return nil, st, err
			}
			if wrote > 0 {
				st.StoredChunks++
				st.StoredBytes += wrote
			}
		}
	}
	copy(ix.ImageSum[:], whole.Sum(nil))
	if err := sw.flush(); err != nil {
		return nil, st, err
	}
	st.Chunks, st.Unique = len(ix.Chunks), len(seen)
	return ix, st, nil
}

// WriteIndexFile writes ix to path atomically (temp, fsync, rename, fsync
// of the directory).
func WriteIndexFile(path string, ix *Index) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write index %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	// CreateTemp makes 0600; the index is published, for a web server to
	// read like the image beside it.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("write index %s: %w", path, err)
	}
	if _, err := ix.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write index %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write index %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write index %s: %w", path, err)
	}
	if err := durable.Rename(tmp, path); err != nil {
		return fmt.Errorf("write index %s: %w", path, err)
	}
	return nil
}

// storeWriter batches chunk files: written to .tmp, synced together, then
// renamed into place.
type storeWriter struct {
	dir, tmp     string
	zw           *zstd.Encoder // nil: plain chunk files
	pending      [][sha256.Size]byte
	pendingBytes int64
}

const flushBytes = 256 << 20

func newStoreWriter(dir string, compress bool) (*storeWriter, error) {
	tmp := filepath.Join(dir, ".tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("chunk store %s: %w", dir, err)
	}
	s := &storeWriter{dir: dir, tmp: tmp}
	if compress {
		zw, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		s.zw = zw
	}
	return s, nil
}

func (s *storeWriter) final(sum [sha256.Size]byte) string {
	ix := Index{Zstd: s.zw != nil}
	return filepath.Join(s.dir, filepath.FromSlash(ix.ChunkPath(Chunk{Sum: sum})))
}

// put writes a chunk unless the store has it; it reports the bytes of
// the file it wrote (0: none).
func (s *storeWriter) put(sum [sha256.Size]byte, data []byte) (int64, error) {
	final := s.final(sum)
	// A plain file of the right size, or a compressed one (written
	// whole, by rename), is that chunk's: files are named by digest.
	if st, err := os.Lstat(final); err == nil && st.Mode().IsRegular() && (st.Size() == int64(len(data)) || s.zw != nil && st.Size() > 0) {
		return 0, nil
	}
	if s.zw != nil {
		data = s.zw.EncodeAll(data, nil)
	}
	tmp := filepath.Join(s.tmp, filepath.Base(final))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return 0, fmt.Errorf("chunk store: %w", err)
	}
	s.pending = append(s.pending, sum)
	s.pendingBytes += int64(len(data))
	if s.pendingBytes >= flushBytes {
		return int64(len(data)), s.flush()
	}
	return int64(len(data)), nil
}

func (s *storeWriter) flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("chunk store %s: %w", s.dir, err)
	}
	defer d.Close()
	// One syncfs makes every temp file of the batch durable.
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("chunk store %s: syncfs: %w", s.dir, err)
	}
	dirs := map[string]bool{}
	for _, sum := range s.pending {
		final := s.final(sum)
		sub := filepath.Dir(final)
		if !dirs[sub] {
			if err := os.Mkdir(sub, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("chunk store: %w", err)
			}
			dirs[sub] = true
		}
		if err := os.Rename(filepath.Join(s.tmp, filepath.Base(final)), final); err != nil {
			return fmt.Errorf("chunk store: %w", err)
		}
	}
	for sub := range dirs {
		if err := durable.SyncDir(sub); err != nil {
			return err
		}
	}
	if err := durable.SyncDir(s.dir); err != nil {
		return err
	}
	s.pending, s.pendingBytes = s.pending[:0], 0
	return nil
}

// abandon removes the temp files of a Make that failed.
func (s *storeWriter) abandon() {
	for _, sum := range s.pending {
		os.Remove(filepath.Join(s.tmp, filepath.Base(s.final(sum))))
	}
	os.Remove(s.tmp)
}
