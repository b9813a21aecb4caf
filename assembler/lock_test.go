package assembler

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgewright/edgewright/assembler/crafts/rootdir"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// TestConcurrentAppliesNeverInterleave runs two applies on one root at
// once: with WaitForLock the second waits, without it refuses; the
// journal's history shows the waiting one's remodels all after the first's.
func TestConcurrentAppliesNeverInterleave(t *testing.T) {
	ds := newDatastore(t, false)
	ds.stall = make(chan struct{})
	root := t.TempDir()
	mkPlan := func(prefix string, seed uint64) *remodel.Plan {
		var rs []remodel.Remodel
		for i := range 3 {
			data := rawImage(seed+uint64(i), 256<<10)
			name := prefix + itoa(int64(i)) + ".raw"
			ds.put("/images/"+name, data)
			rs = append(rs, downloadRemodel(ctFor(prefix+itoa(int64(i)), name, data, materials.FormatRaw, "ds"), 0))
		}
		return plan(rs...)
	}
	p1, p2 := mkPlan("first", 200), mkPlan("second", 300)
	bp := WithBlueprint(&materials.Blueprint{Datastores: []materials.Datastore{ds.materials("ds")}})
	a1 := newTestAssembler(t, root, func(o *Options) { o.WaitForLock = true })
	a2 := newTestAssembler(t, root, func(o *Options) { o.WaitForLock = true })
	refuser := newTestAssembler(t, root, nil)

	var wg sync.WaitGroup
	reps := make([]*Report, 2)
	errs := make([]error, 2)
	wg.Add(1)
	go func() { defer wg.Done(); reps[0], errs[0] = a1.Apply(context.Background(), p1, bp) }()
	// Wait until the first apply holds the root (its first request).
	for len(ds.requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	wg.Add(1)
	go func() { defer wg.Done(); reps[1], errs[1] = a2.Apply(context.Background(), p2, bp) }()
	if _, err := refuser.Apply(context.Background(), p2, bp); !errors.Is(err, ErrRootLocked) {
		t.Errorf("a refusing assembler on a locked root: %v, want ErrRootLocked", err)
	}
	time.Sleep(200 * time.Millisecond) // the second is waiting now
	close(ds.stall)
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || reps[i].Done != 3 {
			t.Fatalf("apply %d: %v %+v", i, errs[i], reps[i])
		}
	}
	j, err := journal.OpenRoot(root, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	hist, err := j.History()
	if err != nil {
		t.Fatal(err)
	}
	type span struct{ start, end time.Time }
	spans := map[string]*span{}
	for _, r := range hist {
		s := spans[r.ApplyID]
		if s == nil {
			s = &span{r.StartedAt, r.FinishedAt}
			spans[r.ApplyID] = s
		}
		if r.StartedAt.Before(s.start) {
			s.start = r.StartedAt
		}
		if r.FinishedAt.After(s.end) {
			s.end = r.FinishedAt
		}
	}
	if len(spans) != 2 {
		t.Fatalf("history has %d applies, want 2", len(spans))
	}
	s1, s2 := spans[reps[0].ApplyID], spans[reps[1].ApplyID]
	if s1 == nil || s2 == nil {
		t.Fatal("history lacks an apply")
	}
	if !s2.start.After(s1.end) {
		t.Errorf("applies interleave: first %v..%v, second %v..%v", s1.start, s1.end, s2.start, s2.end)
	}
}

// TestWaitForLockHonoursContext: a waiting assembler gives up with its
// context, naming the lock.
func TestWaitForLockHonoursContext(t *testing.T) {
	root := t.TempDir()
	unlock, err := rootdir.New(root).Lock(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	a := newTestAssembler(t, root, func(o *Options) { o.WaitForLock = true })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = a.Apply(ctx, plan())
	if !errors.Is(err, ErrRootLocked) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply on a locked root past its deadline: %v", err)
	}
}
