package check

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

const (
	uuidA = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	uuidB = "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
	tree  = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01"
	hexA  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hexB  = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	vault = "persist/vault/volumes/"
)

var (
	now   = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	old   = now.Add(-2 * time.Hour)
	fresh = now.Add(-time.Minute)
)

// sound is a complete qcow2 volume of generation 1 of uuidA.
func sound() materials.VolumeFile {
	return materials.VolumeFile{ID: uuidA, Generation: 1, Format: materials.FormatQcow2, Path: vault + uuidA + "#1.qcow2",
		VirtualSize: 1 << 30, ApparentSize: 196608, AllocatedSize: 200704, ModTime: old, State: materials.StateComplete}
}

func with(v materials.VolumeFile, f func(*materials.VolumeFile)) materials.VolumeFile {
	f(&v)
	return v
}

// lastApplied knows uuidA#1 made from tree (sha hexA) and uuidB#1 blank.
func lastApplied() *materials.Blueprint {
	return &materials.Blueprint{Complete: true,
		Volumes: []materials.Volume{
			{ID: uuidA, Generation: 1, Origin: materials.OriginDownload, ContentTree: tree, Format: materials.FormatQcow2},
			{ID: uuidB, Generation: 1, Origin: materials.OriginBlank, Format: materials.FormatQcow2},
		},
		ContentTrees: []materials.ContentTree{{ID: tree, SHA256: hexA, Format: materials.FormatQcow2}},
	}
}

func blobA() materials.BlobRecord {
	return materials.BlobRecord{Digest: digest.Digest("sha256:" + hexA), Store: materials.BlobStoreDir, Size: 5000,
		State: materials.StateComplete, Path: "persist/blobs/sha256/" + hexA, UpdatedAt: old}
}

