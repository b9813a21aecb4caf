package check

import (
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// TestLeases: a lease of edgewright's that outlived its download is a
// clean (its tree dropped from the config, or sealed into its image
// record); one still needed, fresh or foreign is not, and the planner
// refuses what the check would not list.
func TestLeases(t *testing.T) {
	const other = "1b6f8d0e-4c32-4d9f-9f2b-7a3e5c0d8f02"
	dA, dB := digest.Digest("sha256:"+hexA), digest.Digest("sha256:"+hexB)
	lease := func(tree string, created time.Time, blobs ...digest.Digest) materials.LeaseRecord {
		return materials.LeaseRecord{ID: "edgewright-" + tree, CreatedAt: created, Blobs: blobs,
			Labels: map[string]string{layout.OwnerLabel: layout.OwnerValue, layout.ContentTreeLabel: tree}}
	}
	ctrBlob := func(d digest.Digest, size int64) materials.BlobRecord {
		return materials.BlobRecord{Digest: d, Store: materials.BlobStoreContainerd, Size: size, State: materials.StateComplete, UpdatedAt: old}
	}
	image := func(tree string, blobs ...digest.Digest) materials.ImageRecord {
		return materials.ImageRecord{Name: tree + "-x.qcow2", Target: blobs[0], Blobs: blobs,
			Labels: map[string]string{layout.OwnerLabel: layout.OwnerValue, layout.ContentTreeLabel: tree}}
	}
	tests := []struct {
		name     string
		fp       materials.Floorplan
		fix      bool
		bytes    int64
		reason   string // in the fix's reason, or the planner's refusal
		inFlight bool
	}{
		{name: "dropped tree", fp: materials.Floorplan{Leases: []materials.LeaseRecord{lease(other, old, dA, dB)},
			Blobs: []materials.BlobRecord{ctrBlob(dA, 100), ctrBlob(dB, 20)}, Images: []materials.ImageRecord{image(tree, dB)}},
			fix: true, bytes: 100, reason: `leaked containerd lease of 2 blobs: its content tree "` + other + `" is not in the last applied config`},
		{name: "sealed tree", fp: materials.Floorplan{Leases: []materials.LeaseRecord{lease(tree, old, dA)},
			Blobs: []materials.BlobRecord{ctrBlob(dA, 100)}, Images: []materials.ImageRecord{image(tree, dA)}},
			fix: true, bytes: 0, reason: "image record holds the tree now"},
		{name: "tree still downloading", fp: materials.Floorplan{Leases: []materials.LeaseRecord{lease(tree, old, dA)},
			Blobs: []materials.BlobRecord{ctrBlob(dA, 100)}}, reason: "while it is downloaded"},
		{name: "fresh", fp: materials.Floorplan{Leases: []materials.LeaseRecord{lease(other, fresh, dA)}}},
		{name: "download in flight", fp: materials.Floorplan{Leases: []materials.LeaseRecord{lease(other, old, dA)}},
			inFlight: true, reason: "is in flight"},
		{name: "foreign", fp: materials.Floorplan{Leases: []materials.LeaseRecord{{ID: "k8s-thing", CreatedAt: old}}},
			reason: "not edgewright's"},
		{name: "keeps a backing blob", fp: materials.Floorplan{Leases: []materials.LeaseRecord{lease(other, old, dA)},
			Volumes: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
				v.Backing = []materials.BackingLink{{Name: "b", Blob: dA}}
			})}}, reason: "an overlay reads through it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fp := tc.fp
			fp.Journal = &materials.JournalState{LastApplied: lastApplied()}
			if tc.inFlight {
				fp.Journal.InFlight = []materials.InFlight{{RemodelID: "r", Action: "download", Target: materials.MaterialRef{Kind: materials.KindBlob, ID: string(dA)}}}
			}
			rep := Check(&fp, Options{Now: now})
			var got []Fix
			for _, f := range rep.Fixes {
				if f.Target.Kind == materials.KindLease {
					got = append(got, f)
				}
			}
			if !tc.fix {
				if len(got) != 0 {
					t.Fatalf("fixes %+v; want none", got)
				}
				// A fix for it anyway (a stale report) is refused.
				l := fp.Leases[0]
				f := newFix(TypeClean, materials.MaterialRef{Kind: materials.KindLease, ID: l.ID}, 0, RemedyDelete, "x")
				fpl, err := PlanFixes(&fp, Report{Fixes: []Fix{f}, opts: rep.opts}, Selection{All: true}, now)
				if err != nil {
					t.Fatal(err)
				}
				if tc.reason != "" && (len(fpl.Plan.Remodels) != 0 || len(fpl.Refused) != 1 || !strings.Contains(fpl.Refused[0].Why, tc.reason)) {
					t.Errorf("remodels %v, refused %+v; want it refused: %s", fpl.Plan.Remodels, fpl.Refused, tc.reason)
				}
				return
			}
			if len(got) != 1 || got[0].ID != "clean:lease/"+fp.Leases[0].ID || got[0].Bytes != tc.bytes || !strings.Contains(got[0].Reason, tc.reason) {
				t.Fatalf("fixes %+v; want clean:lease/%s of %d bytes: %s", got, fp.Leases[0].ID, tc.bytes, tc.reason)
			}
			fpl, err := PlanFixes(&fp, rep, Selection{All: true}, now)
			if err != nil {
				t.Fatal(err)
			}
			var deletes []remodel.Remodel
			for _, r := range fpl.Plan.Remodels {
				if r.Target.Kind == materials.KindLease {
					deletes = append(deletes, r)
				}
			}
			if len(deletes) != 1 || deletes[0].Action != remodel.ActionDelete || deletes[0].Target.ID != fp.Leases[0].ID {
				t.Errorf("remodels %+v; want one delete of the lease", fpl.Plan.Remodels)
			}
		})
	}
}
