package devicetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
)

// Journal checks a device's journal against package journal's rules:
// intents and history, grace clocks where the earliest start wins, tag
// latches per tree generation, checkpoints with their usage, and the
// writes that must not happen (nothing changed, nothing written: every
// write is a crash point the crash test enumerates).
func Journal(t *testing.T, newDevice func(t *testing.T) device.JournalOpener) {
	writes := 0
	j, err := newDevice(t).OpenJournal(func(int) { writes++ })
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	t1, t2, t3 := epoch, epoch.Add(time.Hour), epoch.Add(2*time.Hour)
	expectWrites := func(step string, n int) {
		t.Helper()
		if writes != n {
			t.Errorf("%s: %d durable writes so far, want %d", step, writes, n)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	vol := func(id string) materials.MaterialRef {
		return materials.MaterialRef{Kind: materials.KindVolume, ID: id}
	}
	blob := func(id string) materials.MaterialRef { return materials.MaterialRef{Kind: materials.KindBlob, ID: id} }

	// Intents and history.
	a := journal.Intent{ApplyID: "A", RemodelID: "create:volume/b#0", Action: "create", Target: vol("b#0"), StartedAt: t1}
	b := journal.Intent{ApplyID: "A", RemodelID: "create:volume/a#0", Action: "create", Target: vol("a#0"), StartedAt: t1}
	must(j.Begin(a))
	must(j.Begin(b))
	ins, err := j.Intents()
	must(err)
	if d := cmp.Diff([]journal.Intent{b, a}, ins); d != "" {
		t.Errorf("intents, sorted by remodel id (-want +got):\n%s", d)
	}
	must(j.Finish(a, journal.OutcomeDone, "", t2))
	hist, err := j.History()
	must(err)
	if d := cmp.Diff([]journal.Record{{Intent: a, Outcome: journal.OutcomeDone, FinishedAt: t2}}, hist); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}
	st, err := j.JournalState(context.Background())
	must(err)
	if d := cmp.Diff([]materials.InFlight{{RemodelID: b.RemodelID, Action: "create", Target: b.Target, StartedAt: t1}}, st.InFlight); d != "" {
		t.Errorf("in flight (-want +got):\n%s", d)
	}
	expectWrites("begin, begin, finish", 3)
	if n, err := j.DropIntents("A"); err != nil || n != 0 {
		t.Errorf("DropIntents(own apply) = %d, %v; want 0", n, err)
	}
	expectWrites("drop nothing", 3)
	if n, err := j.DropIntents("B"); err != nil || n != 1 {
		t.Errorf("DropIntents(another apply) = %d, %v; want 1", n, err)
	}
	expectWrites("drop one", 4)

	// Grace clocks: the earliest start wins; no change, no write.
	must(j.UpdateUnreferenced([]materials.Unreferenced{{Target: blob("x"), Since: t2}}, nil))
	must(j.UpdateUnreferenced([]materials.Unreferenced{{Target: blob("x"), Since: t1}}, nil))
	must(j.UpdateUnreferenced([]materials.Unreferenced{{Target: blob("x"), Since: t3}}, nil))
	expectWrites("clocks started, moved earlier, not later", 6)
	must(j.UpdateUnreferenced(nil, []materials.MaterialRef{blob("absent")}))
	expectWrites("clear an absent clock", 6)
	must(j.ReplaceUnreferenced([]materials.Unreferenced{{Target: vol("v#1"), Since: t3}, {Target: blob("x"), Since: t3}, {Target: blob("a"), Since: t2}}))
	must(j.ReplaceUnreferenced([]materials.Unreferenced{{Target: vol("v#1"), Since: t3}, {Target: blob("x"), Since: t3}, {Target: blob("a"), Since: t2}}))
	expectWrites("replace, then the same again", 7)
	un, err := j.Unreferenced()
	must(err)
	want := []materials.Unreferenced{{Target: blob("a"), Since: t2}, {Target: blob("x"), Since: t1}, {Target: vol("v#1"), Since: t3}}
	if d := cmp.Diff(want, un); d != "" {
		t.Errorf("clocks, sorted by target, earliest start kept (-want +got):\n%s", d)
	}
	must(j.UpdateUnreferenced(nil, []materials.MaterialRef{blob("x")}))
	if un, _ = j.Unreferenced(); len(un) != 2 {
		t.Errorf("after clearing x: %v", un)
	}

	// Latches: one per tree generation.
	l1 := materials.TagLatch{ContentTree: "t", Generation: 1, URL: "app:v1", Digest: "sha256:01", ResolvedAt: t1}
	l2 := materials.TagLatch{ContentTree: "t", Generation: 1, URL: "app:v2", Digest: "sha256:02", ResolvedAt: t2}
	l0 := materials.TagLatch{ContentTree: "s", Generation: 0, URL: "db:v1", Digest: "sha256:03", ResolvedAt: t1}
	must(j.PutLatch(l1))
	must(j.PutLatch(l2))
	must(j.PutLatch(l0))
	ls, err := j.Latches()
	must(err)
	if d := cmp.Diff([]materials.TagLatch{l0, l2}, ls); d != "" {
		t.Errorf("latches (-want +got):\n%s", d)
	}

	// Checkpoints and usage.
	bp1 := &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{{ID: "os"}},
		Volumes: []materials.Volume{{ID: "v", Generation: 1, ContentTree: "os", RefCount: 1}, {ID: "w", RefCount: 2}}}
	must(j.Checkpoint(bp1, t1))
	w0 := writes
	must(j.Checkpoint(bp1, t2))
	if writes != w0 {
		t.Errorf("a checkpoint of the same Blueprint wrote %d times", writes-w0)
	}
	bp2 := &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{{ID: "os"}},
		Volumes: []materials.Volume{{ID: "v", Generation: 1, ContentTree: "os", RefCount: 3}}}
	must(j.Checkpoint(bp2, t3))
	last, err := j.LastApplied()
	must(err)
	if d := cmp.Diff(bp2, last); d != "" {
		t.Errorf("last applied (-want +got):\n%s", d)
	}
	st, err = j.JournalState(context.Background())
	must(err)
	wantUsage := []materials.Usage{
		{Target: materials.MaterialRef{Kind: materials.KindContentTree, ID: "os"}, CreateTime: t1, RefCount: 1, LastRefcountChange: t1},
		{Target: vol("v#1"), CreateTime: t1, RefCount: 3, LastRefcountChange: t3},
	}
	if d := cmp.Diff(wantUsage, st.Usage); d != "" {
		t.Errorf("usage: kept create time, new refcount change, dropped material forgotten (-want +got):\n%s", d)
	}
	// bp1 and bp2 name neither t nor s: their latches went at the checkpoint.
	ls, err = j.Latches()
	must(err)
	if len(ls) != 0 || len(st.Latches) != 0 {
		t.Errorf("latches of trees no checkpoint names survived: %v, state %v", ls, st.Latches)
	}
	if d := cmp.Diff(ls, st.Latches); d != "" {
		t.Errorf("journal state latches (-want +got):\n%s", d)
	}
	if j.Quarantined() != nil {
		t.Errorf("a fresh journal reports quarantine: %+v", j.Quarantined())
	}

	// A checkpoint drops the latches that pin nothing any more (a tree
	// gone, a generation left) and keeps those of a tree the Blueprint
	// lists at their generation, withholds, or is the content of a volume.
	lt := func(ct string, gen int64) materials.TagLatch {
		return materials.TagLatch{ContentTree: ct, Generation: gen, URL: ct + ":v", Digest: digest.Digest("sha256:0" + ct), ResolvedAt: t1}
	}
	for _, l := range []materials.TagLatch{lt("a", 1), lt("a", 2), lt("b", 0), lt("c", 0), lt("d", 0), lt("e", 0)} {
		must(j.PutLatch(l))
	}
	bp3 := &materials.Blueprint{Complete: true,
		ContentTrees: []materials.ContentTree{{ID: "a", Generation: 2}, {ID: "os"}},
		Volumes:      []materials.Volume{{ID: "v", Generation: 1, ContentTree: "os", RefCount: 3}, {ID: "u", ContentTree: "c"}},
		Withheld:     []materials.MaterialRef{{Kind: materials.KindContentTree, ID: "d"}}}
	must(j.Checkpoint(bp3, t3))
	ls, err = j.Latches()
	must(err)
	if d := cmp.Diff([]materials.TagLatch{lt("a", 2), lt("c", 0), lt("d", 0)}, ls); d != "" {
		t.Errorf("latches after a checkpoint without b, e and a's generation 1 (-want +got):\n%s", d)
	}

	// A checkpoint drops the dense records of volume generations it no
	// longer has (a sparsified volume since deleted), keeping those of
	// its volumes and any whose path names no generation.
	dense := func(p string) materials.DenseFile { return materials.DenseFile{Path: p, Size: 1 << 20, ModTime: t1} }
	kept := []materials.DenseFile{dense("persist/vault/volumes/notes"), dense("persist/vault/volumes/v#1.raw")}
	for _, d := range append([]materials.DenseFile{dense("persist/vault/volumes/gone#4.raw")}, kept...) {
		must(j.PutDense(d))
	}
	must(j.Checkpoint(&materials.Blueprint{Complete: true, ContentTrees: bp3.ContentTrees, Volumes: bp3.Volumes[:1], Withheld: bp3.Withheld}, t3))
	st, err = j.JournalState(context.Background())
	must(err)
	if d := cmp.Diff(kept, st.Dense); d != "" {
		t.Errorf("dense records after a checkpoint without gone#4 (-want +got):\n%s", d)
	}

	// Snapshot lineage: one record per app, snapshot and volume
	// generation, replaced by a put of the same key, one write per call,
	// dropped per volume (an absent one is no error), listed sorted.
	const app, s1, s2 = "app", "5a000000-0000-4000-8000-000000000001", "5a000000-0000-4000-8000-000000000002"
	k0, k1 := materials.VolumeKey{ID: "v", Generation: 0}, materials.VolumeKey{ID: "v", Generation: 1}
	kw := materials.VolumeKey{ID: "w", Generation: 0}
	rec := func(snap string, k materials.VolumeKey, at time.Time, version string) materials.SnapshotLineage {
		return materials.SnapshotLineage{App: app, Snapshot: snap, Volume: k, Format: materials.FormatQcow2,
			Type: materials.SnapshotAppUpdate, Taken: at, ConfigVersion: version}
	}
	w0 = writes
	must(j.PutLineage([]materials.SnapshotLineage{rec(s2, k1, t1, "1"), rec(s1, kw, t1, "1"), rec(s1, k0, t1, "1")}))
	must(j.PutLineage([]materials.SnapshotLineage{rec(s1, k0, t2, "2")}))
	if writes != w0+2 {
		t.Errorf("two lineage puts: %d durable writes, want 2", writes-w0)
	}
	st, err = j.JournalState(context.Background())
	must(err)
	wantLineage := []materials.SnapshotLineage{rec(s1, k0, t2, "2"), rec(s1, kw, t1, "1"), rec(s2, k1, t1, "1")}
	if d := cmp.Diff(wantLineage, st.Lineage); d != "" {
		t.Errorf("lineage, sorted by app, snapshot, volume; a put replaces its key (-want +got):\n%s", d)
	}
	must(j.DropLineage(app, s1, []materials.VolumeKey{k0, k1}))
	st, err = j.JournalState(context.Background())
	must(err)
	if d := cmp.Diff(wantLineage[1:], st.Lineage); d != "" {
		t.Errorf("lineage after dropping s1 of v#0 and v#1 (-want +got):\n%s", d)
	}
}
