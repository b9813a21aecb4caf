package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI, where nothing may skip for want
// of a component.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need fails the test under CI and skips it elsewhere, with why.
func Need(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and %s", why)
	}
	t.Skip(why)
}

// LookPath returns the path of a required binary or skips/fails the test.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Need(t, name+" is not installed (run ./scripts/setup)")
	}
	return p
}

// QemuImg returns the path of qemu-img, or skips/fails the test.
func QemuImg(t testing.TB) string { return LookPath(t, "qemu-img") }
