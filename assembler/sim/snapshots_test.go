package sim_test

import (
	"context"
	"testing"

	"github.com/edgewright/edgewright/assembler/sim"
	"github.com/edgewright/edgewright/materials"
)

// The sim's snapshots follow the craft's rules and are surveyed as the
// inspector reports them: internal for qcow2, a copy beside a raw or
// container volume, charged its allocated size.
func TestSimSnapshots(t *testing.T) {
	const id, sn = "6ba7b810-9dad-41d1-80b4-00c04fd430c8", "5a0e0000-0000-4000-8000-00000000000a"
	tests := []struct {
		format  materials.Format
		dir     bool
		path    string
		charged int64
	}{
		{materials.FormatQcow2, false, "", 0},
		{materials.FormatRaw, false, "persist/vault/volumes/" + id + "#0@" + sn + ".raw", 100},
		{materials.FormatContainer, true, "persist/vault/volumes/" + id + "#0@" + sn + ".container", 100},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			ctx := context.Background()
			dev := sim.New(sim.NewWorld(), sim.Options{CapacityBytes: 1000})
			v := materials.Volume{ID: id, Format: tt.format}
			rel := "persist/vault/volumes/" + id + "#0." + string(tt.format)
			if err := dev.Load(&materials.Floorplan{Volumes: []materials.VolumeFile{{Path: rel, ID: id, Format: tt.format, Dir: tt.dir,
				VirtualSize: 500, AllocatedSize: 100, State: materials.StateComplete}}}); err != nil {
				t.Fatal(err)
			}
			s := dev.Crafts().Snapshots
			used := dev.UsedBytes()
			if _, err := s.Rollback(ctx, dev.Root(), v, sn); err == nil {
				t.Fatal("rollback to a snapshot that does not exist succeeded")
			}
			if _, err := s.Take(ctx, dev.Root(), v, "../x"); err == nil {
				t.Fatal("a snapshot id that is no uuid was taken")
			}
			r, err := s.Take(ctx, dev.Root(), v, sn)
			if err != nil || r.AlreadyDone {
				t.Fatalf("take = %+v, %v", r, err)
			}
			if r, err := s.Take(ctx, dev.Root(), v, sn); err != nil || !r.AlreadyDone {
				t.Fatalf("take again = %+v, %v; want already done", r, err)
			}
			if got := dev.UsedBytes() - used; got != tt.charged {
				t.Errorf("the snapshot takes %d bytes, want %d", got, tt.charged)
			}
			fp, err := dev.Survey(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(fp.Volumes) != 1 || len(fp.Volumes[0].Snapshots) != 1 {
				t.Fatalf("survey: %+v", fp.Volumes)
			}
			if got := fp.Volumes[0].Snapshots[0]; got.Name != sn || got.Path != tt.path || got.State != materials.StateComplete {
				t.Errorf("surveyed snapshot %+v, want name %s path %q", got, sn, tt.path)
			}
			if _, err := s.Rollback(ctx, dev.Root(), v, sn); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			if r, err := s.Delete(ctx, dev.Root(), v, sn); err != nil || r.AlreadyDone {
				t.Fatalf("delete = %+v, %v", r, err)
			}
			if r, err := s.Delete(ctx, dev.Root(), v, sn); err != nil || !r.AlreadyDone {
				t.Fatalf("delete again = %+v, %v; want already done", r, err)
			}
			if got := dev.UsedBytes(); got != used {
				t.Errorf("after delete %d bytes used, want %d", got, used)
			}
		})
	}
}
