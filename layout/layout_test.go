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
