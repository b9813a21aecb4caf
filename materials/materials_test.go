package materials

import (
	"testing"
	"time"
)

func TestParseVolumeKey(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    VolumeKey
		wantErr bool
	}{
		{"3f2504e0-4f89-41d3-9a0c-0305e82c3301#2", VolumeKey{"3f2504e0-4f89-41d3-9a0c-0305e82c3301", 2}, false},
		{"v#0", VolumeKey{"v", 0}, false},
		{"v", VolumeKey{}, true},
		{"v#-1", VolumeKey{}, true},
		{"v#x", VolumeKey{}, true},
		{"v#1#2", VolumeKey{}, true},
	} {
		got, err := ParseVolumeKey(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseVolumeKey(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("%q does not round-trip: %q", tc.in, got.String())
		}
	}
}

func TestFingerprint(t *testing.T) {
	base := func() *Floorplan {
		return &Floorplan{
			Volumes: []VolumeFile{{ID: "v", Generation: 1, Path: "persist/vault/volumes/v#1.raw", Format: FormatRaw,
				State: StateComplete, VirtualSize: 10, ApparentSize: 10, ModTime: time.Unix(5, 0)}},
			Blobs: []BlobRecord{{Digest: "sha256:aa", Store: BlobStoreDir, State: StateComplete, Size: 3}},
			Space: Space{FreeBytes: 100},
		}
	}
	want := Fingerprint(base())
	if want == "" || Fingerprint(base()) != want {
		t.Fatal("fingerprint is not stable")
	}
	same := base()
	same.Space.FreeBytes = 1 // free space moves all the time: not part of it
	same.Diagnostics = Diagnostics{{Severity: SeverityWarning, Path: "x"}}
	if Fingerprint(same) != want {
		t.Error("free space or diagnostics changed the fingerprint")
	}
	for name, change := range map[string]func(*Floorplan){
		"generation": func(f *Floorplan) { f.Volumes[0].Generation = 2 },
		"size":       func(f *Floorplan) { f.Volumes[0].ApparentSize = 11 },
		"mtime":      func(f *Floorplan) { f.Volumes[0].ModTime = time.Unix(6, 0) },
		"state":      func(f *Floorplan) { f.Blobs[0].State = StatePartial },
		"offset":     func(f *Floorplan) { f.Blobs[0].Offset = 1 },
		"in flight":  func(f *Floorplan) { f.Journal = &JournalState{InFlight: []InFlight{{RemodelID: "r"}}} },
		"path split": func(f *Floorplan) { f.Volumes[0].Path, f.Volumes[0].ID = "persist/vault/volumes/v#1.ra", "wv" },
	} {
		f := base()
		change(f)
		if Fingerprint(f) == want {
			t.Errorf("changing the %s left the fingerprint as it was", name)
		}
	}
}

func TestDiagnostics(t *testing.T) {
	ds := Diagnostics{{Severity: SeverityWarning, Path: "a"}, {Severity: SeverityError, Path: "b"}}
	if !ds.HasErrors() || len(ds.Errors()) != 1 || ds.Errors()[0].Path != "b" {
		t.Errorf("HasErrors/Errors of %v", ds)
	}
	if (Diagnostics{{Severity: SeverityWarning}}).HasErrors() {
		t.Error("a warning is not an error")
	}
	var nilBP *Blueprint
	if nilBP.Valid() || (&Blueprint{Complete: false}).Valid() || !(&Blueprint{Complete: true}).Valid() {
		t.Error("Blueprint.Valid")
	}
}
