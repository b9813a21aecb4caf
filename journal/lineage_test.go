package journal

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgewright/edgewright/materials"
)

// TestLineageSurvivesReopen: lineage records put in one session are what
// the next session's journal state lists, and a drop is durable too.
func TestLineageSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	at := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	recs := []materials.SnapshotLineage{
		{App: "a", Snapshot: "s", Volume: materials.VolumeKey{ID: "v", Generation: 2}, Format: materials.FormatRaw, Type: materials.SnapshotImmediate, Taken: at, ConfigVersion: "9"},
		{App: "a", Snapshot: "s", Volume: materials.VolumeKey{ID: "v", Generation: 1}, Format: materials.FormatRaw, Type: materials.SnapshotImmediate, Taken: at},
	}
	tests := []struct {
		name string
		drop []materials.VolumeKey
		want []materials.SnapshotLineage
	}{
		{"put", nil, []materials.SnapshotLineage{recs[1], recs[0]}},
		{"drop one", []materials.VolumeKey{{ID: "v", Generation: 1}}, []materials.SnapshotLineage{recs[0]}},
		{"drop the rest and an absent one", []materials.VolumeKey{{ID: "v", Generation: 2}, {ID: "x"}}, nil},
	}
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.PutLineage(recs); err != nil {
		t.Fatal(err)
	}
	j.Close()
	for _, tc := range tests {
		j, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if tc.drop != nil {
			if err := j.DropLineage("a", "s", tc.drop); err != nil {
				t.Fatal(err)
			}
			j.Close()
			if j, err = Open(path, Options{}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := j.Lineage()
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
		j.Close()
	}
}
