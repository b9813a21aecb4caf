package ctrstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/edgewright/edgewright/assembler/oci"
	"github.com/edgewright/edgewright/internal/testenv"
)

// These tests drive the pipelined Writer directly against a confined
// containerd, with blobs of several chunks so that writes are in flight
// while more are queued.

func newStoreFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ctrd: testenv.StartContainerd(t)}
	f.store = f.open(t, "edge")
	return f
}

func randomBlob(seed uint64, size int) ([]byte, ocispec.Descriptor) {
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= size; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	for i := size - size%8; i < size; i++ {
		data[i] = byte(r.Uint32())
	}
	return data, ocispec.Descriptor{Digest: digest.FromBytes(data), Size: int64(size), MediaType: "application/octet-stream"}
}

// writeIn writes p in pieces of n bytes, as a fetch loop does.
func writeIn(w *Writer, p []byte, n int) error {
	for len(p) > 0 {
		k := min(n, len(p))
		m, err := w.Write(p[:k])
		if err != nil {
			return err
		}
		if m != k {
			return io.ErrShortWrite
		}
		p = p[k:]
	}
	return nil
}

func (f *fixture) readBlob(t *testing.T, desc ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := f.store.Open(context.Background(), desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noIngestGoroutines fails when a Writer's sender or receiver outlived it.
func noIngestGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "(*ingestStream).send") && !strings.Contains(stacks, "(*ingestStream).receive") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("an ingest's goroutines are still running:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWriterResumesAfterPartialWrite: a Writer closed part way (with its
// last chunk partly filled and earlier ones in flight) leaves all it took
// in containerd's ingest; a new connection resumes there, and the blob
// commits whole, with its labels.
func TestWriterResumesAfterPartialWrite(t *testing.T) {
	ctx := context.Background()
	f := newStoreFixture(t)
	data, desc := randomBlob(1, 6*chunkSize+1234)
	part := 3*chunkSize + chunkSize/2 + 17 // not on a chunk boundary

	w, err := f.store.Writer(ctx, "tree-p", desc)
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 0 {
		t.Fatalf("fresh ingest at %d", w.Offset())
	}
	if err := writeIn(w, data[:part], 100<<10); err != nil {
		t.Fatal(err)
	}
	if w.Offset() != int64(part) {
		t.Fatalf("offset %d after writing %d", w.Offset(), part)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, errIngestClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if err := w.Commit(nil); !errors.Is(err, errIngestClosed) {
		t.Fatalf("commit after close: %v", err)
	}
	noIngestGoroutines(t)

	s2 := f.open(t, "edge")
	if bs, err := s2.Status(ctx, desc.Digest); err != nil || bs.Committed || bs.Offset != int64(part) {
		t.Fatalf("status after close: %+v, %v", bs, err)
	}
	w2, err := s2.Writer(ctx, "tree-p", desc)
	if err != nil {
		t.Fatal(err)
	}
	if w2.Offset() != int64(part) {
		t.Fatalf("resumed at %d, want %d", w2.Offset(), part)
	}
	if err := writeIn(w2, data[part:], 300<<10); err != nil {
		t.Fatal(err)
	}
	if err := w2.Commit(map[string]string{gcRefPrefix + "x": "sha256:abc"}); err != nil {
		t.Fatal(err)
	}
	noIngestGoroutines(t)
	info, ok := f.info(t, s2, desc.Digest)
	if !ok || info.Size != desc.Size || info.Labels[OwnerLabel] != OwnerValue || info.Labels[gcRefPrefix+"x"] != "sha256:abc" {
		t.Fatalf("committed blob %+v (found %v)", info, ok)
	}
	if got := f.readBlob(t, desc); !bytes.Equal(got, data) {
		t.Fatal("committed bytes differ from the blob")
	}
	// Opening it again finds it committed.
	if _, err := s2.Writer(ctx, "tree-p", desc); !errors.Is(err, ErrCommitted) {
		t.Fatalf("writer on a committed blob: %v", err)
	}
}

// TestWriterTruncateWithChunksInFlight: starting over while earlier chunks
// are still unanswered writes the new bytes from offset 0 only.
func TestWriterTruncateWithChunksInFlight(t *testing.T) {
	ctx := context.Background()
	f := newStoreFixture(t)
	data, desc := randomBlob(2, 3*chunkSize+5)
	garbage, _ := randomBlob(3, 2*chunkSize+chunkSize/3)
	w, err := f.store.Writer(ctx, "tree-t", desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeIn(w, garbage, chunkSize); err != nil {
		t.Fatal(err)
	}
	if err := w.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 0 {
		t.Fatalf("offset %d after truncate", w.Offset())
	}
	if err := w.Truncate(5); err == nil {
		t.Fatal("truncate to 5 accepted")
	}
	if err := writeIn(w, data, 64<<10); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(nil); err != nil {
		t.Fatal(err)
	}
	if got := f.readBlob(t, desc); !bytes.Equal(got, data) {
		t.Fatal("committed bytes differ from the blob")
	}
}

// TestWriterDigestMismatch: wrong bytes of the right size are caught by
// the running digest before the commit, and the ingest is discarded; too
// few bytes are refused by containerd's commit, and discarded too.
func TestWriterDigestMismatch(t *testing.T) {
	ctx := context.Background()
	f := newStoreFixture(t)
	data, desc := randomBlob(4, 4*chunkSize+99)
	bad := bytes.Clone(data)
	bad[2*chunkSize+7] ^= 1

	w, err := f.store.Writer(ctx, "tree-d", desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeIn(w, bad, 256<<10); err != nil {
		t.Fatal(err)
	}
	err = w.Commit(nil)
	var dm *oci.DigestMismatchError
	if !errors.As(err, &dm) || dm.Want != desc.Digest || dm.Got != digest.FromBytes(bad) {
		t.Fatalf("commit of wrong bytes: %v", err)
	}
	if _, ok := f.info(t, f.store, desc.Digest); ok {
		t.Fatal("wrong bytes committed")
	}
	if bs, err := f.store.Status(ctx, desc.Digest); err != nil || bs.Committed || bs.Offset != 0 {
		t.Fatalf("bad ingest kept: %+v, %v", bs, err)
	}

	w, err = f.store.Writer(ctx, "tree-d", desc)
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 0 {
		t.Fatalf("discarded ingest resumes at %d", w.Offset())
	}
	if err := writeIn(w, data[:len(data)-1], 512<<10); err != nil {
		t.Fatal(err)
	}
	err = w.Commit(nil)
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "ingest discarded") {
		t.Fatalf("commit of a short blob: %v", err)
	}
	if bs, err := f.store.Status(ctx, desc.Digest); err != nil || bs.Committed || bs.Offset != 0 {
		t.Fatalf("short ingest kept: %+v, %v", bs, err)
	}
	noIngestGoroutines(t)
}

// TestWriterCanceledMidStream: cancelling the context while chunks are in
// flight fails the next Write with the context's error (nothing hangs),
// Close returns, no goroutine is left, and containerd's ingest holds a
// correct prefix of whole chunks that a new Writer resumes from.
func TestWriterCanceledMidStream(t *testing.T) {
	f := newStoreFixture(t)
	data, desc := randomBlob(5, 32*chunkSize)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := f.store.Writer(ctx, "tree-c", desc)
	if err != nil {
		t.Fatal(err)
	}
	const before = 6 * chunkSize
	if err := writeIn(w, data[:before], chunkSize); err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan error, 1)
	go func() {
		// Keep writing as a fetch would, until the writer notices.
		for off := before; off < len(data); off += chunkSize {
			if _, err := w.Write(data[off : off+chunkSize]); err != nil {
				done <- err
				return
			}
		}
		done <- w.Commit(nil)
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("write after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writer hung after cancel")
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("close hung after cancel")
	}
	noIngestGoroutines(t)

	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	w2, err := f.store.Writer(ctx2, "tree-c", desc) // waits for containerd to release the ref
	if err != nil {
		t.Fatal(err)
	}
	off := w2.Offset()
	if off%chunkSize != 0 || off > int64(len(data)) {
		t.Fatalf("ingest after cancel at %d: not whole chunks", off)
	}
	t.Logf("cancelled after %d bytes written; containerd kept %d", before, off)
	if err := writeIn(w2, data[off:], chunkSize); err != nil {
		t.Fatal(err)
	}
	if err := w2.Commit(nil); err != nil {
		t.Fatal(err)
	}
	if got := f.readBlob(t, desc); !bytes.Equal(got, data) {
		t.Fatal("committed bytes differ from the blob")
	}
}

// TestWriterEmptyAndSmall: a zero-byte blob and one smaller than a chunk
// commit (the commit carries the final offset).
func TestWriterEmptyAndSmall(t *testing.T) {
	ctx := context.Background()
	f := newStoreFixture(t)
	for _, size := range []int{0, 1, 4095, chunkSize, chunkSize + 1} {
		data, desc := randomBlob(uint64(10+size), size)
		if err := f.store.Put(ctx, "tree-e", desc, data); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if got := f.readBlob(t, desc); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: committed bytes differ", size)
		}
	}
	noIngestGoroutines(t)
}
