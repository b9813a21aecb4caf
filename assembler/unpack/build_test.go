package unpack

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestBuildRenamesIntoPlace(t *testing.T) {
	ctx := context.Background()
	top := t.TempDir()
	final := filepath.Join(top, "0b5e2c5a-1b2c-4d5e-8f90-123456789abc#1.container")
	// A stale .tmp from an interrupted build is replaced.
	os.MkdirAll(filepath.Join(final+".tmp", "stale"), 0o755)
	l1 := layer(t, dir("etc/"), file("etc/a", "a"), file("etc/b", "b"))
	l2 := layer(t, file("etc/.wh.a", ""))
	if _, err := Build(ctx, final, layers(gz(t, l1), l2), Options{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tree(t, final), " "); got != "etc/ etc/b=b" {
		t.Fatalf("tree %q", got)
	}
	if _, err := os.Stat(final + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf(".tmp left behind: %v", err)
	}
	if _, err := Build(ctx, final, layers(l1), Options{}); err == nil {
		t.Fatal("Build over an existing volume succeeded")
	}
	// A refused layer leaves no final directory.
	bad := filepath.Join(top, "bad#1.container")
	_, err := Build(ctx, bad, layers(layer(t, file("../../x", "x"))), Options{})
	var esc *EscapeError
	if !errors.As(err, &esc) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("final exists after a refused layer: %v", err)
	}
}

// TestBuildSyncsFewOrMany builds a volume below and above the per-entry
// fsync limit (and with a symlink and a fifo, which are not opened): both
// ways end with the same tree in place.
func TestBuildSyncsFewOrMany(t *testing.T) {
	for _, n := range []int{1, fsyncEachMax / 2, fsyncEachMax * 2} {
		var es []ent
		es = append(es, dir("d/"))
		for i := 0; i < n; i++ {
			es = append(es, file("d/f"+strconv.Itoa(i), strconv.Itoa(i)))
		}
		es = append(es, symlink("d/s", "f0"), ent{name: "d/p", typ: tar.TypeFifo, mode: 0o620})
		final := filepath.Join(t.TempDir(), "v#1.container")
		st, err := Build(context.Background(), final, layers(layer(t, es...)), Options{})
		if err != nil {
			t.Fatalf("%d files: %v", n, err)
		}
		if st.Files != n {
			t.Fatalf("%d files: stats say %d", n, st.Files)
		}
		if b, err := os.ReadFile(filepath.Join(final, "d", "f"+strconv.Itoa(n-1))); err != nil || string(b) != strconv.Itoa(n-1) {
			t.Fatalf("%d files: last file %q, %v", n, b, err)
		}
	}
}
