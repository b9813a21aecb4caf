package journal

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgewright/edgewright/materials"
)

// TestDense: PutDense replaces the record of a path, and the records
// come back sorted by path, in JournalState too, after a reopen.
func TestDense(t *testing.T) {
	p := filepath.Join(t.TempDir(), "journal.db")
	j, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 123456789, time.UTC)
	for _, f := range []materials.DenseFile{
		{Path: "persist/vault/volumes/b#1.raw", Size: 1, ModTime: t0},
		{Path: "persist/vault/volumes/a#1.raw", Size: 2, ModTime: t0},
		{Path: "persist/vault/volumes/b#1.raw", Size: 3, ModTime: t0.Add(time.Nanosecond)},
	} {
		if err := j.PutDense(f); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	j, err = Open(p, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	st, err := j.JournalState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []materials.DenseFile{
		{Path: "persist/vault/volumes/a#1.raw", Size: 2, ModTime: t0},
		{Path: "persist/vault/volumes/b#1.raw", Size: 3, ModTime: t0.Add(time.Nanosecond)},
	}
	if diff := cmp.Diff(want, st.Dense); diff != "" {
		t.Errorf("dense records (-want +got):\n%s", diff)
	}
}
