package diskimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgewright/edgewright/internal/testenv"
)

// TestSnapshotsQemu reads tables qemu-img wrote, version 2 and 3, and
// holds them to qemu-img's own listing.
func TestSnapshotsQemu(t *testing.T) {
	qemuImg := testenv.QemuImg(t)
	for _, compat := range []string{"0.10", "1.1"} {
		t.Run(compat, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "v.qcow2")
			run := func(args ...string) string {
				out, err := exec.Command(qemuImg, args...).CombinedOutput()
				if err != nil {
					t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
				}
				return string(out)
			}
			run("create", "-q", "-f", "qcow2", "-o", "compat="+compat, p, "64M")
			names := []string{"5a0e0000-0000-4000-8000-00000000000a", "odd name", strings.Repeat("n", 200)} // qemu-img cuts a tag at 255 bytes
			before := time.Now().Add(-time.Second)
			for _, n := range names {
				run("snapshot", "-c", n, p)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			h, err := Read(f, st.Size())
			if err != nil || h.SnapshotCount != 3 {
				t.Fatalf("header = %+v, %v; want 3 snapshots", h, err)
			}
			snaps, err := Snapshots(f, st.Size())
			if err != nil {
				t.Fatal(err)
			}
			if len(snaps) != len(names) {
				t.Fatalf("%d snapshots, want %d", len(snaps), len(names))
			}
			for i, s := range snaps {
				if s.Name != names[i] || s.ID != string(rune('1'+i)) {
					t.Errorf("snapshot %d = id %q name %q, want %q", i, s.ID, s.Name, names[i])
				}
				if s.Date.Before(before) || s.Date.After(time.Now().Add(time.Second)) {
					t.Errorf("snapshot %d date %v", i, s.Date)
				}
				if compat == "1.1" && s.DiskSize != 64<<20 {
					t.Errorf("snapshot %d disk size %d, want 64 MiB (v3 extra data)", i, s.DiskSize)
				}
				if s.L1Size == 0 || s.VMStateSize != 0 {
					t.Errorf("snapshot %d: l1_size %d, vm state %d", i, s.L1Size, s.VMStateSize)
				}
			}
			if !strings.Contains(run("snapshot", "-l", p), "odd name") {
				t.Fatal("qemu-img does not list what we parsed")
			}
		})
	}
}

// Synthetic qcow2 v3 images have 512-byte clusters (small inputs for the
// fuzzer): the snapshot table at tableAt, the L1 tables at l1At.
const (
	tableAt = 512
	l1At    = 8192
)

func image(entries ...[]byte) []byte {
	be := binary.BigEndian
	b := make([]byte, l1At+512)
	be.PutUint32(b[0:], qcowMagic)
	be.PutUint32(b[4:], 3)
	be.PutUint32(b[20:], 9)
	be.PutUint64(b[24:], 1<<20)
	be.PutUint32(b[60:], uint32(len(entries)))
	be.PutUint64(b[64:], tableAt)
	be.PutUint32(b[100:], 104)
	var table []byte
	for _, e := range entries {
		table = append(table, e...)
	}
	if tableAt+len(table) > l1At {
		b = append(b[:tableAt], table...)
		return append(b, make([]byte, 512)...)
	}
	copy(b[tableAt:], table)
	return b
}

func entry(name string, extra int, mutate func([]byte)) []byte {
	be := binary.BigEndian
	id := "1"
	e := make([]byte, 40+extra+len(id)+len(name))
	be.PutUint64(e[0:], l1At)
	be.PutUint32(e[8:], 1)
	be.PutUint16(e[12:], uint16(len(id)))
	be.PutUint16(e[14:], uint16(len(name)))
	be.PutUint32(e[16:], 1700000000)
	be.PutUint32(e[36:], uint32(extra))
	if extra >= 16 {
		be.PutUint64(e[48:], 1<<20)
	}
	copy(e[40+extra:], id)
	copy(e[40+extra+len(id):], name)
	if mutate != nil {
		mutate(e)
	}
	for len(e)%8 != 0 {
		e = append(e, 0)
	}
	return e
}

