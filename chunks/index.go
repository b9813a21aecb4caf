package chunks

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/restic/chunker"
)

// Version is the index format version this package writes and reads.
const Version = 1

const (
	magic = "EWCHUNKS"
	// MaxChunkSize bounds an index's maxSize: a device holds a few
	// chunks of this size in memory per parallel fetch.
	MaxChunkSize = 16 << 20
	// minMinSize is the chunker's window: a smaller minimum cannot cut.
	minMinSize  = 64
	headerFixed = 8 + 2 + 2 + 8 + 4 + 4 + 1 + 1
	entrySize   = 8 + 4 + sha256.Size
)

// ErrBadIndex: an index that is damaged, lies about its image, or breaks a
// limit. Callers fall back to the whole download on it.
var ErrBadIndex = errors.New("bad chunk index")

// Params are the chunker's parameters; an index records the ones its cuts
// used, and seeds are cut with the same ones.
type Params struct {
	Pol     chunker.Pol
	MinSize uint32
	MaxSize uint32
	AvgBits uint8
}

// DefaultParams cut chunks of about 10 KiB (2 KiB minimum, 64 KiB
// maximum): small enough that a scattered 64 KiB write costs little more
// than itself, large enough that a 1 GiB image has ~100k chunks.
var DefaultParams = Params{Pol: 0x3DA3358B4DC173, MinSize: 2 << 10, MaxSize: 64 << 10, AvgBits: 13}

func (p Params) validate() error {
	switch {
	case p.MinSize < minMinSize:
		return fmt.Errorf("minSize %d is below %d", p.MinSize, minMinSize)
	case p.MaxSize < p.MinSize:
		return fmt.Errorf("maxSize %d is below minSize %d", p.MaxSize, p.MinSize)
	case p.MaxSize > MaxChunkSize:
		return fmt.Errorf("maxSize %d is above %d", p.MaxSize, MaxChunkSize)
	case p.AvgBits < 8 || p.AvgBits > 24:
		return fmt.Errorf("avgBits %d is outside 8..24", p.AvgBits)
	case p.Pol.Deg() < 40 || p.Pol.Deg() > 53 || !p.Pol.Irreducible():
		// The chunker needs degree <= 53; a reducible polynomial cuts badly.
		return fmt.Errorf("polynomial %#x is not an irreducible polynomial of degree 40..53", uint64(p.Pol))
	}
	return nil
}

// Chunk is one chunk of an image.
type Chunk struct {
	Offset int64
	Size   uint32
	Sum    [sha256.Size]byte
}

// Hex is the chunk's sha256 in hex, its name in a chunk store.
func (c Chunk) Hex() string { return hex.EncodeToString(c.Sum[:]) }

// Index lists an image's chunks in order.
type Index struct {
	Params Params
	// Zstd: every chunk file of the store is one zstd frame of the
	// chunk (flag FlagZstd), named ChunkPath's way.
	Zstd bool
	// Store is the chunk store's path relative to the index's directory.
	Store     string
	ImageSize int64
	ImageSum  [sha256.Size]byte
	Chunks    []Chunk
}

// ImageDigest is the image's digest in OCI form ("sha256:<hex>").
func (ix *Index) ImageDigest() string { return "sha256:" + hex.EncodeToString(ix.ImageSum[:]) }

// StorePath is where chunk c lives below a chunk store.
func StorePath(c Chunk) string {
	h := c.Hex()
	return h[:2] + "/" + h
}

// FlagZstd is the index flag of a store of zstd-compressed chunk files.
const FlagZstd = 1

// ZstdSuffix ends a compressed chunk file's name, so one store holds the
// plain and the compressed file of a chunk apart.
const ZstdSuffix = ".zst"

// ChunkPath is where the index's chunk c lives below its store.
func (ix *Index) ChunkPath(c Chunk) string {
	if ix.Zstd {
		return StorePath(c) + ZstdSuffix
	}
	return StorePath(c)
}

