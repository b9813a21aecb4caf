package chunkfetch

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestScout: the scout's offer names the blob, the datastore, the seed
// (the earlier version) and what the download then fetches, and the
// download does not fetch the index again. Without an index, or before
// any seed is on disk, nothing is offered and nothing fails.
func TestScout(t *testing.T) {
	v1 := random(1, imgSize)
	v2 := Version2(v1, 6, 256<<10, 9)
	ctx := context.Background()
	r := newRig(t)
	publish(t, r.srv.dir, "v1.raw", v1)
	publish(t, r.srv.dir, "v2.raw", v2)

	// No seed yet: no offer, and the index is not even asked for.
	if _, ok, err := r.f.Scout(ctx, r.req("v1.raw", v1), 0); ok || err != nil {
		t.Fatalf("first download: offered %v, %v", ok, err)
	}
	if r.srv.indexN.Load() != 0 {
		t.Fatal("the scout asked for an index with no seed to use it")
	}
	if err := r.fetch(ctx, t, "v1.raw", v1); err != nil {
		t.Fatal(err)
	}

	req := r.req("v2.raw", v2)
	o, ok, err := r.f.Scout(ctx, req, 0)
	if !ok || err != nil {
		t.Fatalf("v2: offered %v, %v", ok, err)
	}
	seed := blobOf(v1).Digest
	if o.Blob != req.Blob.Digest || o.Datastore != "ds" || o.Size != int64(len(v2)) || o.Offset != 0 || o.Whole ||
		len(o.Seeds) != 1 || o.Seeds[0] != seed || o.Chunks == 0 || o.FetchChunks == 0 || o.FetchBytes <= 0 || o.FetchBytes > o.Size/5 {
		t.Fatalf("offer %+v; want blob %s of %d bytes from seed %s, a fifth at most to fetch", o, req.Blob.Digest, len(v2), seed)
	}
	// A second scout (the next round) takes what the first kept.
	if o2, _, _ := r.f.Scout(ctx, req, 0); o2.FetchBytes != o.FetchBytes || r.srv.indexN.Load() != 1 {
		t.Fatalf("second scout: %+v, %d index requests", o2, r.srv.indexN.Load())
	}
	r.srv.sent.Store(0)
	if err := r.fetch(ctx, t, "v2.raw", v2); err != nil {
		t.Fatal(err)
	}
	r.check(t, v2)
	if n := r.srv.indexN.Load(); n != 1 {
		t.Errorf("the index was fetched %d times, want once (by the scout)", n)
	}
	if sent := r.srv.sent.Load(); sent != o.FetchBytes {
		t.Errorf("the download took %d bytes, the offer said %d", sent, o.FetchBytes)
	}
	t.Logf("offer: %d of %d bytes in %d of %d chunks; the download took %d", o.FetchBytes, o.Size, o.FetchChunks, o.Chunks, r.srv.sent.Load())

	// No index: no offer, no error.
	os.Remove(filepath.Join(r.srv.dir, "v1.raw.chunks"))
	other := r.req("v1.raw", v1)
	other.Blob.Digest = digest.FromString("another blob") // not committed: its own seed is not excluded
	if _, ok, err := r.f.Scout(ctx, other, 0); ok || err != nil {
		t.Errorf("no index: offered %v, %v", ok, err)
	}
}

