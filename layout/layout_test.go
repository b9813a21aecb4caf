package layout

import (
	"path/filepath"
	"testing"

	"github.com/edgewright/edgewright/materials"
)

func TestVolumePath(t *testing.T) {
	const id = "8b8e6d3c-7a7e-4b0f-9a0e-3c1f6b2d9e11"
	tests := []struct {
		v       materials.Volume
		want    string
		wantErr bool
	}{
		{v: materials.Volume{ID: id, Generation: 2, Format: materials.FormatQcow2}, want: "/r/persist/vault/volumes/" + id + "#2.qcow2"},
		{v: materials.Volume{ID: id, Generation: 0, Format: materials.FormatRaw, ClearText: true}, want: "/r/persist/clear/volumes/" + id + "#0.raw"},
		{v: materials.Volume{ID: id, Format: materials.FormatContainer}, want: "/r/persist/vault/volumes/" + id + "#0.container"},
		{v: materials.Volume{ID: "a/b", Format: materials.FormatRaw}, wantErr: true},
		{v: materials.Volume{ID: "..", Format: materials.FormatRaw}, wantErr: true},
		{v: materials.Volume{ID: "a#1", Format: materials.FormatRaw}, wantErr: true},
		{v: materials.Volume{ID: "", Format: materials.FormatRaw}, wantErr: true},
		{v: materials.Volume{ID: id, Format: "vmdk"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := VolumePath("/r", tt.v)
		if (err != nil) != tt.wantErr {
			t.Errorf("VolumePath(%+v) error = %v, want error %v", tt.v, err, tt.wantErr)
			continue
		}
		if got != filepath.FromSlash(tt.want) {
			t.Errorf("VolumePath(%+v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestSnapshotNames(t *testing.T) {
	const id = "8b8e6d3c-7a7e-4b0f-9a0e-3c1f6b2d9e11"
	const snap = "5a0e0000-0000-4000-8000-00000000000a"
	v := materials.Volume{ID: id, Generation: 2, Format: materials.FormatRaw}
	got, err := SnapshotPath("/r", v, snap)
	if want := filepath.FromSlash("/r/persist/vault/volumes/" + id + "#2@" + snap + ".raw"); err != nil || got != want {
		t.Errorf("SnapshotPath = %q, %v; want %q", got, err, want)
	}
	got, err = RollbackTempPath("/r", materials.Volume{ID: id, Generation: 2, Format: materials.FormatContainer, ClearText: true})
	if want := filepath.FromSlash("/r/persist/clear/volumes/" + id + "#2@rollback.container.tmp"); err != nil || got != want {
		t.Errorf("RollbackTempPath = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"", "5A0E0000-0000-4000-8000-00000000000A", "../../../../etc/passwd00000000000000", "5a0e0000-0000-4000-8000-00000000000a/", "5a0e0000x0000-4000-8000-00000000000a"} {
		if _, err := SnapshotPath("/r", v, bad); err == nil {
			t.Errorf("SnapshotPath(%q) succeeded", bad)
		}
	}
	tests := []struct {
		name string
		want SnapshotFileName
		ok   bool
	}{
		{id + "#2@" + snap + ".raw", SnapshotFileName{Volume: id + "#2.raw", Snapshot: snap}, true},
		{id + "#2@" + snap + ".container.tmp", SnapshotFileName{Volume: id + "#2.container", Snapshot: snap, Temp: true}, true},
		{id + "#2@rollback.raw.tmp", SnapshotFileName{Volume: id + "#2.raw", Rollback: true, Temp: true}, true},
		{id + "#2@rollback.raw", SnapshotFileName{}, false},
		{id + "#2.raw", SnapshotFileName{}, false},
		{id + "#2@" + snap, SnapshotFileName{}, false},
		{id + "#2@nope.raw", SnapshotFileName{}, false},
		{"@" + snap + ".raw", SnapshotFileName{}, false},
		{id + "#2@" + snap + ".raw.x", SnapshotFileName{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseSnapshotFileName(tt.name)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("ParseSnapshotFileName(%q) = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
