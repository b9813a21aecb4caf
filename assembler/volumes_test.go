package assembler

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
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
	q := &QemuVolumes{}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	data := rawImage(9, 8<<20) // 64 KiB of data per MiB, zeros elsewhere
	os.WriteFile(src, data, 0o600)
	qsrc := filepath.Join(dir, "src.qcow2")
	os.WriteFile(qsrc, qcow2Of(t, data), 0o600)

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
			final := filepath.Join(dir, "vols", itoa(int64(i))+"#1."+tc.format)
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
				qemuCompare(t, tc.compareTo, final)
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

func TestDatastoreURL(t *testing.T) {
	for _, tc := range []struct {
		ds   materials.Datastore
		rel  string
		want string
		err  bool
	}{
		{materials.Datastore{Type: materials.DatastoreHTTP, FQDN: "host:8080", Path: "images"}, "a/b.qcow2", "http://host:8080/images/a/b.qcow2", false},
		{materials.Datastore{Type: materials.DatastoreHTTPS, FQDN: "host", Path: "/images/"}, "/b.raw", "https://host/images/b.raw", false},
		{materials.Datastore{Type: materials.DatastoreHTTPS, FQDN: "http://10.0.0.1:8888", Path: ""}, "x.img", "http://10.0.0.1:8888/x.img", false},
		{materials.Datastore{Type: materials.DatastoreHTTP, FQDN: "host/prefix", Path: "p"}, "x.img", "http://host/prefix/p/x.img", false},
		{materials.Datastore{Type: materials.DatastoreHTTP, FQDN: "", Path: "p"}, "x.img", "", true},
		{materials.Datastore{Type: materials.DatastoreHTTP, FQDN: "ftp://h", Path: "p"}, "x.img", "", true},
		{materials.Datastore{Type: materials.DatastoreHTTP, FQDN: "h"}, "", "", true},
	} {
		u, err := DatastoreURL(tc.ds, tc.rel)
		if (err != nil) != tc.err {
			t.Errorf("%+v %q: err %v, want error %v", tc.ds, tc.rel, err, tc.err)
			continue
		}
		if err == nil && u.String() != tc.want {
			t.Errorf("%+v %q: %s, want %s", tc.ds, tc.rel, u, tc.want)
		}
	}
}
