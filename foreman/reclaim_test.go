package foreman

import (
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// TestOwnTmpIsReclaimable: a failed create's .tmp of the volume the plan
// creates again is removed by that create before it writes, so disk
// admission does not hold the create for the space the .tmp takes.
func TestOwnTmpIsReclaimable(t *testing.T) {
	v := materials.Volume{ID: "55555555-0000-0000-0000-000000000001", Generation: 1, Origin: materials.OriginBlank, Format: materials.FormatRaw, MaxSizeBytes: 1000}
	bp := &materials.Blueprint{Complete: true, Volumes: []materials.Volume{v}}
	fp := &materials.Floorplan{
		Space: materials.Space{TotalBytes: 1000, FreeBytes: 100},
		Volumes: []materials.VolumeFile{{
			ID: v.ID, Generation: 1, Format: materials.FormatRaw, Temp: true, State: materials.StatePartial,
			Path: "persist/vault/volumes/" + v.Key().String() + ".raw.tmp", ApparentSize: 900, AllocatedSize: 900,
		}},
	}
	p := Plan(bp, fp, Options{Now: time.Unix(0, 0), Space: fp.Space})
	for _, h := range p.Held {
		t.Errorf("held %s: %s", h.RemodelID, h.Reason)
	}
	found := false
	for _, r := range p.Remodels {
		found = found || r.Action == remodel.ActionCreate
	}
	if !found {
		t.Errorf("no create in the plan")
	}
}

// TestCleanUpDeletesUnneededPartials: an unneeded partial download waits
// for the grace period, unless clean-up is asked for.
func TestCleanUpDeletesUnneededPartials(t *testing.T) {
	d := "sha256:" + "ab0000000000000000000000000000000000000000000000000000000000cd"
	bp := &materials.Blueprint{Complete: true}
	fp := &materials.Floorplan{Blobs: []materials.BlobRecord{{
		Digest: digest.Digest(d), Store: materials.BlobStoreDir, State: materials.StatePartial, Offset: 900,
		Path: "persist/blobs/ingest/" + d[7:],
	}}}
	for _, clean := range []bool{false, true} {
		p := Plan(bp, fp, Options{Now: time.Unix(1000, 0), GracePeriod: time.Hour, CleanUp: clean})
		deleted := false
		for _, r := range p.Remodels {
			deleted = deleted || r.Action == remodel.ActionDelete
		}
		if deleted != clean {
			t.Errorf("clean-up %v: partial deleted %v, want %v (held: %v)", clean, deleted, clean, p.Held)
		}
	}
}
