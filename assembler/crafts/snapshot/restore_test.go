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

// TestRestoreFrom rolls generation 2 of a volume back to the snapshot
// generation 1 holds (an app-update snapshot of the generation an update
// replaced), for each format: the new generation's bytes become the
// snapshot's (qemu-img compare; a tree listing for a directory), the old
// generation and its snapshot are untouched, no temp is left, and a
// snapshot generation 1 does not hold is refused with ErrNotFound leaving
// generation 2 as it was.
func TestRestoreFrom(t *testing.T) {
	qemuImg := testenv.QemuImg(t)
	qemuIO := testenv.LookPath(t, "qemu-io")
	ctx := context.Background()
	tests := []struct {
		name   string
		format materials.Format
		// make fills generation n (1 before the snapshot, 3 for the
		// app's writes after it, 2 the update's fresh generation).
		make func(t *testing.T, p string, n int)
		// same compares two volumes.
		same func(t *testing.T, a, b string) bool
	}{
		{"qcow2", materials.FormatQcow2, func(t *testing.T, p string, n int) {
			if n != 3 {
				// Generation 2 is larger: the update grew the volume.
				run(t, qemuImg, "create", "-q", "-f", "qcow2", p, []string{"", "32M", "64M"}[n])
			}
			run(t, qemuIO, "-f", "qcow2", "-c", []string{"", "write -P 0x11 0 1M", "write -P 0x77 2M 1M", "write -P 0xab 0 1M"}[n], p)
		}, func(t *testing.T, a, b string) bool { return same(t, qemuImg, "qcow2", a, b) }},
		{"raw", materials.FormatRaw, func(t *testing.T, p string, n int) {
			if n != 3 {
				run(t, "truncate", "-s", "32M", p)
			}
			run(t, qemuIO, "-f", "raw", "-c", []string{"", "write -P 0x11 0 1M", "write -P 0x77 2M 1M", "write -P 0xab 0 1M"}[n], p)
		}, func(t *testing.T, a, b string) bool { return same(t, qemuImg, "raw", a, b) }},
		{"container", materials.FormatContainer, func(t *testing.T, p string, n int) {
			switch n {
			case 1:
				os.Mkdir(p, 0o755)
				buildTree(t, p)
			case 2:
				os.MkdirAll(filepath.Join(p, "etc"), 0o755)
				os.WriteFile(filepath.Join(p, "etc/new"), []byte("v2\n"), 0o644)
			case 3:
				os.WriteFile(filepath.Join(p, "etc/app/conf"), []byte("a=2\n"), 0o600)
			}
		}, func(t *testing.T, a, b string) bool { return slices.Equal(treeListing(t, a), treeListing(t, b)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			s := &Snapshotter{}
			g1 := materials.Volume{ID: volID, Generation: 1, Format: tc.format}
			g2 := g1
			g2.Generation = 2
			p1, _ := layout.VolumePath(root, g1)
			p2, _ := layout.VolumePath(root, g2)
			os.MkdirAll(filepath.Dir(p1), 0o700)
			tc.make(t, p1, 1)
			want := filepath.Join(t.TempDir(), "want")
			run(t, "cp", "-a", "--sparse=always", p1, want)
			if _, err := s.Take(ctx, root, g1, snap1); err != nil {
				t.Fatal(err)
			}
			tc.make(t, p1, 3) // the app wrote after the snapshot
			tc.make(t, p2, 2) // the update made generation 2
			if tc.same(t, want, p2) {
				t.Fatal("generation 2 already equals the snapshot: the test cannot tell a restore")
			}
			before := filepath.Join(t.TempDir(), "before")
			run(t, "cp", "-a", "--sparse=always", p2, before)

			if _, err := s.RestoreFrom(ctx, root, g1, snap2, g2); !errors.Is(err, ErrNotFound) {
				t.Fatalf("RestoreFrom a snapshot generation 1 lacks: %v, want ErrNotFound", err)
			}
			if !tc.same(t, before, p2) {
				t.Fatal("a refused restore changed generation 2")
			}
			r, err := s.RestoreFrom(ctx, root, g1, snap1, g2)
			if err != nil {
				t.Fatal(err)
			}
			if r.Method == "" {
				t.Errorf("RestoreFrom = %+v: no method", r)
			}
			if !tc.same(t, want, p2) {
				t.Fatalf("generation 2 after RestoreFrom (%+v) differs from the snapshot", r)
			}
			// Generation 1 keeps its snapshot, and its own bytes.
			if _, err := s.Rollback(ctx, root, g1, snap1); err != nil {
				t.Fatalf("generation 1 lost its snapshot: %v", err)
			}
			if left := temps(t, filepath.Dir(p2)); len(left) > 0 {
				t.Fatalf("temps left: %v", left)
			}
			// Idempotent: a run again after a crash restores again.
			if _, err := s.RestoreFrom(ctx, root, g1, snap1, g2); err != nil || !tc.same(t, want, p2) {
				t.Fatalf("second RestoreFrom: %v", err)
			}
			if tc.format == materials.FormatQcow2 {
				if names := tableNames(t, p2); len(names) != 0 {
					t.Errorf("restored qcow2 holds snapshots %v: convert copies the disk state only", names)
				}
				h, _, err := qcow2Image(p2)
				if err != nil || h.VirtualSize != 64<<20 {
					t.Errorf("restored qcow2 virtual size %d (%v), want generation 2's 64 MiB", h.VirtualSize, err)
				}
			}
		})
	}
}
