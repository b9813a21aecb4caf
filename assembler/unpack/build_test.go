package unpack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
