package snapshot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// TestMove rolls generation 2 of a qcow2 back to the snapshot generation 1
// holds by moving generation 1's file: after PrepareMove generation 2 is
// untouched; after MoveOver it reads as the snapshot grown to generation
// 2's size (qemu-img compare against a convert of the snapshot), holds
// every snapshot generation 1 held, and generation 1's file is gone. Both
// steps run again report AlreadyDone and change nothing.
func TestMove(t *testing.T) {
	qemuImg := testenv.QemuImg(t)
	qemuIO := testenv.LookPath(t, "qemu-io")
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		g1, g2    string // virtual sizes
		wantSize  int64
		otherSnap bool // generation 1 holds a second snapshot, which moves along
	}{
		{"grown", "32M", "64M", 64 << 20, false},
		{"same size, two snapshots", "32M", "32M", 32 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			s := &Snapshotter{}
			g1 := materials.Volume{ID: volID, Generation: 1, Format: materials.FormatQcow2}
			g2 := g1
			g2.Generation = 2
			p1, _ := layout.VolumePath(root, g1)
			p2, _ := layout.VolumePath(root, g2)
			os.MkdirAll(filepath.Dir(p1), 0o700)
			run(t, qemuImg, "create", "-q", "-f", "qcow2", p1, tc.g1)
			run(t, qemuIO, "-f", "qcow2", "-c", "write -P 0x11 0 1M", p1)
			if _, err := s.Take(ctx, root, g1, snap1); err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(t.TempDir(), "want.qcow2")
			run(t, qemuImg, "convert", "-q", "-O", "qcow2", "-l", "snapshot.name="+snap1, p1, want)
			run(t, qemuImg, "resize", "-q", want, tc.g2)
			run(t, qemuIO, "-f", "qcow2", "-c", "write -P 0xab 512K 1M", p1) // after the snapshot
			wantNames := []string{snap1}
			if tc.otherSnap {
				if _, err := s.Take(ctx, root, g1, snap2); err != nil {
					t.Fatal(err)
				}
				wantNames = append(wantNames, snap2)
			}
			run(t, qemuImg, "create", "-q", "-f", "qcow2", p2, tc.g2)
			run(t, qemuIO, "-f", "qcow2", "-c", "write -P 0x77 2M 1M", p2)
			before := filepath.Join(t.TempDir(), "before.qcow2")
			run(t, "cp", "--sparse=always", p2, before)

			if _, err := s.PrepareMove(ctx, root, g1, snap2+"x", g2); err == nil {
				t.Fatal("PrepareMove of a malformed snapshot id: no error")
			}
			if !tc.otherSnap {
				if _, err := s.PrepareMove(ctx, root, g1, snap2, g2); !errors.Is(err, ErrNotFound) {
					t.Fatalf("PrepareMove of a snapshot generation 1 lacks: %v, want ErrNotFound", err)
				}
			}
			for i := 0; i < 2; i++ { // a retry after a crash prepares again
				r, err := s.PrepareMove(ctx, root, g1, snap1, g2)
				if err != nil || r.Method != MethodQcow2Move || r.AlreadyDone || r.Bytes != 0 {
					t.Fatalf("PrepareMove #%d = %+v, %v", i+1, r, err)
				}
				if !same(t, qemuImg, "qcow2", before, p2) {
					t.Fatal("PrepareMove changed generation 2")
				}
				if !same(t, qemuImg, "qcow2", want, p1) {
					t.Fatal("generation 1 after PrepareMove is not the snapshot grown to generation 2's size")
				}
			}
			r, err := s.MoveOver(ctx, root, g1, snap1, g2)
			if err != nil || r.Method != MethodQcow2Move || r.AlreadyDone {
				t.Fatalf("MoveOver = %+v, %v", r, err)
			}
			if _, err := os.Lstat(p1); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("generation 1's file after the move: %v", err)
			}
			if !same(t, qemuImg, "qcow2", want, p2) {
				t.Fatal("generation 2 after the move differs from the snapshot")
			}
			if got := tableNames(t, p2); !slices.Equal(got, wantNames) {
				t.Fatalf("generation 2 holds snapshots %v, want %v (they move with the file)", got, wantNames)
			}
			h, _, err := qcow2Image(p2)
			if err != nil || h.VirtualSize != tc.wantSize {
				t.Fatalf("virtual size %d (%v), want %d", h.VirtualSize, err, tc.wantSize)
			}
			for _, step := range []func(context.Context, string, materials.Volume, string, materials.Volume) (Result, error){s.PrepareMove, s.MoveOver} {
				if r, err := step(ctx, root, g1, snap1, g2); err != nil || !r.AlreadyDone {
					t.Fatalf("a step again after the move = %+v, %v; want AlreadyDone", r, err)
				}
			}
			if !same(t, qemuImg, "qcow2", want, p2) {
				t.Fatal("a step again changed generation 2")
			}
			if left := temps(t, filepath.Dir(p2)); len(left) > 0 {
				t.Fatalf("temps left: %v", left)
			}
		})
	}
}

// TestMoveRefused: what a rename cannot carry whole is refused with
// ErrNotMovable and leaves both files as they were: a raw pair, a
// generation 2 with internal snapshots of its own, generations in
// different directories (clear text and vault).
func TestMoveRefused(t *testing.T) {
	qemuImg := testenv.QemuImg(t)
	ctx := context.Background()
	q1 := materials.Volume{ID: volID, Generation: 1, Format: materials.FormatQcow2}
	q2 := q1
	q2.Generation = 2
	clear2 := q2
	clear2.ClearText = true
	r1 := materials.Volume{ID: volID, Generation: 1, Format: materials.FormatRaw}
	r2 := r1
	r2.Generation = 2
	tests := []struct {
		name     string
		from, to materials.Volume
		setup    func(t *testing.T, s *Snapshotter, root string)
	}{
		{"raw", r1, r2, nil},
		{"new generation holds snapshots", q1, q2, func(t *testing.T, s *Snapshotter, root string) {
			if _, err := s.Take(ctx, root, q2, snap2); err != nil {
				t.Fatal(err)
			}
		}},
		{"another directory", q1, clear2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			s := &Snapshotter{}
			var paths []string
			for _, v := range []materials.Volume{tc.from, tc.to} {
				p, _ := layout.VolumePath(root, v)
				os.MkdirAll(filepath.Dir(p), 0o700)
				if v.Format == materials.FormatRaw {
					run(t, "truncate", "-s", "4M", p)
				} else {
					run(t, qemuImg, "create", "-q", "-f", "qcow2", p, "4M")
				}
				paths = append(paths, p)
			}
			if _, err := s.Take(ctx, root, tc.from, snap1); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, s, root)
			}
			var sums []string
			for _, p := range paths {
				sums = append(sums, run(t, "sha256sum", p))
			}
			for _, step := range []func(context.Context, string, materials.Volume, string, materials.Volume) (Result, error){s.PrepareMove, s.MoveOver} {
				if _, err := step(ctx, root, tc.from, snap1, tc.to); !errors.Is(err, ErrNotMovable) {
					t.Fatalf("%v, want ErrNotMovable", err)
				}
			}
			for i, p := range paths {
				if got := run(t, "sha256sum", p); got != sums[i] {
					t.Fatalf("%s changed by a refused move", p)
				}
			}
		})
	}
}
