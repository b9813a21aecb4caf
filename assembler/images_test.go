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

	"go.uber.org/zap"

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

// TestHostileImagesApply: the same hostile content served by a loopback
// datastore and applied; each apply fails on the refusal naming the content
// tree, and the host file's bytes appear nowhere under the root.
func TestHostileImagesApply(t *testing.T) {
	testenv.QemuImg(t)
	dir := t.TempDir()
	host := filepath.Join(dir, "host-secret")
	marker := []byte("HOSTSECRETMARKER")
	os.WriteFile(host, bytes.Repeat(marker, 1<<16), 0o600)
	create := func(name string, args ...string) []byte {
		p := filepath.Join(dir, name)
		if out, err := exec.Command("qemu-img", append(append([]string{"create", "-q"}, args...), p, "1M")...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img create %s: %v: %s", name, err, out)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	backing := create("evil.qcow2", "-f", "qcow2", "-b", host, "-F", "raw")
	datafile := create("evil-data.qcow2", "-f", "qcow2", "-o", "data_file="+filepath.Join(dir, "evil-data.bin"))
	os.Remove(filepath.Join(dir, "evil-data.bin"))
	if err := os.Symlink(host, filepath.Join(dir, "evil-data.bin")); err != nil {
		t.Fatal(err)
	}
	// A vmdk descriptor whose flat extent is the host file.
	vmdk := []byte("# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\nRW 2048 FLAT \"" + host + "\" 0\n\nddb.virtualHWVersion = \"4\"\n")
	for _, tc := range []struct {
		name    string
		content []byte
		format  materials.Format
		volFmt  materials.Format
		want    string
	}{
		{"qcow2 backing file", backing, materials.FormatQcow2, materials.FormatQcow2, `backing file "` + host + `"`},
		{"qcow2 data_file", datafile, materials.FormatQcow2, materials.FormatRaw, "external data file"},
		{"vmdk extents", vmdk, materials.FormatVMDK, materials.FormatQcow2, "extent file"},
		{"raw-declared qcow2 with backing file", backing, materials.FormatRaw, materials.FormatRaw, "backing file"},
		{"raw-declared qcow2 with backing file to qcow2", backing, materials.FormatRaw, materials.FormatQcow2, "backing file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDatastore(t, false)
			ds.put("/images/evil", tc.content)
			dsm := ds.materials("11111111-0000-0000-0000-000000000001")
			const ctID = "22222222-0000-0000-0000-0000000000e1"
			bp := &materials.Blueprint{
				Complete:     true,
				Datastores:   []materials.Datastore{dsm},
				ContentTrees: []materials.ContentTree{{ID: ctID, URL: "evil", Format: tc.format, SHA256: sha(tc.content), MaxSizeBytes: uint64(len(tc.content)), Datastores: []string{dsm.ID}}},
				Volumes: []materials.Volume{{ID: "33333333-0000-0000-0000-0000000000e1", Generation: 1, Origin: materials.OriginDownload,
					ContentTree: ctID, Format: tc.volFmt, MaxSizeBytes: 4 << 20, RefCount: 1}},
			}
			root := t.TempDir()
			a, err := New(Options{Root: root, Retry: fastRetry(), Logger: zap.NewNop()})
			if err != nil {
				t.Fatal(err)
			}
			res, err := a.Converge(context.Background(), bp, ConvergeOptions{})
			var msgs []string
			if err != nil {
				msgs = append(msgs, err.Error())
			}
			if res != nil {
				for _, r := range res.Failed {
					msgs = append(msgs, r.Error)
				}
			}
			all := strings.Join(msgs, "\n")
			if !strings.Contains(all, "content tree "+ctID) || !strings.Contains(all, tc.want) || !strings.Contains(all, "refused") {
				t.Fatalf("apply: %q, want a refusal of content tree %s naming %q", all, ctID, tc.want)
			}
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil
				}
				if strings.HasSuffix(p, ".tmp") || strings.Contains(p, "stage") {
					t.Errorf("%s left behind", p)
				}
				if d.Type().IsRegular() {
					if c, _ := os.ReadFile(p); bytes.Contains(c, marker) {
						t.Errorf("%s holds the host file's bytes", p)
					}
				}
				return nil
			})
			if ents, _ := os.ReadDir(VolumesDir(root, false)); len(ents) != 0 {
				t.Errorf("volumes left: %v", ents)
			}
		})
	}
}
