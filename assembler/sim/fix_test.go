package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/sim"
	"github.com/edgewright/edgewright/check"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// damagedDevice holds one of each fix's damage: leaked clusters, a
// truncated volume with known content, an overlay whose backing blob is
// gone, an overlay under performance, a two-deep chain under space, a
// stale .tmp, a blob past its grace period, and an unknown file.
func damagedDevice(t *testing.T, now time.Time) (*sim.Device, check.Options) {
	t.Helper()
	w := sim.NewWorld()
	content, base, base2, orphan := digestOf("content"), digestOf("base"), digestOf("base2"), digestOf("orphan")
	w.Put(sim.Object{Digest: content, Size: 3 << 20, VirtualSize: 8 << 20})
	w.Put(sim.Object{Digest: base, Size: 1 << 20})
	w.Put(sim.Object{Digest: base2, Size: 1 << 20})
	w.Serve(httpDS, "content.qcow2", content)
	w.Serve(httpDS, "base.raw", base)
	dev := sim.New(w, sim.Options{Clock: func() time.Time { return now }})
	vault := "persist/vault/volumes/"
	old := now.Add(-3 * time.Hour)
	vol := func(i int, mut func(*materials.VolumeFile)) materials.VolumeFile {
		v := materials.VolumeFile{ID: volIDs[i], Generation: 1, Format: materials.FormatQcow2, Path: vault + volIDs[i] + "#1.qcow2",
			VirtualSize: 8 << 20, ApparentSize: 1 << 20, AllocatedSize: 1 << 20, ModTime: old, State: materials.StateComplete}
		mut(&v)
		return v
	}
	bl := func(dg materials.Blob) materials.BackingLink {
		return materials.BackingLink{Name: "../../blobs/sha256/" + dg.Digest.Encoded(), Blob: dg.Digest, Format: materials.FormatRaw}
	}
	mid := vault + volIDs[4] + "#1@" + appIDs[0] + ".qcow2"
	fp := &materials.Floorplan{
		Volumes: []materials.VolumeFile{
			vol(0, func(v *materials.VolumeFile) { v.Check = &materials.ImageCheck{Leaks: 3} }),
			vol(1, func(v *materials.VolumeFile) { v.State, v.Reason = materials.StateBroken, "qcow2 header: truncated" }),
			vol(2, func(v *materials.VolumeFile) { v.Backing = []materials.BackingLink{bl(materials.Blob{Digest: base})} }),
			vol(3, func(v *materials.VolumeFile) { v.Backing = []materials.BackingLink{bl(materials.Blob{Digest: base2})} }),
			vol(4, func(v *materials.VolumeFile) {
				v.Backing = []materials.BackingLink{{Name: mid[len(vault):], Path: mid, Format: materials.FormatQcow2}, bl(materials.Blob{Digest: base2})}
			}),
			{Path: vault + volIDs[5] + "#2.raw.tmp", ID: volIDs[5], Generation: 2, Format: materials.FormatRaw, Temp: true,
				AllocatedSize: 8192, ModTime: old, State: materials.StatePartial},
			{Path: vault + "notes.txt", Format: materials.FormatRaw, AllocatedSize: 10, ModTime: old, State: materials.StateUnknown, Reason: "not a volume name"},
		},
		Blobs: []materials.BlobRecord{
			{Digest: content, Store: materials.BlobStoreDir, Size: 3 << 20, State: materials.StateComplete, Path: "persist/blobs/sha256/" + content.Encoded()},
			{Digest: base2, Store: materials.BlobStoreDir, Size: 1 << 20, State: materials.StateComplete, Path: "persist/blobs/sha256/" + base2.Encoded()},
			{Digest: orphan, Store: materials.BlobStoreDir, Size: 5000, State: materials.StateComplete, Path: "persist/blobs/sha256/" + orphan.Encoded()},
		},
		Journal: &materials.JournalState{
			Unreferenced: []materials.Unreferenced{{Target: materials.MaterialRef{Kind: materials.KindBlob, ID: string(orphan)}, Since: old}},
			LastApplied: &materials.Blueprint{Complete: true, Datastores: []materials.Datastore{httpDS},
				ContentTrees: []materials.ContentTree{
					{ID: "content", URL: "content.qcow2", SHA256: content.Encoded(), Format: materials.FormatQcow2, Datastores: []string{"http"}},
					{ID: "base", URL: "base.raw", SHA256: base.Encoded(), Format: materials.FormatRaw, Datastores: []string{"http"}},
					{ID: "base2", URL: "base2.raw", SHA256: base2.Encoded(), Format: materials.FormatRaw, Datastores: []string{"http"}},
				},
				Volumes: []materials.Volume{
					{ID: volIDs[0], Generation: 1, Origin: materials.OriginBlank, Format: materials.FormatQcow2, MaxSizeBytes: 8 << 20, RefCount: 1},
					{ID: volIDs[1], Generation: 1, Origin: materials.OriginDownload, ContentTree: "content", Format: materials.FormatQcow2, MaxSizeBytes: 8 << 20, RefCount: 1},
					{ID: volIDs[2], Generation: 1, Origin: materials.OriginDownload, ContentTree: "base", Format: materials.FormatQcow2, MaxSizeBytes: 8 << 20, RefCount: 1},
					{ID: volIDs[3], Generation: 1, Origin: materials.OriginDownload, ContentTree: "base2", Format: materials.FormatQcow2, MaxSizeBytes: 8 << 20, RefCount: 1},
					{ID: volIDs[4], Generation: 1, Origin: materials.OriginDownload, ContentTree: "base2", Format: materials.FormatQcow2, MaxSizeBytes: 8 << 20, RefCount: 1},
				}}},
	}
	fp.Volumes = append(fp.Volumes, materials.VolumeFile{Path: mid, Format: materials.FormatQcow2, ModTime: old, State: materials.StateComplete,
		AllocatedSize: 1 << 16, Backing: []materials.BackingLink{bl(materials.Blob{Digest: base2})}})
	if err := dev.Load(fp); err != nil {
		t.Fatal(err)
	}
	return dev, check.Options{Now: now, GracePeriod: time.Hour, Strategy: check.StrategySpace,
		VolumeStrategy: map[materials.VolumeKey]string{{ID: volIDs[3], Generation: 1}: check.StrategyPerformance}}
}

