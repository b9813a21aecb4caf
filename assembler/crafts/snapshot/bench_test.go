package snapshot

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// The figures: snapshot and rollback of a 4 GiB qcow2 with 1 GiB
// written since the snapshot (goals: snapshot under 100 ms, rollback under
// 1 s), and of a 1 GiB raw volume (fully allocated: a copy's worst case)
// on a plain and a reflink-capable file system. Only Take or Rollback is
// timed; writing the 1 GiB and deleting the snapshot are not. Run by
// bench/snapshot.sh; figures in bench/RESULTS.md.

func BenchmarkQcow2(b *testing.B) {
	qemuImg := testenv.QemuImg(b)
	qemuIO := testenv.LookPath(b, "qemu-io")
	root, v, vol := benchVolume(b, b.TempDir(), materials.FormatQcow2)
	mustRunB(b, qemuImg, "create", "-q", "-f", "qcow2", vol, "4G")
	mustRunB(b, qemuIO, "-f", "qcow2", "-c", "write -P 0x11 0 1G", vol)
	s := &Snapshotter{QemuImg: qemuImg}
	ctx := context.Background()
	b.Run("snapshot", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			r, err := s.Take(ctx, root, v, snap1)
			b.StopTimer()
			if err != nil || r.Method != MethodQcow2Internal {
				b.Fatalf("%+v %v", r, err)
			}
			mustRunB(b, qemuIO, "-f", "qcow2", "-c", "write -P 0xab 0 1G", vol)
			if _, err := s.Delete(ctx, root, v, snap1); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("rollback", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			if _, err := s.Take(ctx, root, v, snap1); err != nil {
				b.Fatal(err)
			}
			mustRunB(b, qemuIO, "-f", "qcow2", "-c", fmt.Sprintf("write -P 0x%x 0 1G", 0x20+i%64), vol)
			b.StartTimer()
			r, err := s.Rollback(ctx, root, v, snap1)
			b.StopTimer()
			if err != nil || r.Method != MethodQcow2Internal {
				b.Fatalf("%+v %v", r, err)
			}
			if _, err := s.Delete(ctx, root, v, snap1); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}

func BenchmarkRaw(b *testing.B) {
	for _, fs := range []struct {
		name string
		dir  func(testing.TB) string
	}{
		{"plain", func(tb testing.TB) string { return tb.TempDir() }},
		{"reflink", testenv.ReflinkDir},
	} {
		b.Run(fs.name, func(b *testing.B) {
			root, v, vol := benchVolume(b, fs.dir(b), materials.FormatRaw)
			f, err := os.Create(vol)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 1<<20)
			for i := range buf {
				buf[i] = byte(i)
			}
			for i := 0; i < 1024; i++ {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			f.Sync()
			f.Close()
			s := &Snapshotter{}
			ctx := context.Background()
			b.Run("snapshot", func(b *testing.B) {
				for b.Loop() {
					r, err := s.Take(ctx, root, v, snap1)
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(r.Bytes), "bytes-copied")
					if _, err := s.Delete(ctx, root, v, snap1); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
			b.Run("rollback", func(b *testing.B) {
				b.StopTimer()
				if _, err := s.Take(ctx, root, v, snap1); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for b.Loop() {
					r, err := s.Rollback(ctx, root, v, snap1)
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(r.Bytes), "bytes-copied")
				}
			})
		})
	}
}

func benchVolume(b *testing.B, dir string, f materials.Format) (string, materials.Volume, string) {
	b.Helper()
	v := materials.Volume{ID: volID, Generation: 1, Format: f}
	p, err := layout.VolumePath(dir, v)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		b.Fatal(err)
	}
	return dir, v, p
}

func mustRunB(b *testing.B, name string, args ...string) {
	b.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// acrossGenerations is generation 1 of a 4 GiB qcow2 whose snapshot holds
// 1 GiB of data, with 1 GiB written over it since.
func acrossGenerations(b *testing.B) (*Snapshotter, string, materials.Volume, string) {
	qemuImg := testenv.QemuImg(b)
	qemuIO := testenv.LookPath(b, "qemu-io")
	root, v1, vol1 := benchVolume(b, b.TempDir(), materials.FormatQcow2)
	mustRunB(b, qemuImg, "create", "-q", "-f", "qcow2", vol1, "4G")
	mustRunB(b, qemuIO, "-f", "qcow2", "-c", "write -P 0x11 0 1G", vol1)
	s := &Snapshotter{QemuImg: qemuImg}
	ctx := context.Background()
	if _, err := s.Take(ctx, root, v1, snap1); err != nil {
		b.Fatal(err)
	}
	mustRunB(b, qemuIO, "-f", "qcow2", "-c", "write -P 0xab 0 1G", vol1)
	return s, root, v1, vol1
}

// BenchmarkQcow2RestoreFrom: a rollback across generations of a 4 GiB
// qcow2 whose snapshot (on generation 1) holds 1 GiB of data, into a
// fresh 4 GiB generation 2: qemu-img convert writes the snapshot's data
// out, so it costs a copy of the 1 GiB, not a metadata switch.
func BenchmarkQcow2RestoreFrom(b *testing.B) {
	s, root, v1, _ := acrossGenerations(b)
	qemuImg := s.QemuImg
	ctx := context.Background()
	v2 := v1
	v2.Generation = 2
	vol2, _ := layout.VolumePath(root, v2)
	mustRunB(b, qemuImg, "create", "-q", "-f", "qcow2", vol2, "4G")
	for b.Loop() {
		r, err := s.RestoreFrom(ctx, root, v1, snap1, v2)
		if err != nil || r.Method != MethodQcow2Convert {
			b.Fatalf("%+v %v", r, err)
		}
	}
}

// BenchmarkQcow2MoveFrom: the same rollback across generations as
// BenchmarkQcow2RestoreFrom by a move (what the planner asks for when
// nothing but its snapshots keeps generation 1): PrepareMove reverts
// generation 1's file in place, the journal records the lineage on
// generation 2 (a bbolt commit, as the executor does), MoveOver renames
// it over generation 2, the journal drops generation 1's record. All four
// are timed; restoring generation 1 from a template between runs is not.
func BenchmarkQcow2MoveFrom(b *testing.B) {
	s, root, v1, vol1 := acrossGenerations(b)
	qemuImg := s.QemuImg
	ctx := context.Background()
	tmpl := filepath.Join(b.TempDir(), "gen1.qcow2")
	mustRunB(b, "cp", "--sparse=always", vol1, tmpl)
	v2 := v1
	v2.Generation = 2
	vol2, _ := layout.VolumePath(root, v2)
	j, err := journal.OpenRoot(root, journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	rec := materials.SnapshotLineage{App: snap2, Snapshot: snap1, Volume: v1.Key(), Format: materials.FormatQcow2, Type: materials.SnapshotAppUpdate}
	setup := func() {
		os.Remove(vol2)
		mustRunB(b, "cp", "--sparse=always", tmpl, vol1)
		mustRunB(b, qemuImg, "create", "-q", "-f", "qcow2", vol2, "4G")
		// The copy's dirty pages are the setup's, not the move's fsync's.
		for _, p := range []string{vol1, vol2} {
			if err := fsyncFile(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	setup()
	for b.Loop() {
		r, err := s.PrepareMove(ctx, root, v1, snap1, v2)
		if err == nil {
			moved := rec
			moved.Volume = v2.Key()
			err = j.PutLineage([]materials.SnapshotLineage{moved})
		}
		if err == nil {
			r, err = s.MoveOver(ctx, root, v1, snap1, v2)
		}
		if err == nil {
			err = j.DropLineage(rec.App, rec.Snapshot, []materials.VolumeKey{v1.Key()})
		}
		b.StopTimer()
		if err != nil || r.Method != MethodQcow2Move {
			b.Fatalf("%+v %v", r, err)
		}
		setup()
		b.StartTimer()
	}
}