func TestSnapshotsBounds(t *testing.T) {
	be := binary.BigEndian
	tests := []struct {
		name    string
		img     []byte
		size    int64 // 0: len(img)
		want    []string
		corrupt bool // ErrSnapshotTable without ErrSnapshotBound
		bound   bool
	}{
		{name: "two entries", img: image(entry("a", 16, nil), entry("bb", 24, nil)), want: []string{"a", "bb"}},
		{name: "a table longer than the first read", img: image(entry(strings.Repeat("l", 1000), 16, nil), entry(strings.Repeat("m", 1000), 16, nil), entry(strings.Repeat("o", 1000), 16, nil), entry(strings.Repeat("p", 1000), 16, nil), entry("q", 1024, nil)), want: []string{strings.Repeat("l", 1000), strings.Repeat("m", 1000), strings.Repeat("o", 1000), strings.Repeat("p", 1000), "q"}},
		{name: "none", img: image(), want: []string{}},
		{name: "not qcow2", img: []byte("just bytes, not an image"), want: []string{}},
		{name: "count beyond the bound", img: func() []byte { b := image(); be.PutUint32(b[60:], MaxSnapshots+1); return b }(), bound: true},
		{name: "table outside the file", img: func() []byte { b := image(entry("a", 16, nil)); be.PutUint64(b[64:], 1<<30); return b }(), corrupt: true},
		{name: "table offset not a cluster", img: func() []byte { b := image(entry("a", 16, nil)); be.PutUint64(b[64:], tableAt+8); return b }(), corrupt: true},
		{name: "entry runs past the end", img: image(entry("a", 16, nil)), size: tableAt + 20, corrupt: true},
		{name: "v3 entry without extra data", img: image(entry("a", 0, nil)), corrupt: true},
		{name: "extra data beyond qemu's bound", img: image(entry("a", 2048, nil)), corrupt: true},
		{name: "name beyond the bound", img: image(entry(strings.Repeat("x", MaxSnapshotName+1), 16, nil)), bound: true},
		{name: "L1 outside the file", img: image(entry("a", 16, func(e []byte) { be.PutUint64(e[0:], 1<<40) })), corrupt: true},
		{name: "L1 not on a cluster", img: image(entry("a", 16, func(e []byte) { be.PutUint64(e[0:], l1At+8) })), corrupt: true},
		{name: "huge L1", img: image(entry("a", 16, func(e []byte) { be.PutUint32(e[8:], 1<<30) })), corrupt: true},
		{name: "nanoseconds of a second or more", img: image(entry("a", 16, func(e []byte) { be.PutUint32(e[20:], 1e9) })), corrupt: true},
		{name: "second entry truncated", img: func() []byte { b := image(entry("a", 16, nil)); be.PutUint32(b[60:], 2); return b[:tableAt+64+40] }(), corrupt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.size
			if size == 0 {
				size = int64(len(tt.img))
			}
			snaps, err := Snapshots(bytes.NewReader(tt.img[:min(int64(len(tt.img)), size)]), size)
			switch {
			case tt.bound:
				if !errors.Is(err, ErrSnapshotTable) || !errors.Is(err, ErrSnapshotBound) {
					t.Fatalf("err = %v, want a bound", err)
				}
			case tt.corrupt:
				if !errors.Is(err, ErrSnapshotTable) || errors.Is(err, ErrSnapshotBound) {
					t.Fatalf("err = %v, want corrupt", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				got := []string{}
				for _, s := range snaps {
					got = append(got, s.Name)
				}
				if strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Fatalf("names = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// FuzzSnapshots: any bytes give a table or an error, never a panic; every
// entry is within the bounds and its L1 table inside the file.
func FuzzSnapshots(f *testing.F) {
	f.Add(image(entry("a", 16, nil), entry("bb", 24, nil)), int64(0))
	f.Add(image(entry("x", 0, nil)), int64(0))
	f.Add(image(), int64(5))
	f.Fuzz(func(t *testing.T, b []byte, extra int64) {
		size := int64(len(b))
		if extra > 0 && extra < 1<<40 {
			size += extra
		}
		snaps, _ := Snapshots(bytes.NewReader(b), size)
		if len(snaps) > MaxSnapshots {
			t.Fatalf("%d snapshots", len(snaps))
		}
		for _, s := range snaps {
			if len(s.Name) > MaxSnapshotName || len(s.ID) > MaxSnapshotName {
				t.Fatalf("name of %d bytes", len(s.Name))
			}
			if s.L1Offset+uint64(s.L1Size)*8 > uint64(size) {
				t.Fatalf("L1 at %d+%d outside %d", s.L1Offset, s.L1Size, size)
			}
		}
	})
}
