package diskimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Format is what the content is, found from its bytes.
type Format string

const (
	Raw       Format = "raw"
	Qcow      Format = "qcow"
	Qcow2     Format = "qcow2"
	VMDK      Format = "vmdk"
	VHD       Format = "vpc"
	VHDX      Format = "vhdx"
	QED       Format = "qed"
	VDI       Format = "vdi"
	LUKS      Format = "luks"
	Cloop     Format = "cloop"
	Parallels Format = "parallels"
	Bochs     Format = "bochs"
	DMG       Format = "dmg"
)

// HeadSize is how much Read looks at up front.
const HeadSize = 4096

const (
	qcowMagic        = 0x514649FB
	qcow2V2HeaderLen = 72
	qcow2V3HeaderLen = 104
	qcow1HeaderLen   = 48
	maxBackingName   = 1023
	maxVirtualSize   = 1 << 61
	qcow2CorruptBit  = 1 << 1
	qcow2DataFileBit = 1 << 2
	extDataFile      = 0x44415441
	extBackingFormat = 0xE2792ACA
	extEnd           = 0
	// A vmdk descriptor longer than this is not one qemu makes.
	maxDescriptor = 1 << 20
)

// Header is what the first bytes of an image say.
type Header struct {
	Format      Format
	VirtualSize int64 // 0 when the format does not say (raw: the file size)
	// BackingFile is a qcow2 backing file name or a vmdk parent.
	BackingFile string
	// BackingFormat is the format a qcow2's backing-format header
	// extension names for its backing file ("" when there is none: qemu
	// then probes the backing's format).
	BackingFormat string
	// DataFile is set when a qcow2 stores its data in another file.
	DataFile bool
	// Extents are other files a vmdk descriptor names.
	Extents []string
	// ClusterBits and L1Size are a qcow2's cluster_bits and l1_size (the
	// active L1 table's entries): how many bytes a revert to an internal
	// snapshot rewrites in place (L1Size*8).
	ClusterBits uint32
	L1Size      uint32
	// SnapshotCount is a qcow2's nb_snapshots: whether Snapshots has a
	// table to read.
	SnapshotCount uint32
	// Broken is why the header is corrupt, "" when it is sound.
	Broken string
}

// External says which field names another file, "" when none does.
func (h Header) External() string {
	switch {
	case h.BackingFile != "":
		return fmt.Sprintf("%s header names a backing file %q", h.Format, h.BackingFile)
	case h.DataFile:
		return fmt.Sprintf("%s header names an external data file", h.Format)
	case len(h.Extents) > 0:
		return fmt.Sprintf("%s descriptor names extent file %q", h.Format, h.Extents[0])
	}
	return ""
}

// ErrRefused is wrapped by every refusal of Check.
var ErrRefused = errors.New("refused")

// Check reads r (size bytes) and returns its header, or an error wrapping
// ErrRefused when the content names another file, is corrupt, or is not
// the declared format (declared "" skips that comparison; declared raw
// accepts an image header that names no other file, as qemu opened with
// -f raw reads it as bytes).
func Check(r io.ReaderAt, size int64, declared Format) (Header, error) {
	h, err := Read(r, size)
	if err != nil {
		return h, err
	}
	if h.Broken != "" {
		return h, fmt.Errorf("%s: %w", h.Broken, ErrRefused)
	}
	if ext := h.External(); ext != "" {
		return h, fmt.Errorf("%s: %w", ext, ErrRefused)
	}
	if declared != "" && declared != Raw && declared != h.Format {
		return h, fmt.Errorf("declared format %s but the content is %s: %w", declared, h.Format, ErrRefused)
	}
	return h, nil
}