// MaxFileSize bounds the body of chunk c's file: its size, or for a
// compressed store zstd's worst case for incompressible bytes.
func (ix *Index) MaxFileSize(c Chunk) int64 {
	if ix.Zstd {
		return int64(c.Size) + int64(c.Size)/128 + 1024
	}
	return int64(c.Size)
}

// ChunkDecoder turns the files of an index's store into chunks; it is
// safe for concurrent use.
type ChunkDecoder struct {
	zd *zstd.Decoder
}

// NewChunkDecoder is the decoder for ix's store. A compressed file is
// decoded within the index's largest chunk: a file that would expand past
// it (a zstd bomb) fails, after at most that much memory.
func NewChunkDecoder(ix *Index) (*ChunkDecoder, error) {
	if !ix.Zstd {
		return &ChunkDecoder{}, nil
	}
	zd, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(ix.Params.MaxSize)),
		zstd.WithDecoderMaxWindow(max(uint64(ix.Params.MaxSize), zstd.MinWindowSize)))
	if err != nil {
		return nil, err
	}
	return &ChunkDecoder{zd: zd}, nil
}

// Decode is chunk c from its file's bytes; Assemble still checks its size
// and digest.
func (d *ChunkDecoder) Decode(c Chunk, file []byte) ([]byte, error) {
	if d.zd == nil {
		return file, nil
	}
	out, err := d.zd.DecodeAll(file, make([]byte, 0, c.Size))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk file of sha256:%s: zstd: %v", ErrChunkDigest, c.Hex(), err)
	}
	if len(out) > int(c.Size) {
		return nil, fmt.Errorf("%w: chunk file of sha256:%s expands to %d bytes, more than its %d", ErrChunkDigest, c.Hex(), len(out), c.Size)
	}
	return out, nil
}

// Close releases the decoder.
func (d *ChunkDecoder) Close() {
	if d.zd != nil {
		d.zd.Close()
	}
}

func validStore(s string) error {
	if s == "" || len(s) > 255 || path.IsAbs(s) || path.Clean(s) != s || s == ".." || strings.HasPrefix(s, "../") || strings.ContainsAny(s, "\\?#%:\x00") {
		return fmt.Errorf("store %q is not a clean relative path", s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("store %q has a control character", s)
		}
	}
	return nil
}

// WriteTo writes the index in the format of the package doc.
func (ix *Index) WriteTo(w io.Writer) (int64, error) {
	if err := ix.check(Limits{}); err != nil {
		return 0, err
	}
	return ix.encode(w)
}

// encode writes the index without checking it (tests write lying ones).
func (ix *Index) encode(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	zw, err := zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return 0, err
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(zw, h), 64<<10)
	var b [headerFixed + 255 + 8 + sha256.Size + 8]byte
	n := copy(b[:], magic)
	binary.BigEndian.PutUint16(b[n:], Version)
	var flags uint16
	if ix.Zstd {
		flags |= FlagZstd
	}
	binary.BigEndian.PutUint16(b[n+2:], flags)
	binary.BigEndian.PutUint64(b[n+4:], uint64(ix.Params.Pol))
	binary.BigEndian.PutUint32(b[n+12:], ix.Params.MinSize)
	binary.BigEndian.PutUint32(b[n+16:], ix.Params.MaxSize)
	b[n+20] = ix.Params.AvgBits
	b[n+21] = byte(len(ix.Store))
	n += 22
	n += copy(b[n:], ix.Store)
	binary.BigEndian.PutUint64(b[n:], uint64(ix.ImageSize))
	n += 8
	n += copy(b[n:], ix.ImageSum[:])
	binary.BigEndian.PutUint64(b[n:], uint64(len(ix.Chunks)))
	n += 8
	bw.Write(b[:n])
	var e [entrySize]byte
	for _, c := range ix.Chunks {
		binary.BigEndian.PutUint64(e[:], uint64(c.Offset))
		binary.BigEndian.PutUint32(e[8:], c.Size)
		copy(e[12:], c.Sum[:])
		bw.Write(e[:])
	}
	if err := bw.Flush(); err != nil {
		zw.Close()
		return cw.n, err
	}
	if _, err := zw.Write(h.Sum(nil)); err != nil {
		zw.Close()
		return cw.n, err
	}
	err = zw.Close()
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Limits bound what Parse accepts from outside.
type Limits struct {
	// MaxImageSize refuses an index for a larger image (the content
	// tree's maxSizeBytes); 0 means no bound beyond the format's.
	MaxImageSize int64
	// MaxChunks refuses an index of more chunks; 0 means 1<<24 (16M
	// chunks, 768 MiB of entries).
	MaxChunks int64
	// WantSum, when non-zero, refuses an index for another image.
	WantSum [sha256.Size]byte
	// WantSize, when > 0, refuses an index for an image of another size.
	WantSize int64
}

