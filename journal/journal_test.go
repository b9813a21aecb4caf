package journal

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgewright/edgewright/materials"
)

func TestIntentsSurviveReopen(t *testing.T) {
	root := t.TempDir()
	var writes []int
	j, err := OpenRoot(root, Options{AfterWrite: func(n int) { writes = append(writes, n) }})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := Intent{ApplyID: "a1", RemodelID: "download blob sha256:aa", Action: "download", Target: materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:aa"}, StartedAt: t0}
	b := Intent{ApplyID: "a1", RemodelID: "create volume v#1", Action: "create", Target: materials.MaterialRef{Kind: materials.KindVolume, ID: "v#1"}, StartedAt: t0}
	for _, in := range []Intent{a, b} {
		if err := j.Begin(in); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Finish(a, OutcomeDone, "", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 2, 3}, writes); diff != "" {
		t.Errorf("AfterWrite calls (-want +got):\n%s", diff)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, err = OpenRoot(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	st, err := j.JournalState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []materials.InFlight{{RemodelID: b.RemodelID, Action: "create", Target: b.Target, StartedAt: t0}}
	if diff := cmp.Diff(want, st.InFlight); diff != "" {
		t.Errorf("in flight after reopen (-want +got):\n%s", diff)
	}
	hist, err := j.History()
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].RemodelID != a.RemodelID || hist[0].Outcome != OutcomeDone {
		t.Errorf("history = %+v, want one done record for %s", hist, a.RemodelID)
	}
	// A later apply settles the earlier apply's intents.
	if n, err := j.DropIntents("a2"); err != nil || n != 1 {
		t.Errorf("DropIntents = %d, %v; want 1, nil", n, err)
	}
	if ins, _ := j.Intents(); len(ins) != 0 {
		t.Errorf("intents after DropIntents: %+v", ins)
	}
}

func TestUnreferencedClocks(t *testing.T) {
	j, err := OpenRoot(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	vol := materials.MaterialRef{Kind: materials.KindVolume, ID: "v#1"}
	blob := materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:bb"}
	steps := []struct {
		name  string
		add   []materials.Unreferenced
		clear []materials.MaterialRef
		want  []materials.Unreferenced
	}{
		{"first sighting records the clock", []materials.Unreferenced{{Target: vol, Since: t0}}, nil, []materials.Unreferenced{{Target: vol, Since: t0}}},
		{"a later since never restarts the clock", []materials.Unreferenced{{Target: vol, Since: t0.Add(time.Hour)}, {Target: blob, Since: t0.Add(time.Hour)}}, nil,
			[]materials.Unreferenced{{Target: blob, Since: t0.Add(time.Hour)}, {Target: vol, Since: t0}}},
		{"needed again clears it", nil, []materials.MaterialRef{vol}, []materials.Unreferenced{{Target: blob, Since: t0.Add(time.Hour)}}},
	}
	for _, s := range steps {
		if err := j.UpdateUnreferenced(s.add, s.clear); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, err := j.Unreferenced()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
	}
}

func TestCheckpointAndLatches(t *testing.T) {
	j, err := OpenRoot(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if bp, err := j.LastApplied(); err != nil || bp != nil {
		t.Fatalf("LastApplied on a new journal = %v, %v", bp, err)
	}
	bp := &materials.Blueprint{Complete: true, Volumes: []materials.Volume{{ID: "v", Generation: 2, Origin: materials.OriginBlank, Format: materials.FormatQcow2, MaxSizeBytes: 1 << 20}}}
	if err := j.Checkpoint(bp, time.Unix(1, 0).UTC()); err != nil {
		t.Fatal(err)
	}
	l := materials.TagLatch{ContentTree: "ct", Generation: 1, URL: "repo:tag", Digest: "sha256:cc", ResolvedAt: time.Unix(5, 0).UTC()}
	if err := j.PutLatch(l); err != nil {
		t.Fatal(err)
	}
	st, err := j.JournalState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(bp, st.LastApplied); diff != "" {
		t.Errorf("last applied (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]materials.TagLatch{l}, st.Latches); diff != "" {
		t.Errorf("latches (-want +got):\n%s", diff)
	}
}

func TestSecondWriterIsBusy(t *testing.T) {
	p := filepath.Join(t.TempDir(), "journal.db")
	j, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	_, err = Open(p, Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("second Open: %v, want ErrBusy", err)
	}
}

func TestReplaceUnreferenced(t *testing.T) {
	writes := 0
	j, err := OpenRoot(t.TempDir(), Options{AfterWrite: func(int) { writes++ }})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:aa"}
	b := materials.MaterialRef{Kind: materials.KindContentTree, ID: "ct"}
	steps := []struct {
		name       string
		list, want []materials.Unreferenced
		writes     int
	}{
		{"set", []materials.Unreferenced{{Target: a, Since: t0}}, []materials.Unreferenced{{Target: a, Since: t0}}, 1},
		{"same again writes nothing", []materials.Unreferenced{{Target: a, Since: t0}}, []materials.Unreferenced{{Target: a, Since: t0}}, 1},
		{"earlier clock kept, missing one dropped", []materials.Unreferenced{{Target: b, Since: t0.Add(time.Hour)}, {Target: a, Since: t0.Add(time.Hour)}},
			[]materials.Unreferenced{{Target: a, Since: t0}, {Target: b, Since: t0.Add(time.Hour)}}, 2},
		{"empty clears", nil, nil, 3},
	}
	for _, s := range steps {
		if err := j.ReplaceUnreferenced(s.list); err != nil {
			t.Fatal(err)
		}
		got, _ := j.Unreferenced()
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
		if writes != s.writes {
			t.Errorf("%s: %d durable writes, want %d", s.name, writes, s.writes)
		}
	}
}

func TestHistoryBoundedAndCheckpointWritesOnce(t *testing.T) {
	writes := 0
	j, err := OpenRoot(t.TempDir(), Options{HistoryLimit: 3, AfterWrite: func(int) { writes++ }})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := range 5 {
		in := Intent{ApplyID: "a", RemodelID: fmt.Sprint("r", i)}
		if err := j.Finish(in, OutcomeDone, "", time.Unix(int64(i), 0)); err != nil {
			t.Fatal(err)
		}
	}
	hist, _ := j.History()
	var ids []string
	for _, r := range hist {
		ids = append(ids, r.RemodelID)
	}
	if diff := cmp.Diff([]string{"r2", "r3", "r4"}, ids); diff != "" {
		t.Errorf("bounded history (-want +got):\n%s", diff)
	}
	bp := &materials.Blueprint{Complete: true}
	writes = 0
	for range 3 {
		if err := j.Checkpoint(bp, time.Unix(1, 0).UTC()); err != nil {
			t.Fatal(err)
		}
	}
	if writes != 1 {
		t.Errorf("three checkpoints of one Blueprint made %d writes, want 1", writes)
	}
}

// Usage is what the info messages report as createTime, refCount and
// lastRefcountChangeTime: it must survive a restart (reopen) and change only
// when a count changes.
func TestUsageAcrossCheckpointsAndRestart(t *testing.T) {
	root := t.TempDir()
	t1, t2, t3 := time.Unix(100, 0).UTC(), time.Unix(200, 0).UTC(), time.Unix(300, 0).UTC()
	vol := func(id string, gen int64, refs int, tree string) materials.Volume {
		return materials.Volume{ID: id, Generation: gen, Origin: materials.OriginDownload, ContentTree: tree, RefCount: refs}
	}
	ref := func(k materials.MaterialKind, id string) materials.MaterialRef {
		return materials.MaterialRef{Kind: k, ID: id}
	}
	steps := []struct {
		name string
		at   time.Time
		bp   *materials.Blueprint
		want []materials.Usage
	}{
		{"first checkpoint stamps everything", t1,
			&materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{{ID: "ct"}},
				Volumes: []materials.Volume{vol("a", 1, 2, "ct"), vol("b", 1, 1, "ct")}},
			[]materials.Usage{
				{Target: ref(materials.KindContentTree, "ct"), CreateTime: t1, RefCount: 2, LastRefcountChange: t1},
				{Target: ref(materials.KindVolume, "a#1"), CreateTime: t1, RefCount: 2, LastRefcountChange: t1},
				{Target: ref(materials.KindVolume, "b#1"), CreateTime: t1, RefCount: 1, LastRefcountChange: t1},
			}},
		{"an app drops volume a: only its count and change time move", t2,
			&materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{{ID: "ct"}},
				Volumes: []materials.Volume{vol("a", 1, 1, "ct"), vol("b", 1, 1, "ct")}},
			[]materials.Usage{
				{Target: ref(materials.KindContentTree, "ct"), CreateTime: t1, RefCount: 2, LastRefcountChange: t1},
				{Target: ref(materials.KindVolume, "a#1"), CreateTime: t1, RefCount: 1, LastRefcountChange: t2},
				{Target: ref(materials.KindVolume, "b#1"), CreateTime: t1, RefCount: 1, LastRefcountChange: t1},
			}},
		{"volume b dropped: forgotten, the tree's count falls", t3,
			&materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{{ID: "ct"}},
				Volumes: []materials.Volume{vol("a", 1, 1, "ct")}},
			[]materials.Usage{
				{Target: ref(materials.KindContentTree, "ct"), CreateTime: t1, RefCount: 1, LastRefcountChange: t3},
				{Target: ref(materials.KindVolume, "a#1"), CreateTime: t1, RefCount: 1, LastRefcountChange: t2},
			}},
	}
	for _, s := range steps {
		j, err := OpenRoot(root, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Checkpoint(s.bp, s.at); err != nil {
			t.Fatal(err)
		}
		j.Close()
		// Reopened read-only, as `wright status` does after a restart.
		r, err := OpenRoot(root, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		st, err := r.JournalState(context.Background())
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s.want, st.Usage); diff != "" {
			t.Errorf("%s: usage (-want +got):\n%s", s.name, diff)
		}
	}
}
