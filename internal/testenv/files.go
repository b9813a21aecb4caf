package testenv

import (
	"net"
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

// DeadAddr is a loopback address at which nothing listens (a port just
// closed): a datastore that does not answer.
func DeadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}