func TestRules(t *testing.T) {
	type want struct {
		id     string
		typ    Type
		remedy Remedy
		bytes  int64
		reason string // a substring
	}
	tmp := materials.VolumeFile{ID: uuidA, Generation: 2, Format: materials.FormatRaw, Path: vault + uuidA + "#2.raw.tmp",
		Temp: true, ApparentSize: 4096, AllocatedSize: 4096, ModTime: old, State: materials.StatePartial}
	ingest := materials.BlobRecord{Digest: digest.Digest("sha256:" + hexB), Store: materials.BlobStoreDir, Offset: 700,
		State: materials.StatePartial, Path: "persist/blobs/ingest/" + hexB, UpdatedAt: old}
	ctrIngest := materials.BlobRecord{Digest: digest.Digest("sha256:" + hexB), Store: materials.BlobStoreContainerd, Offset: 70,
		State: materials.StatePartial, Ref: "edgewright-x", UpdatedAt: old}
	inflight := func(target materials.MaterialRef) *materials.JournalState {
		return &materials.JournalState{InFlight: []materials.InFlight{{RemodelID: "r", Action: "create", Target: target}}}
	}
	clock := func(since time.Time) *materials.JournalState {
		return &materials.JournalState{Unreferenced: []materials.Unreferenced{
			{Target: materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:" + hexB}, Since: since}}}
	}
	blobB := materials.BlobRecord{Digest: digest.Digest("sha256:" + hexB), Store: materials.BlobStoreDir, Size: 9000,
		State: materials.StateComplete, Path: "persist/blobs/sha256/" + hexB, UpdatedAt: old}
	blobBctr := blobB
	blobBctr.Store, blobBctr.Path, blobBctr.Size = materials.BlobStoreContainerd, "", 9000

	tests := []struct {
		name    string
		vols    []materials.VolumeFile
		blobs   []materials.BlobRecord
		journal *materials.JournalState
		want    []want
		status  map[string]Status
		// strategy is the device's (Options.Strategy).
		strategy string
		perVol   map[materials.VolumeKey]string
	}{
		{name: "sound volume", vols: []materials.VolumeFile{sound()}, journal: &materials.JournalState{},
			status: map[string]Status{uuidA + "#1": StatusOptimized}},
		{name: "stale tmp", vols: []materials.VolumeFile{tmp}, journal: &materials.JournalState{},
			want: []want{{"clean:file/" + tmp.Path, TypeClean, RemedyDelete, 4096, "not in flight"}}, status: map[string]Status{}},
		{name: "stale tmp, no journal read", vols: []materials.VolumeFile{tmp},
			want: []want{{"clean:file/" + tmp.Path, TypeClean, RemedyDelete, 4096, "only its age"}}},
		{name: "fresh tmp", vols: []materials.VolumeFile{with(tmp, func(v *materials.VolumeFile) { v.ModTime = fresh })}},
		{name: "tmp in flight by key", vols: []materials.VolumeFile{tmp},
			journal: inflight(materials.MaterialRef{Kind: materials.KindVolume, ID: uuidA + "#2"})},
		{name: "tmp in flight by path", vols: []materials.VolumeFile{tmp},
			journal: inflight(materials.MaterialRef{Kind: materials.KindFile, ID: tmp.Path})},
		{name: "unknown file", vols: []materials.VolumeFile{{Path: vault + "notes.txt", ApparentSize: 10, AllocatedSize: 4096,
			State: materials.StateUnknown, Reason: "name is not <uuid>#<generation>.<format>"}},
			want: []want{{"clean:file/" + vault + "notes.txt", TypeClean, RemedyReport, 4096, "never deleted automatically"}}},
		{name: "unknown blob file", blobs: []materials.BlobRecord{{Store: materials.BlobStoreDir, Path: "persist/blobs/sha256/x",
			Size: 3, State: materials.StateUnknown, Reason: "name is not a lower-case sha256 hex digest"}},
			want: []want{{"clean:file/persist/blobs/sha256/x", TypeClean, RemedyReport, 3, "never deleted"}}},
		{name: "leaked ingest", blobs: []materials.BlobRecord{ingest}, journal: &materials.JournalState{},
			want: []want{{"clean:file/" + ingest.Path, TypeClean, RemedyDelete, 700, "leaked partial ingest"}}},
		{name: "ingest in flight", blobs: []materials.BlobRecord{ingest},
			journal: inflight(materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:" + hexB})},
		{name: "fresh ingest", blobs: []materials.BlobRecord{with2(ingest, func(b *materials.BlobRecord) { b.UpdatedAt = fresh })}},
		{name: "leaked containerd ingest", blobs: []materials.BlobRecord{ctrIngest},
			want: []want{{"clean:blob/sha256:" + hexB + "/ingest/edgewright-x", TypeClean, RemedyDelete, 70, `ingest "edgewright-x"`}}},
		{name: "blob past grace, both stores", blobs: []materials.BlobRecord{blobB, blobBctr}, journal: clock(now.Add(-2 * time.Hour)),
			want: []want{{"clean:blob/sha256:" + hexB, TypeClean, RemedyDelete, 18000, "in containerd and dir"}}},
		{name: "blob within grace", blobs: []materials.BlobRecord{blobB}, journal: clock(now.Add(-30 * time.Minute))},
		{name: "clock of a blob already gone", journal: clock(old)},
		{name: "clock of a blob the last config names", blobs: []materials.BlobRecord{blobB},
			journal: &materials.JournalState{LastApplied: &materials.Blueprint{Complete: true,
				ContentTrees: []materials.ContentTree{{ID: tree, SHA256: hexB}}}, Unreferenced: clock(old).Unreferenced}},
		{name: "damaged header, content known", vols: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
			v.State, v.Reason = materials.StateBroken, "qcow2 header: L1 table beyond the end of the file"
		})}, blobs: []materials.BlobRecord{blobA()}, journal: &materials.JournalState{LastApplied: lastApplied()},
			want:   []want{{"mend:volume/" + uuidA + "#1", TypeMend, RemedyRecreate, 200704 - 5000, "re-create generation 1 from content tree " + tree}},
			status: map[string]Status{uuidA + "#1": StatusBroken}},
		{name: "damaged header, content blob absent", vols: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
			v.State, v.Reason = materials.StateBroken, "truncated"
		})}, journal: &materials.JournalState{LastApplied: lastApplied()},
			want: []want{{"mend:volume/" + uuidA + "#1", TypeMend, RemedyRecreate, 0, "cost unknown"}}},
		{name: "damaged header, no last config", vols: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
			v.State, v.Reason = materials.StateBroken, "truncated"
		})}, want: []want{{"mend:volume/" + uuidA + "#1", TypeMend, RemedyReport, 0, "report only: the last applied config does not say"}}},
		{name: "damaged blank volume", vols: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
			v.ID, v.Path, v.State, v.Reason = uuidB, vault+uuidB+"#1.qcow2", materials.StateBroken, "truncated"
		})}, journal: &materials.JournalState{LastApplied: lastApplied()},
			want: []want{{"mend:volume/" + uuidB + "#1", TypeMend, RemedyReport, 0, "blank volume"}}},
		{name: "backing file", vols: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
			v.BackingFile, v.State, v.Reason = "/etc/shadow", materials.StateBroken, "backing file: not our own verified store"
		})}, want: []want{{"mend:volume/" + uuidA + "#1", TypeMend, RemedyReport, 0, `backing file "/etc/shadow", which is never opened`}},
			status: map[string]Status{uuidA + "#1": StatusBroken}},
		{name: "key in both layouts", vols: []materials.VolumeFile{
			with(sound(), func(v *materials.VolumeFile) {
				v.Path, v.ClearText, v.State = "persist/clear/volumes/"+uuidA+"#1.qcow2", true, materials.StateBroken
			}),
			with(sound(), func(v *materials.VolumeFile) { v.State = materials.StateBroken })},
			want: []want{
				{"mend:file/persist/clear/volumes/" + uuidA + "#1.qcow2", TypeMend, RemedyReport, 0, ""},
				{"mend:file/" + vault + uuidA + "#1.qcow2", TypeMend, RemedyReport, 0, ""}},
			status: map[string]Status{"persist/clear/volumes/" + uuidA + "#1.qcow2": StatusBroken, vault + uuidA + "#1.qcow2": StatusBroken}},
		{name: "refcount corruption", vols: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
			v.Check = &materials.ImageCheck{Corruptions: 3, Leaks: 1}
		})}, journal: &materials.JournalState{LastApplied: lastApplied()}, blobs: []materials.BlobRecord{blobA()},
			want:   []want{{"mend:volume/" + uuidA + "#1", TypeMend, RemedyRecreate, 200704 - 5000, "3 corruptions, 1 leaks"}},
			status: map[string]Status{uuidA + "#1": StatusBroken}},
		{name: "unreadable metadata", vols: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
			v.Check = &materials.ImageCheck{CheckErrors: 1}
		})}, want: []want{{"mend:volume/" + uuidA + "#1", TypeMend, RemedyReport, 0, "1 check errors"}}},
		{name: "leaks only", vols: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
			v.Check = &materials.ImageCheck{Leaks: 4}
		})}, want: []want{{"mend:volume/" + uuidA + "#1", TypeMend, RemedyRepairLeaks, 0, "-r leaks, safe"}},
			status: map[string]Status{uuidA + "#1": StatusDegraded}},
		{name: "check could not run", vols: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
			v.Check = &materials.ImageCheck{Corruptions: 9, Error: "image is in use"}
		})}, status: map[string]Status{uuidA + "#1": StatusOptimized}},
		{name: "fully allocated raw", vols: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
			v.Format, v.Path, v.ApparentSize, v.AllocatedSize = materials.FormatRaw, vault+uuidA+"#1.raw", 8192, 8192
		})}, want: []want{{"optimize:volume/" + uuidA + "#1", TypeOptimize, RemedySparsify, 0, "bytes is 0"}},
			status: map[string]Status{uuidA + "#1": StatusDegraded}},
		{name: "sparse raw", vols: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
			v.Format, v.Path, v.ApparentSize, v.AllocatedSize = materials.FormatRaw, vault+uuidA+"#1.raw", 8192, 4096
		})}, status: map[string]Status{uuidA + "#1": StatusOptimized}},
		{name: "in flight volume is degraded", vols: []materials.VolumeFile{with(sound(), func(v *materials.VolumeFile) {
			v.State = materials.StatePartial
		})}, status: map[string]Status{uuidA + "#1": StatusDegraded}},
		{name: "legacy broken file", vols: []materials.VolumeFile{{Format: materials.FormatQcow2, Path: "persist/img/x.qcow2",
			Legacy: &materials.LegacyName{SHA256: hexA, App: uuidB}, State: materials.StateBroken, Reason: "truncated"}},
			want:   []want{{"mend:file/persist/img/x.qcow2", TypeMend, RemedyReport, 0, "a legacy file"}},
			status: map[string]Status{"persist/img/x.qcow2": StatusBroken}},
		{name: "overlay on a blob, space", vols: []materials.VolumeFile{overlay(onBlobA)}, blobs: []materials.BlobRecord{blobA()},
			strategy: StrategySpace, status: map[string]Status{uuidA + "#1": StatusOptimized}},
		{name: "overlay on a blob, strategy unknown", vols: []materials.VolumeFile{overlay(onBlobA)}, blobs: []materials.BlobRecord{blobA()}},
		{name: "overlay on a blob, performance", vols: []materials.VolumeFile{overlay(onBlobA)}, blobs: []materials.BlobRecord{blobA()},
			strategy: StrategyPerformance,
			want:     []want{{"optimize:volume/" + uuidA + "#1", TypeOptimize, RemedyFlatten, -5000, "flatten it into a standalone image (writes about 5000 bytes)"}},
			status:   map[string]Status{uuidA + "#1": StatusDegraded}},
		{name: "overlay, device space, volume performance", vols: []materials.VolumeFile{overlay(onBlobA)}, blobs: []materials.BlobRecord{blobA()},
			strategy: StrategySpace, perVol: map[materials.VolumeKey]string{{ID: uuidA, Generation: 1}: StrategyPerformance},
			want: []want{{"optimize:volume/" + uuidA + "#1", TypeOptimize, RemedyFlatten, -5000, "performance strategy"}}},
		{name: "overlay, device performance, volume space", vols: []materials.VolumeFile{overlay(onBlobA)}, blobs: []materials.BlobRecord{blobA()},
			strategy: StrategyPerformance, perVol: map[materials.VolumeKey]string{{ID: uuidA, Generation: 1}: StrategySpace}},
		{name: "backing blob missing, tree known", vols: []materials.VolumeFile{overlay(missingA)}, journal: &materials.JournalState{LastApplied: lastApplied()},
			want:   []want{{"mend:volume/" + uuidA + "#1", TypeMend, RemedyRefetch, 0, "download it again from content tree " + tree}},
			status: map[string]Status{uuidA + "#1": StatusBroken}},
		{name: "backing blob missing, marked broken too", vols: []materials.VolumeFile{with(overlay(missingA), func(v *materials.VolumeFile) {
			v.State, v.Reason = materials.StateBroken, "backing blob missing"
		})}, journal: &materials.JournalState{LastApplied: lastApplied()},
			want: []want{{"mend:volume/" + uuidA + "#1", TypeMend, RemedyRefetch, 0, "is missing: download it again"}}},
		{name: "backing blob missing, tree unknown", vols: []materials.VolumeFile{overlay(missingA)},
			want: []want{{"mend:volume/" + uuidA + "#1", TypeMend, RemedyReport, 0, "names no content tree with it"}}},
		{name: "backing volume file missing", vols: []materials.VolumeFile{overlay([]materials.BackingLink{{Name: "x.qcow2", Path: vault + "x.qcow2", Missing: true}})},
			want: []want{{"mend:volume/" + uuidA + "#1", TypeMend, RemedyReport, 0, "another file of the volume) is missing"}}},
		{name: "two-deep chain, space", vols: []materials.VolumeFile{overlay(twoDeep), middle()}, blobs: []materials.BlobRecord{blobA()},
			strategy: StrategySpace,
			want:     []want{{"merge:volume/" + uuidA + "#1", TypeMerge, RemedyMerge, -65536, "overlay chain of 3 images"}},
			status:   map[string]Status{uuidA + "#1": StatusDegraded}},
		{name: "two-deep chain, performance: flatten only", vols: []materials.VolumeFile{overlay(twoDeep), middle()}, blobs: []materials.BlobRecord{blobA()},
			strategy: StrategyPerformance,
			want:     []want{{"optimize:volume/" + uuidA + "#1", TypeOptimize, RemedyFlatten, -(5000 + 65536), "flatten"}}},
		{name: "blob backing an overlay is never past grace", vols: []materials.VolumeFile{overlay(onBlobA)}, blobs: []materials.BlobRecord{blobA()},
			journal: &materials.JournalState{Unreferenced: []materials.Unreferenced{{Target: materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:" + hexA}, Since: old}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fp := &materials.Floorplan{Volumes: tc.vols, Blobs: tc.blobs, Journal: tc.journal}
			before, _ := json.Marshal(fp)
			r := Check(fp, Options{Now: now, GracePeriod: time.Hour, Strategy: tc.strategy, VolumeStrategy: tc.perVol})
			if after, _ := json.Marshal(fp); string(after) != string(before) {
				t.Errorf("Check modified the Floorplan")
			}
			var got []want
			for _, f := range r.Fixes {
				if f.ID != fixID(f.Type, f.Target) && !strings.Contains(f.ID, "/ingest/") {
					t.Errorf("fix id %q is not derived from type %s and target %v", f.ID, f.Type, f.Target)
				}
				w := want{f.ID, f.Type, f.Remedy, f.Bytes, f.Reason}
				for _, tw := range tc.want {
					if tw.id == f.ID && strings.Contains(f.Reason, tw.reason) {
						w.reason = tw.reason // the wanted part is there
					}
				}
				got = append(got, w)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("fixes (-want +got):\n%s", diff)
			}
			if tc.status != nil {
				gs := map[string]Status{}
				for _, s := range r.Volumes {
					gs[s.ID] = s.Status
				}
				if diff := cmp.Diff(tc.status, gs); diff != "" {
					t.Errorf("statuses (-want +got):\n%s", diff)
				}
			}
			if r.Fixes == nil || r.Volumes == nil {
				t.Errorf("nil lists in %+v", r)
			}
		})
	}
}

