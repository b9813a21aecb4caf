package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Symlink plants a symlink at at pointing to target, making at's parent
// directories: how a test plants hostile entries in a root.
func Symlink(t testing.TB, target, at string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(at), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, at); err != nil {
		t.Fatal(err)
	}
}
