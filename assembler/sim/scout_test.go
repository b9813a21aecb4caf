package sim_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/sim"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// TestConvergeScoutsChunkOffers: Converge asks the fetcher what the
// datastore offers for each download before it plans; the plan of an
// update whose datastore serves an index says what it fetches of the blob
// and from which seed, its summary counts those bytes, and the device
// downloads that much. Without an index, or without scouting, the plan
// says nothing of one and the whole blob comes.
func TestConvergeScoutsChunkOffers(t *testing.T) {
	const size = 1 << 30
	v1, v2 := digest.FromString("os v1"), digest.FromString("os v2")
	ds := materials.Datastore{ID: "ds", Type: materials.DatastoreHTTP, FQDN: "http://images.example"}
	tree := func(id string, d digest.Digest, url string) materials.ContentTree {
		return materials.ContentTree{ID: id, URL: url, SHA256: d.Encoded(), Format: materials.FormatRaw, Datastores: []string{"ds"}, MaxSizeBytes: size}
	}
	config := func(ct materials.ContentTree, gen int64) *materials.Blueprint {
		return &materials.Blueprint{Complete: true, Datastores: []materials.Datastore{ds}, ContentTrees: []materials.ContentTree{ct},
			Volumes: []materials.Volume{{ID: "6ba7b810-9dad-41d1-80b4-00c04fd430c8", Generation: gen, Origin: materials.OriginDownload, ContentTree: ct.ID,
				Format: materials.FormatRaw, MaxSizeBytes: 2 * size, RefCount: 1}}}
	}
	tests := []struct {
		name      string
		chunks    int
		scout     bool
		wantText  string // in the update's plan; "" means no index is mentioned
		wantBytes int64
		failScout bool // the scout fails: no facts, the round goes on
	}{
		{name: "index offered", chunks: 16384, scout: true,
			wantText: "index offered: 51.2 MiB to fetch of 1 GiB, 819 of 16384 chunks, seeds " + remodel.ShortenDigests(string(v1)), wantBytes: size / 20},
		{name: "no index", scout: true, wantBytes: size},
		{name: "not scouted", chunks: 16384, wantBytes: size / 20}, // the fetch is chunked all the same
		{name: "scout fails", chunks: 16384, scout: true, failScout: true, wantBytes: size / 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := sim.NewWorld()
			w.Put(sim.Object{Digest: v1, Size: size})
			w.Put(sim.Object{Digest: v2, Size: size, Chunks: tc.chunks, Shares: map[digest.Digest]int64{v1: size - size/20}})
			w.Serve(ds, "v1.raw", v1)
			w.Serve(ds, "v2.raw", v2)
			dev := sim.New(w, sim.Options{CapacityBytes: 64 << 30})
			opts := dev.Options()
			opts.Logger = zap.NewNop()
			if tc.failScout {
				opts.Crafts.Fetchers[materials.DatastoreHTTP] = failingScout{opts.Crafts.Fetchers[materials.DatastoreHTTP]}
			}
			a, err := assembler.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			// The earlier blob stays an hour after its tree went: it is the seed.
			co := assembler.ConvergeOptions{Foreman: foreman.Options{GracePeriod: foreman.DefaultGracePeriod}}
			if _, err := a.Converge(ctx, config(tree("os1", v1, "v1.raw"), 1), co); err != nil {
				t.Fatal(err)
			}
			before := dev.Downloaded()
			var text string
			var sum remodel.Summary
			co.OnPlan = func(round int, p *remodel.Plan) {
				if round == 1 {
					var b strings.Builder
					remodel.RenderText(&b, p)
					text, sum = b.String(), p.Summary
				}
			}
			if !tc.scout {
				co.ScoutTimeout = -1
			}
			if _, err := a.Converge(ctx, config(tree("os2", v2, "v2.raw"), 2), co); err != nil {
				t.Fatal(err)
			}
			if tc.wantText != "" && !strings.Contains(text, tc.wantText) || tc.wantText == "" && strings.Contains(text, "index") {
				t.Errorf("plan:\n%s\nwant %q", text, tc.wantText)
			}
			if want := map[bool]int64{true: tc.wantBytes, false: size}[tc.scout && !tc.failScout]; sum.BytesToDownload != want {
				t.Errorf("summary: %d bytes to download, want %d", sum.BytesToDownload, want)
			}
			if got := dev.Downloaded() - before; got < tc.wantBytes-1 || got > tc.wantBytes+1 {
				t.Errorf("downloaded %d bytes, want %d", got, tc.wantBytes)
			}
		})
	}
}

// failingScout is fault injection: a fetcher whose scout always fails.
type failingScout struct{ device.Fetcher }

func (failingScout) Scout(context.Context, device.FetchRequest, int64) (materials.ChunkOffer, bool, error) {
	return materials.ChunkOffer{}, false, errors.New("index: connection reset by peer")
}
