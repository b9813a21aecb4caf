package diskimage

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// qcowHeader builds a header by hand for the cases qemu-img will not make.
func qcowHeader(version uint32, size uint64, clusterBits uint32, backing string, length int) []byte {
	b := make([]byte, length)
	copy(b, be32(qcowMagic))
	copy(b[4:], be32(version))
	copy(b[20:], be32(clusterBits))
	copy(b[24:], be64(size))
	if version == 3 && length >= 104 {
		copy(b[100:], be32(104))
	}
	if backing != "" {
		off := uint64(length - len(backing))
		copy(b[8:], be64(off))
		copy(b[16:], be32(uint32(len(backing))))
		copy(b[off:], backing)
	}
	return b
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		buf      []byte
		fileSize int64 // 0: len(buf)
		format   Format
		virtual  int64
		backing  string
		broken   string
	}{
		{name: "empty file", buf: nil, format: "raw"},
		{name: "three bytes of magic", buf: []byte("QFI"), format: "raw"},
		{name: "magic only", buf: be32(qcowMagic), format: "qcow2", broken: "no version"},
		{name: "v2 sound", buf: qcowHeader(2, 1<<30, 16, "", 512), format: "qcow2", virtual: 1 << 30},
		{name: "v3 sound", buf: qcowHeader(3, 5<<20, 16, "", 512), format: "qcow2", virtual: 5 << 20},
		{name: "v2 with backing in the header", buf: qcowHeader(2, 1<<30, 16, "base.img", 512), format: "qcow2", virtual: 1 << 30, backing: "base.img"},
		{name: "qcow v1", buf: qcowHeader(1, 1<<20, 0, "", 512), format: "qcow", virtual: 1 << 20},
		{name: "v3 truncated", buf: qcowHeader(3, 1<<30, 16, "", 80), format: "qcow2", broken: "header truncated: 80 bytes, version 3 needs 104"},
		{name: "version 0", buf: qcowHeader(0, 1<<30, 16, "", 512), format: "qcow2", broken: "unsupported version 0"},
		{name: "cluster bits 8", buf: qcowHeader(2, 1<<30, 8, "", 512), format: "qcow2", broken: "cluster_bits 8"},
		{name: "backing name past the file", buf: qcowHeader(2, 1<<30, 16, "base.img", 512), fileSize: 300, format: "qcow2", broken: "outside"},
		{name: "vmdk truncated", buf: []byte("KDMV\x01\x00\x00\x00"), format: "vmdk", broken: "truncated"},
		{name: "vhdx", buf: []byte("vhdxfile\x00"), format: "vhdx"},
		{name: "text", buf: []byte(strings.Repeat("hello", 200)), format: "raw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.fileSize
			if size == 0 {
				size = int64(len(tc.buf))
			}
			h, err := Read(bytes.NewReader(tc.buf), size)
			if err != nil {
				t.Fatal(err)
			}
			if h.Format != tc.format || h.BackingFile != tc.backing || !strings.Contains(h.Broken, tc.broken) || (tc.broken == "" && h.Broken != "") {
				t.Fatalf("got %+v, want format %s backing %q broken %q", h, tc.format, tc.backing, tc.broken)
			}
			if tc.broken == "" && h.VirtualSize != tc.virtual && tc.format != Raw {
				t.Fatalf("virtual size %d, want %d", h.VirtualSize, tc.virtual)
			}
		})
	}
}
