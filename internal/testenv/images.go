package testenv

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RawImage makes a raw disk image of size bytes with 64 KiB of random data
// at the start of every MiB and zeros elsewhere, so that sparse copies
// have holes to keep and every image of a seed is the same.
func RawImage(seed uint64, size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed*7+1))
	for off := 0; off < size; off += 1 << 20 {
		end := min(off+64<<10, size)
		for i := off; i < end; i++ {
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

// Qcow2Of converts a raw image to qcow2 with qemu-img and returns its
// bytes. It skips/fails the test without qemu-img.
func Qcow2Of(t testing.TB, raw []byte) []byte {
	t.Helper()
	qemu := QemuImg(t)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.raw"), filepath.Join(dir, "dst.qcow2")
	if err := os.WriteFile(src, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(qemu, "convert", "-f", "raw", "-O", "qcow2", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// QemuCompare fails the test unless qemu-img compare finds a and b hold
// the same guest-visible bytes (across formats).
func QemuCompare(t testing.TB, a, b string) {
	t.Helper()
	out, err := exec.Command(QemuImg(t), "compare", a, b).CombinedOutput()
	if err != nil {
		t.Errorf("qemu-img compare %s %s: %v: %s", a, b, err, out)
	}
}

// QemuInfo decodes `qemu-img info --output=json path` into v.
func QemuInfo(t testing.TB, path string, v any) {
	t.Helper()
	out, err := exec.Command(QemuImg(t), "info", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
}
