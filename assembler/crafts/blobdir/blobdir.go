package blobdir

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/internal/rootfs"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// Store is the plain blob directory of devices without containerd:
// <dir>/sha256/<hex> complete blobs, <dir>/ingest/<hex> partial downloads
// (their size is the written offset). The running sha256 state of each
// ingest is checkpointed under stateDir, so a resume hashes only the bytes
// written since the last checkpoint instead of re-reading the whole prefix.
type Store struct {
	// root opens every path below the device root without following a
	// symlink and without blocking on a FIFO.
	root     rootfs.Root
	dir      string
	stateDir string
	// CheckpointEvery is how many bytes go between hash-state checkpoints.
	CheckpointEvery int64
}

// New is the blob directory of a root (<root>/persist/blobs).
func New(root string) *Store {
	return &Store{
		root:            rootfs.New(root),
		dir:             layout.BlobsPath(root),
		stateDir:        layout.IngestStatePath(root),
		CheckpointEvery: 4 << 20,
	}
}

func hexOf(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("blob digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("blob digest %q: only sha256 is supported", d)
	}
	return d.Encoded(), nil
}

// Path is <dir>/sha256/<hex> (whether or not it exists).
func (s *Store) Path(d digest.Digest) string {
	h, err := hexOf(d)
	if err != nil {
		return ""
	}
	return filepath.Join(s.dir, "sha256", h)
}

func (s *Store) ingestPath(h string) string { return filepath.Join(s.dir, "ingest", h) }
func (s *Store) statePath(h string) string  { return filepath.Join(s.stateDir, h+".sha256state") }

// Has reports whether the complete blob is there.
func (s *Store) Has(ctx context.Context, d digest.Digest) (bool, int64, error) {
	h, err := hexOf(d)
	if err != nil {
		return false, 0, err
	}
	mode, size, err := s.root.Lstat(filepath.Join(s.dir, "sha256", h))
	if errors.Is(err, fs.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("stat blob %s: %w", d, err)
	}
	return mode.IsRegular(), size, nil
}

// Open reads a complete blob.
func (s *Store) Open(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	p := s.Path(d)
	if p == "" {
		return nil, fmt.Errorf("open blob: bad digest %q", d)
	}
	f, err := s.root.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	return f, nil
}

// Delete removes the blob, its partial ingest and its hash state.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	h, err := hexOf(d)
	if err != nil {
		return err
	}
	for _, p := range []string{filepath.Join(s.dir, "sha256", h), s.ingestPath(h), s.statePath(h), s.statePath(h) + ".tmp"} {
		if err := s.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete blob %s: %w", d, err)
		}
		_ = s.root.SyncDir(filepath.Dir(p))
	}
	return nil
}

// device.Ingest opens (or resumes) the partial download of b.
func (s *Store) Ingest(ctx context.Context, b materials.Blob) (device.Ingest, error) {
	h, err := hexOf(b.Digest)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{filepath.Join(s.dir, "ingest"), filepath.Join(s.dir, "sha256"), s.stateDir} {
		if err := s.root.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("ingest %s: %w", b.Digest, err)
		}
	}
	f, err := s.openScratch(s.ingestPath(h), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ingest %s: %w", b.Digest, err)
	}
	in := &dirIngest{store: s, hex: h, want: b.Digest, f: f}
	if err := in.restore(); err != nil {
		f.Close()
		return nil, fmt.Errorf("ingest %s: resume: %w", b.Digest, err)
	}
	return in, nil
}

// openScratch opens one of the store's own work files (a partial, a hash
// state). Whatever else sits at its name (a symlink, a FIFO, a device) is
// never opened: the entry itself is removed and the file started afresh.
func (s *Store) openScratch(p string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := s.root.OpenFile(p, flag, perm)
	if errors.Is(err, rootfs.ErrSymlink) || errors.Is(err, rootfs.ErrNotRegular) {
		if rerr := s.root.Remove(p); rerr != nil {
			return nil, err
		}
		f, err = s.root.OpenFile(p, flag|os.O_CREATE|os.O_EXCL, perm)
	}
	return f, err
}

type dirIngest struct {
	store      *Store
	hex        string
	want       digest.Digest
	f          *os.File
	h          hash.Hash
	offset     int64
	checkpoint int64
	done       bool
}

const stateMagic = "ewsha256"

