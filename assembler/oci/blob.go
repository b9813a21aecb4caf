package oci

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"
)

// Sink is where a blob's bytes go: a containerd ingest writer or a file.
// Truncate(0) is called when the registry ignores Range (or the digest
// does not match) and the blob starts over; after it, writes continue at
// the new size.
type Sink interface {
	io.Writer
	Truncate(size int64) error
}

// Resume says where a fetch starts: the sink already holds the blob's
// first Offset bytes.
type Resume struct {
	Offset int64
	// Hash is the digest algorithm's state over the first Offset bytes; the
	// fetch updates it in place.
	Hash hash.Hash
	// Prefix, when Hash is nil and Offset > 0, yields the first Offset
	// bytes; it is read once to rebuild the hash.
	Prefix io.Reader
	// SinkVerifies says the sink checks the digest itself (a containerd
	// commit with the expected digest does); no hash is then kept here.
	SinkVerifies bool
	// Progress, if set, is told the offset reached after each write.
	Progress func(offset int64)
}

// fetchBuffer is the copy buffer: large enough to keep syscalls per GiB
// low, small enough for an edge device's memory.
const fetchBuffer = 1 << 20

// FetchBlob writes desc's bytes, from from.Offset on, into sink, asking the
// registry for `Range: bytes=N-<size-1>` when resuming (a 206 continues; a 200
// means the registry ignored the range, so the sink is truncated and the
// blob starts over), and verifies size and digest in the same pass.
//
// It returns where a later call should resume: on success the full size;
// after a cut, the offset reached with the hash state carried along. On a
// digest mismatch the sink is truncated to 0 and *DigestMismatchError is
// returned.
func (c *Client) FetchBlob(ctx context.Context, repo string, desc Descriptor, sink Sink, from Resume) (Resume, error) {
	if err := desc.Digest.Validate(); err != nil {
		return from, fmt.Errorf("fetch blob: digest %q: %w", desc.Digest, err)
	}
	if desc.Size < 0 || from.Offset < 0 || from.Offset > desc.Size {
		return from, fmt.Errorf("fetch blob %s: offset %d outside size %d", desc.Digest, from.Offset, desc.Size)
	}
	next := from
	if !next.SinkVerifies && next.Hash == nil {
		next.Hash = desc.Digest.Algorithm().Hash()
		if next.Offset > 0 {
			if next.Prefix == nil {
				return from, fmt.Errorf("fetch blob %s: resuming at %d needs the hash state or the prefix", desc.Digest, next.Offset)
			}
			n, err := io.Copy(next.Hash, io.LimitReader(next.Prefix, next.Offset))
			if err != nil {
				return from, fmt.Errorf("fetch blob %s: rehash prefix: %w", desc.Digest, err)
			}
			if n != next.Offset {
				return from, fmt.Errorf("fetch blob %s: prefix has %d bytes, want %d", desc.Digest, n, next.Offset)
			}
		}
	}
	next.Prefix = nil
	if next.Offset < desc.Size {
		if err := c.fetchRange(ctx, repo, desc, sink, &next); err != nil {
			return next, err
		}
	}
	if next.Hash != nil {
		got := digest.NewDigest(desc.Digest.Algorithm(), next.Hash)
		if got != desc.Digest {
			terr := sink.Truncate(0)
			bad := &DigestMismatchError{What: "blob " + repo + "@" + desc.Digest.String(), Want: desc.Digest, Got: got}
			if terr != nil {
				return Resume{SinkVerifies: from.SinkVerifies, Progress: from.Progress}, fmt.Errorf("%w (and truncating the sink failed: %v)", bad, terr)
			}
			return Resume{SinkVerifies: from.SinkVerifies, Progress: from.Progress}, bad
		}
	}
	return next, nil
}