// Read reads the header of r, size bytes long, by content.
func Read(r io.ReaderAt, size int64) (Header, error) {
	buf := make([]byte, min(size, HeadSize))
	n, err := r.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Header{}, fmt.Errorf("read image header: %w", err)
	}
	buf = buf[:n]
	has := func(off int, magic string) bool {
		return len(buf) >= off+len(magic) && string(buf[off:off+len(magic)]) == magic
	}
	switch {
	case len(buf) >= 4 && binary.BigEndian.Uint32(buf) == qcowMagic:
		return readQcow(r, buf, size), nil
	case has(0, "KDMV"):
		return readSparseVMDK(r, buf, size), nil
	case has(0, "# Disk DescriptorFile"):
		return readDescriptor(Header{Format: VMDK}, buf, true), nil
	case has(0, "conectix"):
		return Header{Format: VHD}, nil
	case has(0, "vhdxfile"):
		return Header{Format: VHDX}, nil
	case has(0, "QED\x00"):
		return Header{Format: QED, Broken: "qed image: not supported"}, nil
	case len(buf) >= 0x44 && binary.LittleEndian.Uint32(buf[0x40:]) == 0xbeda107f:
		return Header{Format: VDI}, nil
	case has(0, "LUKS\xba\xbe"):
		return Header{Format: LUKS}, nil
	case has(0, "#!/bin/sh\n#V2.0 Format"):
		return Header{Format: Cloop}, nil
	case has(0, "WithoutFreeSpace"), has(0, "WithouFreSpacExt"):
		return Header{Format: Parallels}, nil
	case has(0, "Bochs Virtual HD Image"):
		return Header{Format: Bochs}, nil
	}
	// A fixed VHD and a dmg keep their footer at the end.
	if size >= 512 {
		tail := make([]byte, 512)
		if m, _ := r.ReadAt(tail, size-512); m == 512 {
			switch {
			case string(tail[:8]) == "conectix":
				return Header{Format: VHD}, nil
			case string(tail[:4]) == "koly":
				return Header{Format: DMG}, nil
			}
		}
	}
	return Header{Format: Raw, VirtualSize: size}, nil
}

func readQcow(r io.ReaderAt, buf []byte, fileSize int64) Header {
	be := binary.BigEndian
	h := Header{Format: Qcow2}
	if len(buf) < 8 {
		h.Broken = fmt.Sprintf("qcow2 header truncated: %d bytes, magic present but no version", len(buf))
		return h
	}
	version := be.Uint32(buf[4:])
	need := 0
	switch version {
	case 1:
		h.Format = Qcow
		need = qcow1HeaderLen
	case 2:
		need = qcow2V2HeaderLen
	case 3:
		need = qcow2V3HeaderLen
	default:
		h.Broken = fmt.Sprintf("qcow2 header: unsupported version %d (want 2 or 3)", version)
		return h
	}
	if len(buf) < need {
		h.Broken = fmt.Sprintf("%s header truncated: %d bytes, version %d needs %d", h.Format, len(buf), version, need)
		return h
	}
	backingOff := be.Uint64(buf[8:])
	backingLen := be.Uint32(buf[16:])
	size := be.Uint64(buf[24:])
	headerLen := uint32(need)
	if version >= 2 {
		if cb := be.Uint32(buf[20:]); cb < 9 || cb > 21 {
			h.Broken = fmt.Sprintf("qcow2 header: cluster_bits %d out of range 9..21", cb)
			return h
		}
		h.ClusterBits = be.Uint32(buf[20:])
		h.L1Size = be.Uint32(buf[36:])
		h.SnapshotCount = be.Uint32(buf[60:])
	}
	if version == 3 {
		incompat := be.Uint64(buf[72:])
		if incompat&qcow2CorruptBit != 0 {
			h.Broken = "qcow2 header: the image is marked corrupt (incompatible feature bit 1)"
			return h
		}
		if incompat&qcow2DataFileBit != 0 {
			h.DataFile = true
		}
		headerLen = be.Uint32(buf[100:])
		if headerLen < qcow2V3HeaderLen {
			h.Broken = fmt.Sprintf("qcow2 header: header_length %d shorter than %d", headerLen, qcow2V3HeaderLen)
			return h
		}
	}
	switch {
	case size == 0:
		h.Broken = "qcow2 header: virtual size is 0"
		return h
	case size > maxVirtualSize:
		h.Broken = fmt.Sprintf("qcow2 header: virtual size %d is absurd", size)
		return h
	}
	h.VirtualSize = int64(size)
	if backingOff != 0 || backingLen != 0 {
		switch {
		case backingLen == 0 || backingLen > maxBackingName:
			h.Broken = fmt.Sprintf("qcow2 header: backing file name length %d out of range 1..%d", backingLen, maxBackingName)
			return h
		case backingOff < uint64(need) || backingOff > uint64(fileSize) || uint64(fileSize)-backingOff < uint64(backingLen):
			h.Broken = fmt.Sprintf("qcow2 header: backing file name at %d+%d lies outside the %d-byte file", backingOff, backingLen, fileSize)
			return h
		}
		name := make([]byte, backingLen)
		if m, _ := r.ReadAt(name, int64(backingOff)); m != len(name) {
			h.Broken = fmt.Sprintf("qcow2 header: backing file name truncated at %d of %d bytes", m, len(name))
			return h
		}
		h.BackingFile = string(name)
		if h.BackingFile == "" || strings.Trim(h.BackingFile, "\x00") == "" {
			h.BackingFile = fmt.Sprintf("<%d NUL bytes>", backingLen)
		}
	}
	// Header extensions follow the header (v3: header_length; v2: 72) up
	// to the first cluster; the data-file extension names a file too.
	if version >= 2 {
		off := int(headerLen)
		for i := 0; i < 64 && off+8 <= len(buf); i++ {
			typ := be.Uint32(buf[off:])
			l := int(be.Uint32(buf[off+4:]))
			if typ == extEnd {
				break
			}
			if typ == extDataFile {
				h.DataFile = true
			}
			if l < 0 || l > len(buf) {
				break
			}
			if typ == extBackingFormat && off+8+l <= len(buf) && l <= 32 {
				h.BackingFormat = string(buf[off+8 : off+8+l])
			}
			off += 8 + (l+7)&^7
		}
	}
	return h
}

