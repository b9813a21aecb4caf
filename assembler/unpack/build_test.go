package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
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

// TestBuildStopsGzipBomb: a few MiB of gzip holding one 1 GiB file of
// zeros, against an 8 MiB bound, stops at the header with a *LimitError
// and leaves neither the final directory nor its .tmp.
func TestBuildStopsGzipBomb(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	const big = 1 << 30
	tw.WriteHeader(&tar.Header{Name: "zeros", Mode: 0o644, Size: big, Typeflag: tar.TypeReg})
	zero := make([]byte, 1<<20)
	for i := 0; i < big/len(zero); i++ {
		tw.Write(zero)
	}
	tw.Close()
	zw.Close()
	final := filepath.Join(t.TempDir(), "v#1.container")
	const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	small := layer(t, file("ok", "fine"))
	_, err := Build(context.Background(), final, layers(small, buf.Bytes()), Options{MaxBytes: 8 << 20, Name: "v#1", LayerDigests: []string{"sha256:aa", dg}})
	var lim *LimitError
	if !errors.As(err, &lim) || lim.Bound != 8<<20 || lim.What != "bytes" || lim.Volume != "v#1" || lim.Entry != "zeros" || lim.Layer != 1 || lim.Digest != dg {
		t.Fatalf("err = %v, want *LimitError for zeros at 8 MiB in layer 1 (%s)", err, dg)
	}
	if !strings.Contains(err.Error(), dg) {
		t.Fatalf("error %q does not name the layer digest %s", err, dg)
	}
	for _, p := range []string{final, final + ".tmp"} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left behind: %v", p, err)
		}
	}
}