func (c *Client) fetchRange(ctx context.Context, repo string, desc Descriptor, sink Sink, next *Resume) error {
	h := http.Header{}
	if next.Offset > 0 {
		// A closed range: some registries (go-containerregistry's) do
		// not accept the open form.
		h.Set("Range", "bytes="+strconv.FormatInt(next.Offset, 10)+"-"+strconv.FormatInt(desc.Size-1, 10))
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, repo: repo, path: repo + "/blobs/" + desc.Digest.String(), header: h})
	if err != nil {
		return fmt.Errorf("fetch blob %s@%s: %w", repo, desc.Digest, err)
	}
	defer resp.Body.Close()
	switch {
	case next.Offset > 0 && resp.StatusCode == http.StatusPartialContent:
		start, err := contentRangeStart(resp.Header.Get("Content-Range"))
		if err != nil || start != next.Offset {
			return fmt.Errorf("fetch blob %s@%s: asked from %d, got Content-Range %q", repo, desc.Digest, next.Offset, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if next.Offset > 0 {
			c.log.Debug("registry ignored Range; blob starts over", zap.String("digest", desc.Digest.String()), zap.Int64("offset", next.Offset))
			if err := sink.Truncate(0); err != nil {
				return fmt.Errorf("fetch blob %s: start over: %w", desc.Digest, err)
			}
			next.Offset = 0
			if next.Hash != nil {
				next.Hash.Reset()
			}
		}
	default:
		return fmt.Errorf("fetch blob %s@%s: unexpected status %d", repo, desc.Digest, resp.StatusCode)
	}
	// Hashing runs beside the copy (sha256 is as slow as a loopback
	// link), on buffers handed over once written; it is drained before
	// returning, so next.Hash always covers exactly next.Offset bytes.
	hp := newHashPipe(next.Hash)
	defer hp.wait()
	for {
		buf := hp.buffer()
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if next.Offset+int64(n) > desc.Size {
				return &SizeMismatchError{Digest: desc.Digest, Want: desc.Size, Got: next.Offset + int64(n)}
			}
			w, werr := sink.Write(buf[:n])
			hp.hash(buf[:w]) // only what the sink holds
			next.Offset += int64(w)
			if werr == nil && w < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return fmt.Errorf("fetch blob %s: write at %d: %w", desc.Digest, next.Offset, werr)
			}
			if next.Progress != nil {
				next.Progress(next.Offset)
			}
		}
		if n == 0 {
			hp.recycle(buf)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("fetch blob %s@%s: read at %d: %w", repo, desc.Digest, next.Offset, rerr)
		}
	}
	if next.Offset != desc.Size {
		return fmt.Errorf("fetch blob %s@%s: body ended at %d of %d bytes: %w", repo, desc.Digest, next.Offset, desc.Size, io.ErrUnexpectedEOF)
	}
	return nil
}

// contentRangeStart parses `bytes START-END/TOTAL`.
func contentRangeStart(v string) (int64, error) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, errors.New("not a bytes range")
	}
	start, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, errors.New("no dash")
	}
	return strconv.ParseInt(start, 10, 64)
}

// FileSink is a Sink over an *os.File opened for writing at its end: a
// blob directory's ingest file, whose size is the written offset.
type FileSink struct{ F *os.File }

func (s FileSink) Write(p []byte) (int, error) { return s.F.Write(p) }

// Truncate cuts the file and moves the write position to the new end.
func (s FileSink) Truncate(size int64) error {
	if err := s.F.Truncate(size); err != nil {
		return err
	}
	_, err := s.F.Seek(size, io.SeekStart)
	return err
}

// hashPipe hashes written buffers on its own goroutine, with a small pool
// of buffers (hashPipeBuffers x fetchBuffer bytes of memory).
type hashPipe struct {
	h    hash.Hash
	work chan []byte
	free chan []byte
	done chan struct{}
	one  []byte // the single buffer used when there is no hash
}

const hashPipeBuffers = 4

func newHashPipe(h hash.Hash) *hashPipe {
	p := &hashPipe{h: h}
	if h == nil {
		p.one = make([]byte, fetchBuffer)
		return p
	}
	p.work = make(chan []byte, hashPipeBuffers)
	p.free = make(chan []byte, hashPipeBuffers)
	p.done = make(chan struct{})
	for i := 0; i < hashPipeBuffers; i++ {
		p.free <- make([]byte, fetchBuffer)
	}
	go func() {
		defer close(p.done)
		for b := range p.work {
			h.Write(b)
			p.free <- b[:cap(b)]
		}
	}()
	return p
}

// buffer returns a buffer to read into.
func (p *hashPipe) buffer() []byte {
	if p.h == nil {
		return p.one
	}
	return <-p.free
}

// hash queues b (a buffer from buffer) for hashing; it comes back to the
// pool afterwards.
func (p *hashPipe) hash(b []byte) {
	if p.h != nil {
		p.work <- b
	}
}

// recycle returns an unused buffer to the pool.
func (p *hashPipe) recycle(b []byte) {
	if p.h != nil {
		p.free <- b[:cap(b)]
	}
}

// wait stops the hasher after it has hashed everything queued.
func (p *hashPipe) wait() {
	if p.h != nil {
		close(p.work)
		<-p.done
	}
}
