package chunks

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func plain(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pack(t *testing.T, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	zw.Write(p)
	zw.Close()
	return b.Bytes()
}

// patchPlain flips a byte of the uncompressed index (negative: from the end).
func patchPlain(t *testing.T, b []byte, at int) []byte {
	p := plain(t, b)
	if at < 0 {
		at += len(p)
	}
	p[at] ^= 0x55
	return pack(t, p)
}

func truncPlain(t *testing.T, b []byte, cut int) []byte {
	p := plain(t, b)
	return pack(t, p[:len(p)-cut])
}

func appendPlain(t *testing.T, b, extra []byte) []byte {
	return pack(t, append(plain(t, b), extra...))
}

// patchCount rewrites the count field (and leaves the trailer stale: the
// count check must come first).
func patchCount(t *testing.T, b []byte, count uint64) []byte {
	p := plain(t, b)
	at := headerFixed + int(p[29]) + 8 + 32
	binary.BigEndian.PutUint64(p[at:], count)
	return pack(t, p)
}

func plainNoT(b []byte) []byte {
	zr, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	defer zr.Close()
	out, _ := io.ReadAll(zr)
	return out
}
