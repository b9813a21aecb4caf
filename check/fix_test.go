package check

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// TestPlanFixesTrust: whatever a report says, the planner never deletes
// a blob the last applied config names or an overlay reads through, nor
// a volume's or a complete blob's file as a leftover.
const hexC = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

func TestPlanFixesTrust(t *testing.T) {
	blob := materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:" + hexA}
	fp := &materials.Floorplan{
		Volumes: []materials.VolumeFile{
			sound(),
			with(sound(), func(v *materials.VolumeFile) {
				v.ID, v.Path = uuidB, vault+uuidB+"#1.qcow2"
				v.Backing = []materials.BackingLink{{Name: "b", Blob: digest.Digest("sha256:" + hexB)}}
			}),
		},
		Blobs: []materials.BlobRecord{blobA(), with2(blobA(), func(b *materials.BlobRecord) {
			b.Digest, b.Path = digest.Digest("sha256:"+hexB), "persist/blobs/sha256/"+hexB
		})},
		Journal: &materials.JournalState{LastApplied: lastApplied()},
	}
	tests := []struct {
		name string
		fix  Fix
		why  string
	}{
		{"blob the config names", newFix(TypeClean, blob, 1, RemedyDelete, "x"), "named by the last applied config"},
		{"blob an overlay reads", newFix(TypeClean, materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:" + hexB}, 1, RemedyDelete, "x"), "read through by an overlay"},
		{"a volume's file", newFix(TypeClean, fileRef(sound().Path), 1, RemedyDelete, "x"), "a volume or a complete blob"},
		{"a blob's file", newFix(TypeClean, fileRef(blobA().Path), 1, RemedyDelete, "x"), "a volume or a complete blob"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fpl, err := PlanFixes(fp, Report{Fixes: []Fix{tc.fix}}, Selection{All: true}, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(fpl.Plan.Remodels) != 0 || len(fpl.Refused) != 1 || !strings.Contains(fpl.Refused[0].Why, tc.why) {
				t.Errorf("remodels %v, refused %+v; want it refused: %s", fpl.Plan.Remodels, fpl.Refused, tc.why)
			}
		})
	}
	// A blob the runner's config names is needed too.
	orphan := materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:" + hexC}
	fpC := *fp
	fpC.Blobs = append(append([]materials.BlobRecord(nil), fp.Blobs...), with2(blobA(), func(b *materials.BlobRecord) {
		b.Digest, b.Path = digest.Digest(orphan.ID), "persist/blobs/sha256/"+hexC
	}))
	rep := Report{Fixes: []Fix{newFix(TypeClean, orphan, 1, RemedyDelete, "x")}}
	if fpl, _ := PlanFixes(&fpC, rep, Selection{All: true}, now); len(fpl.Plan.Remodels) != 1 {
		t.Errorf("an orphan blob is not deleted: %+v", fpl)
	}
	cfg := &materials.Blueprint{ContentTrees: []materials.ContentTree{{ID: "t", SHA256: hexC}}}
	if fpl, _ := PlanFixes(&fpC, rep, Selection{All: true}, now, cfg); len(fpl.Plan.Remodels) != 0 || len(fpl.Refused) != 1 {
		t.Errorf("a blob the given config names is deleted: %+v", fpl)
	}
	_, err := PlanFixes(fp, Report{}, Selection{IDs: []string{"clean:file/x", "mend:volume/y"}}, now)
	var ue *UnknownFixError
	if !errors.As(err, &ue) || len(ue.IDs) != 2 || !strings.Contains(err.Error(), "clean:file/x, mend:volume/y") {
		t.Errorf("err %v, want an UnknownFixError naming both", err)
	}
}

func TestVolumeStrategies(t *testing.T) {
	k1 := materials.VolumeKey{ID: uuidA, Generation: 1}
	k2 := materials.VolumeKey{ID: uuidA, Generation: 2}
	kb := materials.VolumeKey{ID: uuidB, Generation: 1}
	bp := &materials.Blueprint{
		Volumes: []materials.Volume{{ID: uuidA, Generation: 1}, {ID: uuidA, Generation: 2}, {ID: uuidB, Generation: 1}},
		Additions: []materials.Addition{
			{Kind: materials.AdditionStrategy, Target: materials.MaterialRef{Kind: materials.KindVolume, ID: k2.String()}, Strategy: materials.StrategyPerformance},
			{Kind: materials.AdditionStrategy, Target: materials.MaterialRef{Kind: materials.KindVolume, ID: uuidA}, Strategy: materials.StrategySpace},
			{Kind: materials.AdditionPurge, Target: materials.MaterialRef{Kind: materials.KindVolume, ID: uuidB}},
		}}
	got := VolumeStrategies(bp)
	want := map[materials.VolumeKey]string{k1: StrategySpace, k2: StrategyPerformance}
	if len(got) != len(want) || got[k1] != want[k1] || got[k2] != want[k2] || got[kb] != "" {
		t.Errorf("got %v, want %v", got, want)
	}
}
