package assembler

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// TestHostileImagesRefused: content that names a host file (backing file,
// data file, vmdk extents) or is bigger than the volume is refused before
// qemu-img opens it, the host file's bytes land nowhere, nothing is left.
func TestHostileImagesRefused(t *testing.T) {
	testenv.QemuImg(t)
	ctx := context.Background()
	dir := t.TempDir()
	host := filepath.Join(dir, "host-secret")
	marker := bytes.Repeat([]byte("HOSTSECRETMARKER"), 1<<16)
	os.WriteFile(host, marker, 0o600)
	mk := func(name, size string, args ...string) string {
		p := filepath.Join(dir, name)
		out, err := exec.Command("qemu-img", append(append([]string{"create", "-q"}, args...), p, size)...).CombinedOutput()
		if err != nil {
			t.Fatalf("qemu-img create %s: %v: %s", name, err, out)
		}
		return p
	}
	backing := mk("evil.qcow2", "1M", "-f", "qcow2", "-b", host, "-F", "raw")
	datafile := filepath.Join(dir, "evil-data.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file="+host+",data_file_raw=on", datafile, "1M").CombinedOutput(); err != nil {
		t.Fatalf("data_file: %v: %s", err, out)
	}
	os.WriteFile(host, marker, 0o600) // data_file_raw may have touched it
	flat := mk("evil.vmdk", "1M", "-f", "vmdk", "-o", "subformat=monolithicFlat")
	// Point the flat extent at the host file.
	desc, _ := os.ReadFile(flat)
	desc = bytes.Replace(desc, []byte("evil-flat.vmdk"), []byte(host), 1)
	os.WriteFile(flat, desc, 0o600)
	big := mk("big.qcow2", "8M", "-f", "qcow2")

	tests := []struct {
		name, src string
		srcFmt    materials.Format
		dstFmt    materials.Format
		size      int64
		want      string
	}{
		{"qcow2 backing file", backing, materials.FormatQcow2, materials.FormatQcow2, 4 << 20, "backing file"},
		{"qcow2 backing file to raw", backing, materials.FormatQcow2, materials.FormatRaw, 4 << 20, "backing file"},
		{"qcow2 data_file", datafile, materials.FormatQcow2, materials.FormatQcow2, 4 << 20, "external data file"},
		{"vmdk extents", flat, materials.FormatVMDK, materials.FormatQcow2, 4 << 20, "extent"},
		{"raw-declared qcow2 with backing", backing, materials.FormatRaw, materials.FormatRaw, 4 << 20, "backing file"},
		{"raw-declared qcow2 with backing to qcow2", backing, materials.FormatRaw, materials.FormatQcow2, 4 << 20, "backing file"},
		{"content larger than maxsizebytes", big, materials.FormatQcow2, materials.FormatQcow2, 1 << 20, "maxsizebytes 1048576"},
	}
	q := &QemuVolumes{}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			final := filepath.Join(dir, "vols", itoa(int64(i))+"#1."+string(tc.dstFmt))
			err := q.CreateFrom(ctx, final, tc.dstFmt, tc.src, tc.srcFmt, tc.size, nil)
			if !errors.Is(err, ErrImageRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CreateFrom = %v, want a refusal naming %q", err, tc.want)
			}
			for _, p := range []string{final, final + ".tmp"} {
				if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s left behind", p)
				}
			}
		})
	}
	// Resize of a surveyed volume that names a backing file never opens it.
	vol := filepath.Join(dir, "vols", "surveyed#1.qcow2")
	b, _ := os.ReadFile(backing)
	os.WriteFile(vol, b, 0o600)
	if err := q.Resize(ctx, vol, materials.FormatQcow2, 16<<20); !errors.Is(err, ErrImageRefused) {
		t.Fatalf("Resize = %v, want refused", err)
	}
	filepath.WalkDir(filepath.Join(dir, "vols"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if c, _ := os.ReadFile(p); bytes.Contains(c, []byte("HOSTSECRETMARKER")) {
				t.Errorf("%s holds the host file's bytes", p)
			}
		}
		return nil
	})
}