// fixAll is `wright fix --all` on the in-memory device: settle the
// intents a crash left, check, plan, apply; crashAt > 0 crashes the
// device after that journal write. It returns the fixes the check listed.
func fixAll(t *testing.T, dev *sim.Device, copts check.Options, crashAt int) (listed []string, crashed bool) {
	t.Helper()
	writes := 0
	opts := dev.Options()
	opts.Logger, opts.Clock = zap.NewNop(), func() time.Time { return copts.Now }
	opts.Retry = assembler.RetryPolicy{Attempts: 2, Base: time.Microsecond, Max: time.Microsecond}
	opts.Datastores = []materials.Datastore{httpDS} // the last applied config's, as wright fix takes them
	opts.AfterJournalWrite = func(int) {
		if writes++; writes == crashAt {
			dev.Crash()
		}
	}
	a, err := assembler.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fp, err := dev.Survey(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(fp.Journal.InFlight) > 0 {
		settle := &remodel.Plan{Fingerprint: fp.Fingerprint, Unreferenced: fp.Journal.Unreferenced}
		if _, err := a.Apply(ctx, settle); err != nil {
			return nil, true
		}
		if fp, err = dev.Survey(ctx, nil); err != nil {
			return nil, true
		}
	}
	rep := check.Check(fp, copts)
	for _, f := range rep.Fixes {
		listed = append(listed, f.ID)
	}
	fpl, err := check.PlanFixes(fp, rep, check.Selection{All: true}, copts.Now)
	if err != nil {
		t.Fatal(err)
	}
	arep, err := a.Apply(ctx, fpl.Plan)
	if writes >= crashAt && crashAt > 0 {
		return listed, true
	}
	if err != nil || !arep.OK() {
		t.Fatalf("apply the fixes: %v %+v", err, arep)
	}
	return listed, false
}

// TestFixesConverge: on the in-memory device every fix type runs as a
// remodel; a crash after any journal write, then a reboot and a second
// run, leaves the same root as an uninterrupted run: a check that lists
// only the unknown file.
func TestFixesConverge(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	wantListed := 8 // one fix of each of the seven kinds of damage, and the unknown file
	dev, copts := damagedDevice(t, now)
	listed, _ := fixAll(t, dev, copts, 0)
	if len(listed) != wantListed {
		t.Fatalf("the check lists %d fixes, want %d: %v", len(listed), wantListed, listed)
	}
	want := []string{"clean:file/persist/vault/volumes/notes.txt"}
	after, _ := fixAll(t, dev, copts, 0)
	if diff := cmp.Diff(want, after); diff != "" {
		t.Fatalf("after the fixes the check lists (-want +got):\n%s", diff)
	}
	for n := 1; ; n++ {
		dev, copts := damagedDevice(t, now)
		if _, crashed := fixAll(t, dev, copts, n); !crashed {
			t.Logf("a fix run writes %d journal entries; crashed after each", n-1)
			return
		}
		dev.Reboot()
		fixAll(t, dev, copts, 0)
		if after, _ := fixAll(t, dev, copts, 0); !cmp.Equal(want, after) {
			t.Fatalf("crash after write %d: the check lists %v after a second run", n, after)
		}
	}
}
