package foreman

import (
	"testing"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// TestOptionsSpace: the zero Options plan with free space unknown (nothing
// held for space, purges make-before-break); a space that is said, however
// small, is admitted against and what does not fit is held as no-space.
func TestOptionsSpace(t *testing.T) {
	bp := &materials.Blueprint{Complete: true, Volumes: []materials.Volume{
		{ID: "v1", Generation: 1, Origin: materials.OriginBlank, Format: materials.FormatQcow2, MaxSizeBytes: 1 << 30},
		{ID: "v2", Generation: 2, Origin: materials.OriginBlank, Format: materials.FormatQcow2, MaxSizeBytes: 1 << 30},
	}}
	fp := func(space materials.Space) *materials.Floorplan {
		return &materials.Floorplan{Root: "/root", Fingerprint: "sha256:test", Space: space, Volumes: []materials.VolumeFile{{
			Path: "persist/vault/volumes/v2#1.qcow2", ID: "v2", Generation: 1, Format: materials.FormatQcow2,
			State: materials.StateComplete, VirtualSize: 1 << 30, AllocatedSize: 1 << 30,
		}}}
	}
	tests := []struct {
		name       string
		opts       Options
		floorSpace materials.Space // the Floorplan's; the foreman reads Options' only
		wantHeld   []string        // remodel ids held no-space
		wantPurge  remodel.PurgeStrategy
	}{
		{name: "zero options: unknown, nothing held", wantPurge: remodel.MakeBeforeBreak},
		{name: "zero options ignore a full floorplan", floorSpace: materials.Space{TotalBytes: 1 << 40}, wantPurge: remodel.MakeBeforeBreak},
		{name: "room for both", opts: Options{Space: materials.Space{TotalBytes: 1 << 40, FreeBytes: 4 << 30}}, wantPurge: remodel.MakeBeforeBreak},
		{name: "room for one: the purge breaks first", opts: Options{Space: materials.Space{TotalBytes: 1 << 40, FreeBytes: 1 << 30}}, wantPurge: remodel.BreakBeforeMake},
		{name: "small free space holds", opts: Options{Space: materials.Space{TotalBytes: 1 << 40, FreeBytes: 1 << 20}},
			wantHeld: []string{"create:volume/v1#1"}, wantPurge: remodel.BreakBeforeMake},
		{name: "free bytes without a total are known", opts: Options{Space: materials.Space{FreeBytes: 1 << 20}},
			wantHeld: []string{"create:volume/v1#1"}, wantPurge: remodel.BreakBeforeMake},
		{name: "full disk: the create is held, the purge frees its own room", opts: Options{Space: materials.Space{TotalBytes: 1 << 40}},
			wantHeld: []string{"create:volume/v1#1"}, wantPurge: remodel.BreakBeforeMake},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Plan(bp, fp(tc.floorSpace), tc.opts)
			var held []string
			for _, h := range p.Held {
				if h.Code != remodel.HoldNoSpace {
					t.Errorf("held %s with %s: %s", h.RemodelID, h.Code, h.Reason)
					continue
				}
				held = append(held, string(h.RemodelID))
			}
			if !equalStrings(held, tc.wantHeld) {
				t.Errorf("held no-space %v, want %v", held, tc.wantHeld)
			}
			var purge remodel.PurgeStrategy
			for i := range p.Remodels {
				if pp, ok := remodel.PayloadOf[*remodel.PurgePayload](&p.Remodels[i]); ok {
					purge = pp.Strategy
				}
			}
			if purge != tc.wantPurge {
				t.Errorf("purge strategy %q, want %q", purge, tc.wantPurge)
			}
			if len(p.Remodels)+len(p.Held) != 2 {
				t.Errorf("%d remodels and %d held, want 2 in all:\n%+v", len(p.Remodels), len(p.Held), p)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