// overlay is sound() as a qcow2 overlay on the given chain.
func overlay(chain []materials.BackingLink) materials.VolumeFile {
	return with(sound(), func(v *materials.VolumeFile) { v.BackingFile, v.Backing = chain[0].Name, chain })
}

// middle is the middle link of twoDeep: a snapshot's file of uuidA.
func middle() materials.VolumeFile {
	return with(sound(), func(v *materials.VolumeFile) {
		v.Path, v.ID, v.AllocatedSize, v.Backing = vault+"mid.qcow2", "", 65536, onBlobA
	})
}

var (
	onBlobA  = []materials.BackingLink{{Name: "../../blobs/sha256/" + hexA, Blob: digest.Digest("sha256:" + hexA), Format: materials.FormatQcow2}}
	missingA = []materials.BackingLink{{Name: "../../blobs/sha256/" + hexA, Blob: digest.Digest("sha256:" + hexA), Missing: true}}
	twoDeep  = []materials.BackingLink{{Name: "mid.qcow2", Path: vault + "mid.qcow2", Format: materials.FormatQcow2}, onBlobA[0]}
)

func with2(b materials.BlobRecord, f func(*materials.BlobRecord)) materials.BlobRecord {
	f(&b)
	return b
}

// TestStableAndSorted: the same Floorplan gives the same report however
// its items are ordered, and the JSON keys are the issue's.
func TestStableAndSorted(t *testing.T) {
	vols := []materials.VolumeFile{
		with(sound(), func(v *materials.VolumeFile) { v.State, v.Reason = materials.StateBroken, "truncated" }),
		{Path: vault + "z", State: materials.StateUnknown, Reason: "?"},
		{Path: vault + "a", State: materials.StateUnknown, Reason: "?"},
	}
	r1 := Check(&materials.Floorplan{Volumes: vols}, Options{Now: now})
	rev := []materials.VolumeFile{vols[2], vols[1], vols[0]}
	r2 := Check(&materials.Floorplan{Volumes: rev}, Options{Now: now})
	if diff := cmp.Diff(r1, r2, cmp.AllowUnexported(Report{})); diff != "" {
		t.Fatalf("order changes the report:\n%s", diff)
	}
	if len(r1.Fixes) != 3 || r1.Fixes[0].ID != "clean:file/"+vault+"a" || r1.Fixes[2].ID != "mend:volume/"+uuidA+"#1" {
		t.Fatalf("fixes %+v", r1.Fixes)
	}
	b, _ := json.Marshal(r1)
	var m struct {
		Fixes   []map[string]json.RawMessage `json:"fixes"`
		Volumes []map[string]json.RawMessage `json:"volumes"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m.Fixes[0] {
		keys = append(keys, k)
	}
	for k := range m.Volumes[0] {
		keys = append(keys, "volume."+k)
	}
	if diff := cmp.Diff([]string{"bytes", "id", "reason", "target", "type", "volume.id", "volume.status"}, sorted(keys)); diff != "" {
		t.Errorf("JSON keys:\n%s", diff)
	}
	empty, _ := json.Marshal(Check(&materials.Floorplan{}, Options{Now: now}))
	if string(empty) != `{"fixes":[],"volumes":[]}` {
		t.Errorf("empty report %s", empty)
	}
}

func sorted(s []string) []string { sort.Strings(s); return s }
