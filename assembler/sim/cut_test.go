package sim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/sim"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
)

// TestCutFetch: a download cut after N bytes, by the link or by a crash,
// leaves an N-byte partial, and the next round fetches only the rest.
func TestCutFetch(t *testing.T) {
	const size, after = 8 << 20, 3 << 20
	for _, tc := range []struct {
		name  string
		crash bool
	}{{"link drops", false}, {"power loss", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := sim.NewWorld()
			img := digestOf("image")
			w.Put(sim.Object{Digest: img, Size: size})
			w.Serve(httpDS, "os.raw", img)
			bp := &materials.Blueprint{Complete: true, Datastores: []materials.Datastore{httpDS},
				ContentTrees: []materials.ContentTree{{ID: "os", URL: "os.raw", SHA256: img.Encoded(), Format: materials.FormatRaw, Datastores: []string{"http"}}},
				Volumes: []materials.Volume{{ID: volIDs[0], Origin: materials.OriginDownload, ContentTree: "os", Format: materials.FormatRaw,
					MaxSizeBytes: size, Apps: appIDs[:1], RefCount: 1}}}
			now := testEpoch
			dev := sim.New(w, sim.Options{Clock: func() time.Time { return now }})
			opts := dev.Options()
			opts.Logger, opts.Clock, opts.Retry = zap.NewNop(), func() time.Time { return now }, assembler.RetryPolicy{Attempts: 1}
			a, err := assembler.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			dev.CutFetch(img, after, tc.crash)
			fp, err := dev.Survey(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := a.Apply(ctx, foreman.Plan(bp, fp, foreman.Options{Now: now, Space: fp.Space}), assembler.WithBlueprint(bp))
			if crashed := errors.Is(err, sim.ErrCrashed); crashed != tc.crash {
				t.Fatalf("apply: %v (report %+v); want a crash: %v", err, rep, tc.crash)
			}
			if rep == nil || rep.Results[0].Status != assembler.StatusFailed {
				t.Fatalf("the cut download did not fail: %+v", rep)
			}
			dev.Reboot()
			if fp, err = dev.Survey(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if len(fp.Blobs) != 1 || fp.Blobs[0].State != materials.StatePartial || fp.Blobs[0].Offset != after {
				t.Fatalf("after the cut: blobs %+v, want one partial at %d", fp.Blobs, after)
			}
			res, err := a.Converge(ctx, bp, assembler.ConvergeOptions{})
			if err != nil || !res.Converged {
				t.Fatalf("converge after the cut: %v, %+v", err, res)
			}
			if got := dev.Downloaded(); got != size {
				t.Errorf("downloaded %d bytes in all, want %d (the first %d not again)", got, size, after)
			}
		})
	}
}
