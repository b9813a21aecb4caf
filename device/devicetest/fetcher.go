package devicetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// FetcherRig is one device.Fetcher under the fetcher suite, with the
// datastore it fetches from.
type FetcherRig struct {
	// New makes the fetcher under test, logging to log.
	New func(t *testing.T, log *zap.Logger) device.Fetcher
	// Publish puts data at a name of the datastore nobody used before and
	// returns the datastore and the content tree URL that names it.
	Publish func(t *testing.T, name string, data []byte) (materials.Datastore, string)
	// Dead is a datastore of the same type at which nothing answers (a
	// closed port); nil when the fetcher has no such case.
	Dead func(t *testing.T) materials.Datastore
	// Store holds the ingests; Fetchers write through the interface only,
	// so any device.BlobStore will do.
	Store func(t *testing.T) device.BlobStore
	// Secrets must never appear in an error or a log line (the datastore's
	// password and keys).
	Secrets []string
}

// RunFetcher checks the contract every Fetcher keeps, whatever its
// datastore: it writes the blob's bytes into the ingest and no others
// (the ingest's Commit checks the digest), resumes at the ingest's offset
// instead of starting over, reports progress that never goes back and
// ends at the blob's size, refuses a body larger than the tree's
// maxSizeBytes or the free space with a *device.TooLargeError before the
// commit, fails a name that is not there for good (not retryable) and a
// datastore that does not answer retryably, stops when its context is
// cancelled, and never puts a secret in an error or a log line.
func RunFetcher(t *testing.T, rig FetcherRig) {
	data := Body(2<<20 + 4321)
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	f := rig.New(t, log)
	var errs []string
	var mu sync.Mutex
	note := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err.Error())
			mu.Unlock()
		}
	}
	blob := materials.Blob{Digest: digest.FromBytes(data), Size: int64(len(data))}
	tree := func(url string, ds materials.Datastore) materials.ContentTree {
		return materials.ContentTree{ID: "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e99", URL: url, Format: materials.FormatRaw,
			SHA256: blob.Digest.Encoded(), MaxSizeBytes: uint64(len(data)), Datastores: []string{ds.ID}}
	}
	ds, url := rig.Publish(t, "disk.raw", data)
	req := device.FetchRequest{Datastore: ds, ContentTree: tree(url, ds), Blob: blob}

	t.Run("whole blob, committed by digest, progress to its size", func(t *testing.T) {
		got := FetchInto(t, f, rig.Store(t), req, nil)
		note(got.Err)
		if got.Err != nil {
			t.Fatalf("fetch: %v", got.Err)
		}
		if !bytes.Equal(got.Blob, data) {
			t.Fatalf("committed blob differs from the published bytes")
		}
		checkProgress(t, got.Progress, 0, int64(len(data)))
	})
	t.Run("resumes at the ingest's offset", func(t *testing.T) {
		const at = 1<<20 + 7
		got := FetchInto(t, f, rig.Store(t), req, data[:at])
		note(got.Err)
		if got.Err != nil {
			t.Fatalf("fetch: %v", got.Err)
		}
		if !bytes.Equal(got.Blob, data) {
			t.Fatalf("resumed blob differs from the published bytes")
		}
		// Starting over reports less than the offset first.
		checkProgress(t, got.Progress, at, int64(len(data)))
	})
	t.Run("an ingest holding everything", func(t *testing.T) {
		got := FetchInto(t, f, rig.Store(t), req, data)
		note(got.Err)
		if got.Err != nil || !bytes.Equal(got.Blob, data) {
			t.Fatalf("fetch of a whole partial: %v", got.Err)
		}
	})
	t.Run("other bytes under the name are a digest mismatch", func(t *testing.T) {
		ds, url := rig.Publish(t, "corrupt.raw", Corrupt(data))
		r := device.FetchRequest{Datastore: ds, ContentTree: tree(url, ds), Blob: blob}
		got := FetchInto(t, f, rig.Store(t), r, nil)
		note(got.Err)
		if !errors.Is(got.Err, device.ErrDigestMismatch) || !strings.Contains(got.Err.Error(), string(blob.Digest)) {
			t.Fatalf("fetch of corrupted bytes: %v, want %v naming %s", got.Err, device.ErrDigestMismatch, blob.Digest)
		}
		if got.Blob != nil {
			t.Errorf("corrupted bytes were committed")
		}
	})
	t.Run("larger than maxSizeBytes is refused", func(t *testing.T) {
		r := req
		r.ContentTree.MaxSizeBytes = 1 << 20
		got := FetchInto(t, f, rig.Store(t), r, nil)
		note(got.Err)
		wantTooLarge(t, got, "maxSizeBytes")
	})
	t.Run("larger than the free space is refused", func(t *testing.T) {
		r := req
		r.FreeBytes = 1 << 20
		got := FetchInto(t, f, rig.Store(t), r, nil)
		note(got.Err)
		wantTooLarge(t, got, "free space")
	})
	t.Run("a name that is not there fails for good", func(t *testing.T) {
		r := req
		r.ContentTree.URL = strings.TrimSuffix(url, "disk.raw") + "missing.raw"
		got := FetchInto(t, f, rig.Store(t), r, nil)
		note(got.Err)
		var re *device.RetryableError
		if got.FetchErr == nil || errors.As(got.FetchErr, &re) {
			t.Fatalf("fetch of a missing name: %v, want a terminal error", got.FetchErr)
		}
	})
	if rig.Dead != nil {
		t.Run("a datastore that does not answer is retried", func(t *testing.T) {
			r := req
			r.Datastore = rig.Dead(t)
			got := FetchInto(t, f, rig.Store(t), r, nil)
			note(got.Err)
			var re *device.RetryableError
			if !errors.As(got.FetchErr, &re) {
				t.Fatalf("fetch from a dead datastore: %v, want retryable", got.FetchErr)
			}
		})
	}
	t.Run("a cancelled context stops the fetch", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() {
			in, err := rig.Store(t).Ingest(ctx, blob)
			if err != nil {
				done <- err
				return
			}
			defer in.Close()
			done <- f.Fetch(ctx, req, in, func(int64, int64) {})
		}()
		select {
		case err := <-done:
			note(err)
			var re *device.RetryableError
			if !errors.Is(err, context.Canceled) || errors.As(err, &re) {
				t.Errorf("fetch with a cancelled context: %v, want context.Canceled, not retryable", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("fetch with a cancelled context does not return")
		}
	})
	t.Run("no secret in an error or a log line", func(t *testing.T) {
		var text strings.Builder
		for _, e := range errs {
			text.WriteString(e + "\n")
		}
		for _, e := range logs.All() {
			fmt.Fprintf(&text, "%s %v\n", e.Message, e.ContextMap())
		}
		for _, s := range rig.Secrets {
			if s != "" && strings.Contains(text.String(), s) {
				t.Errorf("secret %q appears in an error or log line:\n%s", s, text.String())
			}
		}
	})
}

