package diskimage

import (
	"bytes"
	"testing"
)

// FuzzRead: any bytes give a header or an error, never a panic, and a
// header never claims more than the bounds allow.
func FuzzRead(f *testing.F) {
	f.Add(qcowHeader(2, 1<<30, 16, "base.img", 512), int64(0))
	f.Add(qcowHeader(3, 1<<20, 16, "", 512), int64(0))
	f.Add(append([]byte("KDMV\x01\x00\x00\x00"), make([]byte, 1024)...), int64(0))
	f.Add([]byte("# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"x-flat.vmdk\" 0\n"), int64(0))
	f.Add([]byte("conectix"), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, extra int64) {
		size := int64(len(b))
		if extra > 0 && extra < 1<<40 {
			size += extra // a file longer than the bytes we hold
		}
		h, err := Read(bytes.NewReader(b), size)
		if err != nil {
			return
		}
		if h.VirtualSize < 0 || h.VirtualSize > maxVirtualSize && h.Format != Raw {
			t.Fatalf("virtual size %d", h.VirtualSize)
		}
		if len(h.BackingFile) > maxDescriptor {
			t.Fatalf("backing name of %d bytes", len(h.BackingFile))
		}
		Check(bytes.NewReader(b), size, Qcow2)
	})
}
