package chunkfetch

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/httpfetch"
	"github.com/edgewright/edgewright/chunks"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

var _ device.Scout = (*Fetcher)(nil)

// maxKept bounds the indexes (and their plans) kept between a scout and
// its download: one per VM image a plan downloads at once, a few at most.
const maxKept = 4

// keyOf is what a kept index holds for: the blob, its size bound (the
// index was parsed within it) and the index's URL (its datastore's
// origin and path, so a chunk store is never taken from another one).
type keyOf struct {
	blob  digest.Digest
	size  int64
	index string
}

// kept is an index fetched and checked, and the plan made of it over
// seeds (by Name, in order).
type kept struct {
	ix    *chunks.Index
	seeds []string
	plan  *chunks.Plan
}

// prepared is what a chunked fetch knows before it writes a byte: where
// the blob is, its index, the seeds open, and where each chunk comes from.
type prepared struct {
	u      *url.URL
	client *http.Client
	seeds  []Seed
	ix     *chunks.Index
	plan   *chunks.Plan
}

func (p *prepared) close() {
	for _, s := range p.seeds {
		if s.Close != nil {
			s.Close()
		}
	}
	p.client.CloseIdleConnections()
}

// prepare opens the seeds, fetches the index (or takes the one a scout
// fetched for the same blob, size bound and URL: it was checked against
// the blob's sha256 and bounds then, and every chunk is verified anyway)
// and plans it over the seeds (or reuses the scout's plan when the seeds
// are the same files in the same order). Anything that rules the chunked
// path out is a *fallback.
func (f *Fetcher) prepare(ctx context.Context, req device.FetchRequest) (*prepared, error) {
	u, err := httpfetch.DatastoreURL(req.Datastore, req.ContentTree.URL)
	if err != nil {
		return nil, err
	}
	want, err := hex.DecodeString(req.Blob.Digest.Encoded())
	if err != nil || len(want) != 32 || req.Blob.Digest.Algorithm() != "sha256" {
		return nil, &fallback{reason: "blob digest is not sha256", err: err}
	}
	client, err := f.client(req.Datastore)
	if err != nil {
		return nil, err
	}
	// Seeds first: with none, every chunk would be fetched, so the index
	// is not even asked for (a first download).
	p := &prepared{u: u, client: client, seeds: f.Seeds(ctx, req)}
	if len(p.seeds) == 0 {
		p.close()
		return nil, &fallback{quiet: true, reason: "no local seed"}
	}
	cs := make([]chunks.Seed, len(p.seeds))
	names := make([]string, len(p.seeds))
	for i, s := range p.seeds {
		cs[i], names[i] = s.Seed, s.Name
	}
	iu := *u
	iu.Path += IndexSuffix
	key := keyOf{req.Blob.Digest, req.Blob.Size, iu.String()}
	if k, ok := f.keptFor(key); ok {
		p.ix = k.ix
		if slices.Equal(k.seeds, names) {
			p.plan, _ = k.plan.WithSeeds(cs)
		}
	}
	if p.ix == nil {
		if p.ix, err = f.index(ctx, client, req, &iu, want); err != nil {
			p.close()
			return nil, err
		}
	}
	if p.plan == nil {
		if p.plan, err = chunks.NewPlan(ctx, p.ix, cs); err != nil {
			p.close()
			return nil, err
		}
	}
	f.keep(key, kept{ix: p.ix, seeds: names, plan: p.plan})
	return p, nil
}

// tooLittle: the seeds hold so little of the blob that one whole stream
// beats many small requests.
func (f *Fetcher) tooLittle(p *chunks.Plan) bool {
	share := f.MaxFetchShare
	if share <= 0 {
		share = DefaultMaxFetchShare
	}
	return float64(p.FetchBytes) > share*float64(p.Index.ImageSize)
}

// Scout tells what the datastore offers for req: its index, and what a
// download resuming at offset would fetch given the seeds the download
// will use. It fetches the index (bounded as for a download) and reads
// the seeds, never the blob; the index and the plan are kept for the
// download, so it fetches neither again. No index, a damaged one, no seed,
// a blob whose chunked download already failed: no offer.
func (f *Fetcher) Scout(ctx context.Context, req device.FetchRequest, offset int64) (materials.ChunkOffer, bool, error) {
	if f.Whole == nil || f.Seeds == nil || !Chunked(req.ContentTree.Format) || f.hasFailed(req.Blob) {
		return materials.ChunkOffer{}, false, nil
	}
	p, err := f.prepare(ctx, req)
	if err != nil {
		var fb *fallback
		if errors.As(err, &fb) {
			f.log().Debug("scout: no chunk offer", zap.String("digest", string(req.Blob.Digest)), zap.String("reason", fb.reason), zap.Error(fb.err))
			return materials.ChunkOffer{}, false, nil
		}
		return materials.ChunkOffer{}, false, fmt.Errorf("scout %s at datastore %s: %w", req.Blob.Digest, req.Datastore.ID, err)
	}
	defer p.close()
	if offset < 0 || offset > p.ix.ImageSize {
		return materials.ChunkOffer{}, false, nil // the download starts over: facts for offset 0 would not match the plan's
	}
	o := materials.ChunkOffer{Blob: req.Blob.Digest, Datastore: req.Datastore.ID, Size: p.ix.ImageSize, Chunks: len(p.ix.Chunks), Offset: offset}
	o.FetchBytes, o.FetchChunks = p.plan.FetchFrom(offset)
	for i, s := range p.seeds {
		if p.plan.SeedUse[i] == 0 {
			continue
		}
		if s.Blob == "" {
			return materials.ChunkOffer{}, false, nil // a seed the plan cannot check is on disk
		}
		o.Seeds = append(o.Seeds, s.Blob)
	}
	if f.tooLittle(p.plan) {
		o.Whole = true
		o.FetchBytes, o.FetchChunks = p.ix.ImageSize-offset, 0
	}
	return o, true, nil
}

func (f *Fetcher) keptFor(k keyOf) (kept, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, key := range f.keptKeys {
		if key == k {
			return f.keptVals[i], true
		}
	}
	return kept{}, false
}

// keep remembers an index and plan, the newest last; the oldest goes
// beyond maxKept.
func (f *Fetcher) keep(k keyOf, v kept) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropLocked(k.blob)
	f.keptKeys = append(f.keptKeys, k)
	f.keptVals = append(f.keptVals, v)
	if n := len(f.keptKeys) - maxKept; n > 0 {
		f.keptKeys = slices.Delete(f.keptKeys, 0, n)
		f.keptVals = slices.Delete(f.keptVals, 0, n)
	}
}

// forget drops what is kept for a blob (downloaded, or its index lied).
func (f *Fetcher) forget(b digest.Digest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropLocked(b)
}

func (f *Fetcher) dropLocked(b digest.Digest) {
	for i := 0; i < len(f.keptKeys); {
		if f.keptKeys[i].blob == b {
			f.keptKeys = slices.Delete(f.keptKeys, i, i+1)
			f.keptVals = slices.Delete(f.keptVals, i, i+1)
			continue
		}
		i++
	}
}