func readSparseVMDK(r io.ReaderAt, buf []byte, fileSize int64) Header {
	h := Header{Format: VMDK}
	if len(buf) < 512 {
		h.Broken = fmt.Sprintf("vmdk header truncated: %d bytes", len(buf))
		return h
	}
	le := binary.LittleEndian
	h.VirtualSize = int64(min(le.Uint64(buf[12:])*512, maxVirtualSize))
	descOff := le.Uint64(buf[28:])
	descSize := le.Uint64(buf[36:])
	if descOff == 0 || descSize == 0 {
		return h
	}
	if descSize*512 > maxDescriptor || descOff > uint64(fileSize)/512 {
		h.Broken = fmt.Sprintf("vmdk header: descriptor at sector %d, %d sectors, lies outside the file or is too long", descOff, descSize)
		return h
	}
	desc := make([]byte, descSize*512)
	m, _ := r.ReadAt(desc, int64(descOff)*512)
	return readDescriptor(h, desc[:m], false)
}

// readDescriptor reads a vmdk text descriptor; in a standalone descriptor
// file every extent is another file, in a sparse file only a parent is.
func readDescriptor(h Header, desc []byte, standalone bool) Header {
	if i := bytes.IndexByte(desc, 0); i >= 0 {
		desc = desc[:i]
	}
	for _, line := range strings.Split(string(desc), "\n") {
		line = strings.TrimSpace(line)
		key, val, _ := strings.Cut(line, "=")
		key, val = strings.TrimSpace(key), strings.Trim(strings.TrimSpace(val), `"`)
		switch {
		case key == "parentFileNameHint" && val != "":
			h.BackingFile = val
		case key == "createType" && val != "monolithicSparse" && val != "streamOptimized":
			standalone = true
		case strings.HasPrefix(line, "RW ") || strings.HasPrefix(line, "RDONLY ") || strings.HasPrefix(line, "NOACCESS "):
			if standalone {
				if q := strings.IndexByte(line, '"'); q >= 0 {
					name, _, _ := strings.Cut(line[q+1:], `"`)
					h.Extents = append(h.Extents, name)
				} else {
					h.Extents = append(h.Extents, line)
				}
			}
		}
	}
	if standalone && len(h.Extents) == 0 {
		h.Extents = []string{"<descriptor without a sparse header>"}
	}
	return h
}
