package assembler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
)

// TestStalePlanWithTheInspector makes a plan with the real inspector and
// foreman, changes the disk, and expects Apply to refuse the plan.
func TestStalePlanWithTheInspector(t *testing.T) {
	f := newFixture(t)
	root := t.TempDir()
	os.MkdirAll(VolumesDir(root, false), 0o755)
	survey := func() *materials.Floorplan { return surveyRoot(t, root) }
	plan := foreman.Plan(f.bp, survey(), foreman.Options{Now: time.Now()})
	if plan.Empty() {
		t.Fatal("nothing planned on an empty root")
	}
	// Someone else writes a volume file meanwhile.
	stray := filepath.Join(VolumesDir(root, false), "44444444-0000-0000-0000-000000000001#1.raw")
	if err := os.WriteFile(stray, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Root: root, Logger: zap.NewNop(), Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Apply(context.Background(), plan, WithBlueprint(f.bp))
	if !errors.Is(err, ErrStalePlan) {
		t.Fatalf("Apply after the disk changed: %v, want ErrStalePlan", err)
	}
	if n := len(f.ds.requests()); n != 0 {
		t.Errorf("a refused plan made %d requests", n)
	}
	// A fresh plan of the same disk applies.
	os.Remove(stray)
	plan = foreman.Plan(f.bp, survey(), foreman.Options{Now: time.Now()})
	rep, err := a.Apply(context.Background(), plan, WithBlueprint(f.bp))
	if err != nil || rep.Failed != 0 {
		t.Fatalf("Apply of a fresh plan: %v %+v", err, rep)
	}
}

// TestConvergeStopsOnNoProgress: a content tree the datastore does not
// have fails every round; Converge stops with ErrNoProgress and the
// failure, after building what does not depend on it.
func TestConvergeStopsOnNoProgress(t *testing.T) {
	f := newFixture(t)
	f.bp.ContentTrees[0].URL = "missing.raw"
	root := t.TempDir()
	a, err := New(Options{Root: root, Logger: zap.NewNop(), Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Converge(context.Background(), f.bp, ConvergeOptions{})
	if !errors.Is(err, ErrNoProgress) {
		t.Fatalf("Converge: %v, want ErrNoProgress", err)
	}
	if res.Converged || len(res.Failed) != 1 || res.Failed[0].Target.ID != string(f.bp.ContentTrees[0].Digest()) {
		t.Errorf("result: converged=%v failed=%+v", res.Converged, res.Failed)
	}
	if res.Rounds != 2 {
		t.Errorf("rounds = %d, want 2 (the first builds the rest, the second gets nothing done)", res.Rounds)
	}
	for _, v := range f.bp.Volumes[1:] {
		p, _ := VolumePath(root, v)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("independent volume %s not built: %v", v.Key(), err)
		}
	}
}
