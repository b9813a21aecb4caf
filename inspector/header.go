package inspector

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/edgewright/edgewright/materials"
)

// headerSize is all the inspector ever reads of an image up front.
const headerSize = 512

const (
	qcowMagic = 0x514649FB // "QFI\xfb"
	// qcow2 header lengths: version 2 ends after snapshots_offset, version 3
	// adds feature bits, refcount_order and header_length.
	qcow2V2HeaderLen = 72
	qcow2V3HeaderLen = 104
	qcow1HeaderLen   = 48
	// qemu refuses backing file names longer than 1023 bytes.
	maxBackingName = 1023
	// Beyond 2^61 bytes no qemu accepts a virtual size; it is a corrupt
	// field, not a disk.
	maxVirtualSize = 1 << 61
	// qcow2 incompatible feature bit 1: qemu found the image corrupt.
	qcow2CorruptBit = 1 << 1
)

// headerInfo is what the first bytes of a volume file say.
type headerInfo struct {
	format      materials.Format
	virtualSize int64 // 0 for raw: the caller uses the apparent size
	// backingOff/backingLen locate the backing file name when it lies
	// beyond the bytes read.
	backingOff  int64
	backingLen  int
	backingFile string
	// broken is the reason the header is corrupt, "" when it is sound.
	broken string
}

// parseHeader reads the format from buf, the first bytes of a file of
// fileSize bytes. It never trusts the extension and never reads more:
// a backing file name beyond buf is left for the caller (backingOff/Len).
func parseHeader(buf []byte, fileSize int64) headerInfo {
	if len(buf) >= 4 && binary.BigEndian.Uint32(buf) == qcowMagic {
		return parseQcow(buf, fileSize)
	}
	switch {
	case len(buf) >= 4 && bytes.Equal(buf[:4], []byte("KDMV")):
		return headerInfo{format: materials.FormatVMDK}
	case len(buf) >= 8 && bytes.Equal(buf[:8], []byte("vhdxfile")):
		return headerInfo{format: materials.FormatVHDX}
	}
	return headerInfo{format: materials.FormatRaw}
}

func parseQcow(buf []byte, fileSize int64) headerInfo {
	be := binary.BigEndian
	h := headerInfo{format: materials.FormatQcow2}
	if len(buf) < 8 {
		h.broken = fmt.Sprintf("qcow2 header truncated: %d bytes, magic present but no version", len(buf))
		return h
	}
	version := be.Uint32(buf[4:])
	need := 0
	switch version {
	case 1:
		h.format = materials.FormatQcow
		need = qcow1HeaderLen
	case 2:
		need = qcow2V2HeaderLen
	case 3:
		need = qcow2V3HeaderLen
	default:
		h.broken = fmt.Sprintf("qcow2 header: unsupported version %d (want 2 or 3)", version)
		return h
	}
	if len(buf) < need {
		h.broken = fmt.Sprintf("%s header truncated: %d bytes, version %d needs %d",
			h.format, len(buf), version, need)
		return h
	}
	backingOff := be.Uint64(buf[8:])
	backingLen := be.Uint32(buf[16:])
	size := be.Uint64(buf[24:])
	if version >= 2 {
		clusterBits := be.Uint32(buf[20:])
		if clusterBits < 9 || clusterBits > 21 {
			h.broken = fmt.Sprintf("qcow2 header: cluster_bits %d out of range 9..21", clusterBits)
			return h
		}
	}
	if version == 3 {
		if incompat := be.Uint64(buf[72:]); incompat&qcow2CorruptBit != 0 {
			h.broken = "qcow2 header: the image is marked corrupt (incompatible feature bit 1)"
			return h
		}
		if hl := be.Uint32(buf[100:]); hl < qcow2V3HeaderLen {
			h.broken = fmt.Sprintf("qcow2 header: header_length %d shorter than %d", hl, qcow2V3HeaderLen)
			return h
		}
	}
	switch {
	case size == 0:
		h.broken = "qcow2 header: virtual size is 0"
		return h
	case size > maxVirtualSize:
		h.broken = fmt.Sprintf("qcow2 header: virtual size %d is absurd", size)
		return h
	}
	h.virtualSize = int64(size)
	if backingOff != 0 || backingLen != 0 {
		switch {
		case backingLen == 0 || backingLen > maxBackingName:
			h.broken = fmt.Sprintf("qcow2 header: backing file name length %d out of range 1..%d", backingLen, maxBackingName)
			return h
		case backingOff < uint64(need) || backingOff > uint64(fileSize) || uint64(fileSize)-backingOff < uint64(backingLen):
			h.broken = fmt.Sprintf("qcow2 header: backing file name at %d+%d lies outside the header area or the %d-byte file", backingOff, backingLen, fileSize)
			return h
		}
		if end := backingOff + uint64(backingLen); end <= uint64(len(buf)) {
			h.backingFile = string(buf[backingOff:end])
		} else {
			h.backingOff, h.backingLen = int64(backingOff), int(backingLen)
		}
	}
	return h
}