// seededRig is a rig whose datastore publishes v1.raw and v2.raw and
// whose device holds v1, downloaded whole.
func seededRig(t *testing.T, v1, v2 []byte) *rig {
	t.Helper()
	r := newRig(t)
	publish(t, r.srv.dir, "v1.raw", v1)
	publish(t, r.srv.dir, "v2.raw", v2)
	if err := r.fetch(context.Background(), t, "v1.raw", v1); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestScoutResumeOffset: an offer for a resumed download counts only the
// chunks past the resume point.
func TestScoutResumeOffset(t *testing.T) {
	v1 := random(1, imgSize)
	v2 := Version2(v1, 20, 256<<10, 5)
	ctx := context.Background()
	r := seededRig(t, v1, v2)
	req := r.req("v2.raw", v2)
	all, _, _ := r.f.Scout(ctx, req, 0)
	half, ok, err := r.f.Scout(ctx, req, int64(len(v2)/2))
	if !ok || err != nil || half.Offset != int64(len(v2)/2) || half.FetchBytes >= all.FetchBytes || half.FetchBytes <= 0 {
		t.Fatalf("from the middle: %+v (%v, %v); from 0: %d bytes", half, ok, err, all.FetchBytes)
	}
	if _, ok, _ := r.f.Scout(ctx, req, int64(len(v2))+1); ok {
		t.Error("an offset past the blob is offered")
	}
}

// TestTransferMonotone: the bytes fetched never go back, and the written
// bytes neither, when a chunked download falls back to the whole one after
// chunks were written (a chunk the store keeps serving wrong); the bytes
// to fetch grow by what is left of the blob, and the last report says the
// whole transfer is done.
func TestTransferMonotone(t *testing.T) {
	v1 := random(1, imgSize)
	v2 := Version2(v1, 30, 256<<10, 7)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		fault    func(w http.ResponseWriter, r *http.Request, n int64) bool
		fallBack bool
	}{
		{name: "chunked"},
		{name: "fall-back after chunks", fallBack: true, fault: func(w http.ResponseWriter, r *http.Request, n int64) bool {
			if n < 20 {
				return false
			}
			w.Write(bytes.Repeat([]byte{0x5a}, 4096))
			return true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := seededRig(t, v1, v2)
			r.srv.setFault(tc.fault)
			req := r.req("v2.raw", v2)
			in, err := r.store.Ingest(ctx, req.Blob)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var lastFetched, lastTo, lastDone, firstTo int64
			reports := 0
			req.Transfer = func(fetched, toFetch int64) {
				mu.Lock()
				defer mu.Unlock()
				if fetched < lastFetched {
					t.Errorf("fetched went back from %d to %d", lastFetched, fetched)
				}
				if toFetch < fetched {
					t.Errorf("fetched %d of %d", fetched, toFetch)
				}
				if reports == 0 {
					firstTo = toFetch
				}
				reports++
				lastFetched, lastTo = fetched, toFetch
			}
			err = r.f.Fetch(ctx, req, in, func(done, known int64) {
				mu.Lock()
				defer mu.Unlock()
				if done < lastDone {
					t.Errorf("written went back from %d to %d", lastDone, done)
				}
				lastDone = done
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := in.Commit(ctx, req.Blob.Size); err != nil {
				t.Fatal(err)
			}
			r.check(t, v2)
			if reports == 0 || lastFetched != lastTo || lastDone != int64(len(v2)) {
				t.Fatalf("%d reports, last %d of %d fetched, %d written", reports, lastFetched, lastTo, lastDone)
			}
			ix, err := os.Stat(filepath.Join(r.srv.dir, "v2.raw.chunks"))
			if err != nil {
				t.Fatal(err)
			}
			// A fall-back cancels chunk fetches in flight: what the server
			// sent of them was never read.
			if sent := r.srv.sent.Load() - int64(len(v1)) - ix.Size(); lastFetched > sent || !tc.fallBack && lastFetched != sent {
				t.Errorf("fetched %d, the server sent %d besides v1 and the index", lastFetched, sent)
			}
			if fell := r.warned("does not serve a chunk right"); fell != tc.fallBack || tc.fallBack && lastTo <= firstTo {
				t.Errorf("fell back %v (want %v); to fetch %d first, %d last", fell, tc.fallBack, firstTo, lastTo)
			}
			t.Logf("fetched %d of %d (first said %d), wrote %d", lastFetched, lastTo, firstTo, lastDone)
		})
	}
}