// restore rebuilds the running hash of the bytes already written: from the
// checkpointed state plus the tail after it, or from the whole prefix when
// there is no usable checkpoint.
func (in *dirIngest) restore() error {
	st, err := in.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	in.h = sha256.New()
	from := int64(0)
	if size == 0 {
		// A fresh start: a state left by an earlier, deleted partial is void.
		in.dropState()
	}
	// A state that is not a small regular file is void (it is replaced at
	// the next checkpoint).
	if raw, err := in.store.root.ReadFile(in.store.statePath(in.hex), 4096); err == nil && len(raw) > len(stateMagic)+8 && string(raw[:len(stateMagic)]) == stateMagic {
		at := int64(binary.BigEndian.Uint64(raw[len(stateMagic):]))
		h := sha256.New()
		if at <= size && h.(encoding.BinaryUnmarshaler).UnmarshalBinary(raw[len(stateMagic)+8:]) == nil {
			in.h, from = h, at
		}
	}
	if _, err := in.f.Seek(from, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.CopyN(in.h, in.f, size-from); err != nil {
		return fmt.Errorf("re-hash %d bytes of the partial: %w", size-from, err)
	}
	in.offset, in.checkpoint = size, from
	return nil
}

func (in *dirIngest) Offset() int64 { return in.offset }

func (in *dirIngest) Write(p []byte) (int, error) {
	n, err := in.f.Write(p)
	in.h.Write(p[:n])
	in.offset += int64(n)
	if err != nil {
		return n, err
	}
	if in.store.CheckpointEvery > 0 && in.offset-in.checkpoint >= in.store.CheckpointEvery {
		if err := in.saveState(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// saveState records the running hash without an fsync: a checkpoint that
// claims more bytes than survived a crash is caught on resume (the state's
// offset is past the file's size, so the prefix is re-hashed), and one
// whose bytes were torn makes the commit's digest check fail, which
// restarts the download — a bounded cost, paid only after a crash, instead
// of an fsync every few MiB on every download.
func (in *dirIngest) saveState() error {
	st, err := in.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString(stateMagic)
	binary.Write(&buf, binary.BigEndian, uint64(in.offset))
	buf.Write(st)
	tmp := in.store.statePath(in.hex) + ".tmp"
	f, err := in.store.openScratch(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(buf.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := in.store.root.Rename(tmp, in.store.statePath(in.hex)); err != nil {
		return err
	}
	in.checkpoint = in.offset
	return nil
}

// dropState removes the hash state and a checkpoint a kill left half
// made (its .tmp): neither means anything without the partial's bytes.
func (in *dirIngest) dropState() {
	_ = in.store.root.Remove(in.store.statePath(in.hex))
	_ = in.store.root.Remove(in.store.statePath(in.hex) + ".tmp")
}

func (in *dirIngest) Truncate() error {
	in.dropState()
	if err := in.f.Truncate(0); err != nil {
		return err
	}
	if _, err := in.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	in.h, in.offset, in.checkpoint = sha256.New(), 0, 0
	return nil
}

func (in *dirIngest) discard() {
	in.f.Close()
	in.store.root.Remove(in.f.Name())
	in.dropState()
	in.done = true
}

// Abort removes the partial and its hash state: nothing will resume it.
func (in *dirIngest) Abort() error {
	if !in.done {
		in.discard()
	}
	return nil
}

func (in *dirIngest) Commit(ctx context.Context, expectedSize int64) error {
	if in.done {
		return errors.New("ingest already closed")
	}
	got := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(in.h.Sum(nil)))
	if got != in.want || (expectedSize > 0 && in.offset != expectedSize) {
		in.discard()
		if got == in.want {
			return &device.DigestMismatchError{Want: fmt.Sprintf("%s (%d bytes)", in.want, expectedSize), Got: fmt.Sprintf("%s (%d bytes)", got, in.offset)}
		}
		return &device.DigestMismatchError{Want: string(in.want), Got: string(got)}
	}
	if err := in.f.Sync(); err != nil {
		return fmt.Errorf("commit blob %s: %w", in.want, err)
	}
	if err := in.f.Close(); err != nil {
		return fmt.Errorf("commit blob %s: %w", in.want, err)
	}
	in.done = true
	// The hash state goes before the partial becomes the blob: once the
	// blob exists no ingest of it runs again to clear a state left behind
	// (a kill between the two), and a partial without its state only
	// costs a re-hash on resume.
	in.dropState()
	final := filepath.Join(in.store.dir, "sha256", in.hex)
	if err := in.store.root.Rename(in.f.Name(), final); err != nil {
		return fmt.Errorf("commit blob %s: %w", in.want, err)
	}
	if err := in.store.root.SyncDir(filepath.Dir(final)); err != nil {
		return fmt.Errorf("commit blob %s: %w", in.want, err)
	}
	_ = in.store.root.SyncDir(filepath.Dir(in.f.Name()))
	return nil
}

// Close keeps the partial and checkpoints the hash state for a resume.
func (in *dirIngest) Close() error {
	if in.done {
		return nil
	}
	in.done = true
	var err error
	if in.offset > in.checkpoint {
		err = in.saveState()
	}
	if cerr := in.f.Close(); err == nil {
		err = cerr
	}
	return err
}