// Fetched is what one FetchInto did.
type Fetched struct {
	// FetchErr is Fetch's error; Err is FetchErr, else Commit's.
	FetchErr, Err error
	// Progress is every (done, known) the fetcher reported.
	Progress [][2]int64
	// Offset is the ingest's offset after the fetch, before the commit.
	Offset int64
	// Blob is the committed blob read back, nil when none.
	Blob []byte
}

// FetchInto runs one Fetch into an ingest of store that holds partial
// already, then commits it and reads the blob back.
func FetchInto(t *testing.T, f device.Fetcher, store device.BlobStore, req device.FetchRequest, partial []byte) Fetched {
	t.Helper()
	ctx := context.Background()
	if len(partial) > 0 {
		in, err := store.Ingest(ctx, req.Blob)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.Write(partial); err != nil {
			t.Fatal(err)
		}
		in.Close()
	}
	in, err := store.Ingest(ctx, req.Blob)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var res Fetched
	res.FetchErr = f.Fetch(ctx, req, in, func(done, known int64) { res.Progress = append(res.Progress, [2]int64{done, known}) })
	res.Offset = in.Offset()
	res.Err = res.FetchErr
	if res.Err == nil {
		res.Err = in.Commit(ctx, req.Blob.Size)
	}
	if ok, _, _ := store.Has(ctx, req.Blob.Digest); ok {
		rc, err := store.Open(ctx, req.Blob.Digest)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if res.Blob, err = io.ReadAll(rc); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

// checkProgress: never back, never below the resume offset, and done =
// known = size at the end.
func checkProgress(t *testing.T, p [][2]int64, from, size int64) {
	t.Helper()
	if len(p) == 0 {
		t.Fatal("no progress reported")
	}
	for i, x := range p {
		if x[0] < from || (i > 0 && x[0] < p[i-1][0]) {
			t.Fatalf("progress %v goes back or below the offset %d", p, from)
		}
	}
	if last := p[len(p)-1]; last != [2]int64{size, size} {
		t.Errorf("last progress %v, want done = known = %d", last, size)
	}
}

// wantTooLarge: refused as too large by the named bound, not retried,
// nothing committed.
func wantTooLarge(t *testing.T, got Fetched, from string) {
	t.Helper()
	var tl *device.TooLargeError
	if !errors.As(got.Err, &tl) || !errors.Is(got.Err, device.ErrTooLarge) {
		t.Fatalf("fetch: %v, want a *device.TooLargeError", got.Err)
	}
	var re *device.RetryableError
	if tl.From != from || errors.As(got.Err, &re) {
		t.Errorf("fetch: %v: bound %q, want %q and not retryable", got.Err, tl.From, from)
	}
	if got.Blob != nil {
		t.Errorf("a refused body was committed")
	}
}

// Body is n bytes of test data no two stretches of which repeat, so a
// fetcher that writes a range twice or skips one fails the digest.
func Body(n int) []byte {
	b := make([]byte, 0, n+sha256.Size)
	for seed := sha256.Sum256([]byte("fetcher suite")); len(b) < n; seed = sha256.Sum256(seed[:]) {
		b = append(b, seed[:]...)
	}
	return b[:n]
}

// Corrupt is b with one byte changed: what a datastore that serves other
// bytes under the right name sends.
func Corrupt(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)/3] ^= 0x5a
	return c
}
