package assembler

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

func TestAdoptAndBreakBeforeMake(t *testing.T) {
	testenv.QemuImg(t)
	root := t.TempDir()
	legacy := filepath.Join(root, "persist/img/abc-app.qcow2")
	os.MkdirAll(filepath.Dir(legacy), 0o755)
	q := &QemuVolumes{}
	if err := q.CreateBlank(context.Background(), legacy, materials.FormatQcow2, 4<<20); err != nil {
		t.Fatal(err)
	}
	v := materials.Volume{ID: "vol1", Generation: 0, Origin: materials.OriginBlank, Format: materials.FormatQcow2, MaxSizeBytes: 4 << 20}
	a := newTestAssembler(t, root, nil)
	rep := apply(t, a, plan(remodel.Remodel{ID: "adopt", Action: remodel.ActionAdopt, Target: materials.MaterialRef{Kind: materials.KindVolume, ID: v.Key().String()}, Payload: &remodel.AdoptPayload{Volume: v, From: "persist/img/abc-app.qcow2"}}))
	wantStatus(t, rep, "adopt", StatusDone, "")
	adopted, _ := VolumePath(root, v)
	if _, err := os.Stat(adopted); err != nil {
		t.Fatalf("adopted volume: %v", err)
	}
	if _, err := os.Stat(legacy); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("adopt by rename left the old name")
	}
	v2 := v
	v2.Generation = 1
	old := v.Key()
	rep = apply(t, a, plan(remodel.Remodel{ID: "purge", Action: remodel.ActionPurge, Target: materials.MaterialRef{Kind: materials.KindVolume, ID: v2.Key().String()},
		Payload: &remodel.PurgePayload{Volume: v2, Replaces: old, Strategy: remodel.BreakBeforeMake}}))
	wantStatus(t, rep, "purge", StatusDone, "")
	if _, err := os.Stat(adopted); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("purge left the old generation")
	}
	p2, _ := VolumePath(root, v2)
	if info := qemuInfo(t, p2); info.VirtualSize != 4<<20 {
		t.Errorf("new generation: %+v", info)
	}
}
