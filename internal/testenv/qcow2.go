package testenv

import (
	"encoding/binary"
	"os"
	"os/exec"
	"testing"
)

// Qcow2 makes a real qcow2 at path with qemu-img, its first MiB holding
// data (so that it has data clusters and a refcount block), and returns
// its size. It skips/fails the test without qemu-img.
func Qcow2(t testing.TB, path string) int64 {
	t.Helper()
	qemu := QemuImg(t)
	raw := path + ".src"
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	if err := os.WriteFile(raw, data, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(raw)
	if out, err := exec.Command(qemu, "convert", "-q", "-f", "raw", "-O", "qcow2", raw, path).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// qcow2Refcounts returns a qcow2's cluster size and the offset of its
// first refcount block, from the header's cluster_bits (bytes 20..23)
// and refcount_table_offset (bytes 48..55).
func qcow2Refcounts(t testing.TB, f *os.File) (clusterSize, block int64) {
	t.Helper()
	h := make([]byte, 104)
	if _, err := f.ReadAt(h, 0); err != nil {
		t.Fatal(err)
	}
	if order := binary.BigEndian.Uint32(h[96:100]); order != 4 {
		t.Fatalf("refcount_order %d, these helpers write 16-bit refcounts", order)
	}
	clusterSize = 1 << binary.BigEndian.Uint32(h[20:24])
	table := int64(binary.BigEndian.Uint64(h[48:56]))
	e := make([]byte, 8)
	if _, err := f.ReadAt(e, table); err != nil {
		t.Fatal(err)
	}
	return clusterSize, int64(binary.BigEndian.Uint64(e))
}

// DamageQcow2Refcounts overwrites the start of a qcow2's first refcount
// block with garbage: the header stays sound (a survey calls the file
// complete), qemu-img check finds corruptions.
func DamageQcow2Refcounts(t testing.TB, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, block := qcow2Refcounts(t, f)
	garbage := make([]byte, 64)
	for i := range garbage {
		garbage[i] = 0xff
	}
	if _, err := f.WriteAt(garbage, block); err != nil {
		t.Fatal(err)
	}
}

// LeakQcow2Cluster appends one cluster to a qcow2 and gives it a
// refcount of 1 though nothing uses it: qemu-img check finds one leak
// and no corruption.
func LeakQcow2Cluster(t testing.TB, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cs, block := qcow2Refcounts(t, f)
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	idx := (st.Size() + cs - 1) / cs
	if idx >= cs/2 {
		t.Fatalf("cluster %d is beyond the first refcount block", idx)
	}
	if err := f.Truncate((idx + 1) * cs); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0, 1}, block+2*idx); err != nil {
		t.Fatal(err)
	}
}
