package qemu

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

func allocated(t testing.TB, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func TestQemuVolumes(t *testing.T) {
	testenv.QemuImg(t)
	ctx := context.Background()
	q := &Volumes{}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	data := testenv.RawImage(9, 8<<20) // 64 KiB of data per MiB, zeros elsewhere
	os.WriteFile(src, data, 0o600)
	qsrc := filepath.Join(dir, "src.qcow2")
	os.WriteFile(qsrc, testenv.Qcow2Of(t, data), 0o600)

	tests := []struct {
		name      string
		run       func(final string) error
		format    string
		virtual   int64
		compareTo string
		maxAlloc  int64 // sparse: allocated bytes at most
	}{
		{"blank raw is sparse", func(p string) error { return q.CreateBlank(ctx, p, materials.FormatRaw, 64<<20) }, "raw", 64 << 20, "", 1 << 20},
		{"blank qcow2", func(p string) error { return q.CreateBlank(ctx, p, materials.FormatQcow2, 64<<20) }, "qcow2", 64 << 20, "", 1 << 20},
		{"raw copy keeps holes and grows", func(p string) error {
			return q.CreateFrom(ctx, p, materials.FormatRaw, src, materials.FormatRaw, 16<<20, nil)
		}, "raw", 16 << 20, src, 2 << 20},
		{"qcow2 to raw converts", func(p string) error {
			return q.CreateFrom(ctx, p, materials.FormatRaw, qsrc, materials.FormatQcow2, 0, nil)
		}, "raw", 8 << 20, src, 0},
		{"raw to qcow2 converts", func(p string) error {
			return q.CreateFrom(ctx, p, materials.FormatQcow2, src, materials.FormatRaw, 12<<20, nil)
		}, "qcow2", 12 << 20, src, 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			final := filepath.Join(dir, "vols", strconv.Itoa(i)+"#1."+tc.format)
			if err := tc.run(final); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(final + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s.tmp left behind", final)
			}
			info := qemuInfo(t, final)
			if info.Format != tc.format || info.VirtualSize != tc.virtual {
				t.Errorf("got %s %d, want %s %d", info.Format, info.VirtualSize, tc.format, tc.virtual)
			}
			if tc.compareTo != "" {
				testenv.QemuCompare(t, tc.compareTo, final)
			}
			if tc.maxAlloc > 0 {
				if a := allocated(t, final); a > tc.maxAlloc {
					t.Errorf("allocated %d bytes, want at most %d (sparse)", a, tc.maxAlloc)
				}
			}
		})
	}

	t.Run("resize grows, never shrinks", func(t *testing.T) {
		for _, f := range []materials.Format{materials.FormatRaw, materials.FormatQcow2} {
			p := filepath.Join(dir, "resize."+string(f))
			if err := q.CreateBlank(ctx, p, f, 4<<20); err != nil {
				t.Fatal(err)
			}
			for _, step := range []struct{ to, want int64 }{{8 << 20, 8 << 20}, {2 << 20, 8 << 20}} {
				if err := q.Resize(ctx, p, f, step.to); err != nil {
					t.Fatal(err)
				}
				if got := qemuInfo(t, p).VirtualSize; got != step.want {
					t.Errorf("%s resize to %d: virtual size %d, want %d", f, step.to, got, step.want)
				}
			}
		}
	})
}

func qemuInfo(t testing.TB, path string) (info ImageInfo) {
	t.Helper()
	testenv.QemuInfo(t, path, &info)
	return info
}
