package assembler

import (
	"context"
	"os"
	"testing"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
)

// TestHeldDeletesSurviveTheCheckpoint drops every volume: the mass-delete
// guard holds the deletes, the apply still checkpoints the new (empty)
// Blueprint, and a later apply that allows the mass delete must still know
// those volumes were configured and delete them, not merely report them.
func TestHeldDeletesSurviveTheCheckpoint(t *testing.T) {
	f := newFixture(t)
	root := t.TempDir()
	a, err := New(Options{Root: root, Retry: fastRetry(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	converge(t, a, f.bp)

	empty := &materials.Blueprint{Complete: true, Datastores: f.bp.Datastores}
	res, err := a.Converge(context.Background(), empty, ConvergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Held() || len(res.Plan.Held) != len(f.bp.Volumes) {
		t.Fatalf("want every volume delete held by the mass-delete guard, got %+v", res.Plan.Held)
	}
	for _, v := range f.bp.Volumes {
		p, _ := VolumePath(root, v)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("held volume %s is gone: %v", v.Key(), err)
		}
	}

	res, err = a.Converge(context.Background(), empty, ConvergeOptions{Foreman: foreman.Options{AllowMassDelete: true}})
	if err != nil || !res.Converged || res.Held() {
		t.Fatalf("allowed mass delete: err %v, converged %v, held %+v", err, res.Converged, res.Plan.Held)
	}
	for _, v := range f.bp.Volumes {
		p, _ := VolumePath(root, v)
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("volume %s still on disk after the allowed delete: %v", v.Key(), err)
		}
	}
}