func (l Limits) maxChunks() int64 {
	if l.MaxChunks > 0 {
		return l.MaxChunks
	}
	return 1 << 24
}

// Parse reads an index (the format of the package doc) within lim. Every
// refusal wraps ErrBadIndex and names the field and its value.
func Parse(r io.Reader, lim Limits) (*Index, error) {
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20), zstd.WithDecoderMaxWindow(8<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadIndex, err)
	}
	defer zr.Close()
	h := sha256.New()
	br := bufio.NewReaderSize(zr, 64<<10)
	ix, err := parse(io.TeeReader(br, h), h, lim)
	if err != nil {
		if !errors.Is(err, ErrBadIndex) {
			err = fmt.Errorf("%w: %v", ErrBadIndex, err)
		}
		return nil, err
	}
	// Nothing may follow the trailer.
	var one [1]byte
	if n, _ := io.ReadFull(br, one[:]); n > 0 {
		return nil, fmt.Errorf("%w: bytes after the trailer", ErrBadIndex)
	}
	return ix, nil
}

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadIndex}, a...)...)
}

func parse(r io.Reader, h hash.Hash, lim Limits) (*Index, error) {
	var b [headerFixed]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, bad("header: %v", err)
	}
	if string(b[:8]) != magic {
		return nil, bad("magic %q is not %q", b[:8], magic)
	}
	if v := binary.BigEndian.Uint16(b[8:]); v != Version {
		return nil, bad("version %d is not %d", v, Version)
	}
	flags := binary.BigEndian.Uint16(b[10:])
	if flags&^FlagZstd != 0 {
		return nil, bad("flags %#x: only %#x is defined", flags, FlagZstd)
	}
	ix := &Index{Zstd: flags&FlagZstd != 0, Params: Params{
		Pol:     chunker.Pol(binary.BigEndian.Uint64(b[12:])),
		MinSize: binary.BigEndian.Uint32(b[20:]),
		MaxSize: binary.BigEndian.Uint32(b[24:]),
		AvgBits: b[28],
	}}
	if err := ix.Params.validate(); err != nil {
		return nil, bad("params: %v", err)
	}
	store := make([]byte, b[29])
	if _, err := io.ReadFull(r, store); err != nil {
		return nil, bad("store: %v", err)
	}
	ix.Store = string(store)
	if err := validStore(ix.Store); err != nil {
		return nil, bad("%v", err)
	}
	var t [8 + sha256.Size + 8]byte
	if _, err := io.ReadFull(r, t[:]); err != nil {
		return nil, bad("image header: %v", err)
	}
	size := binary.BigEndian.Uint64(t[:])
	if size > 1<<50 || (lim.MaxImageSize > 0 && size > uint64(lim.MaxImageSize)) {
		return nil, bad("imageSize %d is above the bound %d", size, lim.MaxImageSize)
	}
	ix.ImageSize = int64(size)
	if lim.WantSize > 0 && ix.ImageSize != lim.WantSize {
		return nil, bad("imageSize %d: the image is %d bytes", ix.ImageSize, lim.WantSize)
	}
	copy(ix.ImageSum[:], t[8:])
	if lim.WantSum != ([sha256.Size]byte{}) && ix.ImageSum != lim.WantSum {
		return nil, bad("index is for image sha256:%x, not sha256:%x", ix.ImageSum, lim.WantSum)
	}
	count := binary.BigEndian.Uint64(t[8+sha256.Size:])
	// Every chunk but the last is at least minSize, and none is empty.
	most := size/uint64(ix.Params.MinSize) + 1
	if size == 0 {
		most = 0
	}
	least := (size + uint64(ix.Params.MaxSize) - 1) / uint64(ix.Params.MaxSize)
	if count > most || count < least || count > uint64(lim.maxChunks()) {
		return nil, bad("count %d: an image of %d bytes cut at %d..%d bytes has %d..%d chunks (bound %d)", count, size, ix.Params.MinSize, ix.Params.MaxSize, least, most, lim.maxChunks())
	}
	// Entries are read in batches so a lying count costs no allocation
	// beyond what the stream really holds.
	ix.Chunks = make([]Chunk, 0, min(count, 1<<16))
	var e [entrySize]byte
	next := int64(0)
	for i := uint64(0); i < count; i++ {
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return nil, bad("chunk %d of %d: %v", i, count, err)
		}
		c := Chunk{Offset: int64(binary.BigEndian.Uint64(e[:])), Size: binary.BigEndian.Uint32(e[8:])}
		copy(c.Sum[:], e[12:])
		switch {
		case c.Offset != next:
			return nil, bad("chunk %d: offset %d, the previous chunk ended at %d (chunks must tile the image)", i, c.Offset, next)
		case c.Size == 0 || c.Size > ix.Params.MaxSize:
			return nil, bad("chunk %d at offset %d: size %d is outside 1..%d", i, c.Offset, c.Size, ix.Params.MaxSize)
		case c.Size < ix.Params.MinSize && i != count-1:
			return nil, bad("chunk %d at offset %d: size %d is below minSize %d and it is not the last", i, c.Offset, c.Size, ix.Params.MinSize)
		case uint64(c.Offset)+uint64(c.Size) > size:
			return nil, bad("chunk %d at offset %d: size %d ends past the image's %d bytes", i, c.Offset, c.Size, size)
		}
		next = c.Offset + int64(c.Size)
		ix.Chunks = append(ix.Chunks, c)
	}
	if next != ix.ImageSize {
		return nil, bad("chunks end at %d, the image is %d bytes", next, ix.ImageSize)
	}
	sum := h.Sum(nil)
	var trailer [sha256.Size]byte
	if _, err := io.ReadFull(r, trailer[:]); err != nil {
		return nil, bad("trailer: %v", err)
	}
	if !bytes.Equal(sum, trailer[:]) {
		return nil, bad("trailer %x does not match the index's sha256 %x (damaged)", trailer, sum)
	}
	return ix, nil
}

// check validates an index built in memory (Make's, or a test's) as Parse
// would.
func (ix *Index) check(_ Limits) error {
	if err := ix.Params.validate(); err != nil {
		return bad("params: %v", err)
	}
	if err := validStore(ix.Store); err != nil {
		return bad("%v", err)
	}
	next := int64(0)
	for i, c := range ix.Chunks {
		if c.Offset != next || c.Size == 0 || c.Size > ix.Params.MaxSize {
			return bad("chunk %d: offset %d size %d does not tile", i, c.Offset, c.Size)
		}
		next += int64(c.Size)
	}
	if next != ix.ImageSize {
		return bad("chunks end at %d, the image is %d bytes", next, ix.ImageSize)
	}
	return nil
}
