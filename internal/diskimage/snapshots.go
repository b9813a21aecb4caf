package diskimage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Bounds on a qcow2 snapshot table, so a hostile image costs the survey a
// bounded read. qemu's own limits are larger (65536 snapshots, a 64 MiB
// table, 1 KiB of extra data per entry); edgewright takes at most a few
// per volume, so a table past these is reported, not read.
const (
	MaxSnapshots       = 1024
	MaxSnapshotTable   = 4 << 20
	MaxSnapshotName    = 1024 // bytes of an id or a name
	maxSnapshotExtra   = 1024 // qemu's QCOW_MAX_SNAPSHOT_EXTRA_DATA
	maxL1Entries       = 1 << 22
	snapshotEntryFixed = 40
)

// ErrSnapshotTable is wrapped by every problem with a snapshot table.
var ErrSnapshotTable = errors.New("qcow2 snapshot table")

// ErrSnapshotBound is wrapped too when the table is not corrupt as far as
// it was read but lies beyond the bounds above: qemu may open the image;
// edgewright does not list its snapshots.
var ErrSnapshotBound = errors.New("beyond edgewright's bounds")

// Snapshot is one entry of a qcow2 internal snapshot table
// (docs/interop/qcow2.txt, "Snapshots").
type Snapshot struct {
	ID   string    // the unique id string qemu assigns ("1", "2", ...)
	Name string    // the tag; edgewright names its snapshots by uuid
	Date time.Time // when it was taken (date_sec, date_nsec)
	// VMClock is how long the guest had run, in nanoseconds.
	VMClock uint64
	// VMStateSize is the saved VM state; 0 for a disk-only snapshot.
	VMStateSize uint64
	// DiskSize is the virtual disk size the snapshot recorded (extra
	// data, v3 always); 0 when the entry does not say.
	DiskSize uint64
	L1Offset uint64
	L1Size   uint32
}

// Snapshots reads the internal snapshot table of the qcow2 image r
// (fileSize bytes), never following anything but the header's
// snapshots_offset, and only within the file. A non-qcow2 has none.
func Snapshots(r io.ReaderAt, fileSize int64) ([]Snapshot, error) {
	be := binary.BigEndian
	hdr := make([]byte, qcow2V3HeaderLen)
	n, err := r.ReadAt(hdr, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read qcow2 header: %w", err)
	}
	hdr = hdr[:n]
	if len(hdr) < 8 || be.Uint32(hdr) != qcowMagic {
		return nil, nil
	}
	version := be.Uint32(hdr[4:])
	if version != 2 && version != 3 {
		return nil, nil // qcow v1 has no snapshots; other versions are Read's to report
	}
	if len(hdr) < qcow2V2HeaderLen {
		return nil, fmt.Errorf("%w: header truncated at %d bytes", ErrSnapshotTable, len(hdr))
	}
	clusterBits := be.Uint32(hdr[20:])
	if clusterBits < 9 || clusterBits > 21 {
		return nil, fmt.Errorf("%w: cluster_bits %d out of range 9..21", ErrSnapshotTable, clusterBits)
	}
	count := be.Uint32(hdr[60:])
	off := be.Uint64(hdr[64:])
	if count == 0 {
		return nil, nil
	}
	switch {
	case count > MaxSnapshots:
		return nil, fmt.Errorf("%w: nb_snapshots %d is more than %d: %w", ErrSnapshotTable, count, MaxSnapshots, ErrSnapshotBound)
	case off == 0 || off%(1<<clusterBits) != 0:
		return nil, fmt.Errorf("%w: snapshots_offset %d is not a cluster boundary", ErrSnapshotTable, off)
	case fileSize < 0 || off >= uint64(fileSize):
		return nil, fmt.Errorf("%w: snapshots_offset %d lies outside the %d-byte file", ErrSnapshotTable, off, fileSize)
	}
	// Read the table in pieces that grow as entries need them, never
	// beyond the file or MaxSnapshotTable: a typical table (a few
	// entries) costs one small read.
	avail := min(uint64(fileSize)-off, MaxSnapshotTable)
	truncated := uint64(fileSize)-off > MaxSnapshotTable
	var table []byte
	read := func(want uint64) error {
		want = min(max(want, 4096), avail)
		if uint64(len(table)) >= want {
			return nil
		}
		grown := make([]byte, want)
		copy(grown, table)
		m, err := r.ReadAt(grown[len(table):], int64(off)+int64(len(table)))
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read qcow2 snapshot table at %d: %w", off, err)
		}
		table = grown[:len(table)+m]
		return nil
	}
	out := make([]Snapshot, 0, min(count, 16))
	pos := 0
	for i := uint32(0); i < count; i++ {
		var s Snapshot
		var size int
		for {
			if err := read(uint64(pos) + snapshotEntryFixed); err != nil {
				return out, err
			}
			var err error
			s, size, err = parseSnapshotEntry(table[pos:], version, clusterBits, fileSize)
			if had := len(table); errors.Is(err, errShortEntry) && uint64(had) < avail {
				// The entry goes on past what was read: read more, unless
				// the file ends before its size says.
				if err := read(uint64(had) * 2); err != nil {
					return out, err
				}
				if len(table) > had {
					continue
				}
			}
			if err != nil {
				if truncated && errors.Is(err, errShortEntry) {
					return out, fmt.Errorf("%w: entry %d at %d: table longer than %d bytes: %w", ErrSnapshotTable, i, off+uint64(pos), MaxSnapshotTable, ErrSnapshotBound)
				}
				return out, fmt.Errorf("%w: entry %d at %d: %w", ErrSnapshotTable, i, off+uint64(pos), err)
			}
			break
		}
		out = append(out, s)
		pos += size
	}
	return out, nil
}

var errShortEntry = errors.New("entry runs past the end of the file")

// parseSnapshotEntry parses one table entry from b and returns it and its
// padded size.
func parseSnapshotEntry(b []byte, version, clusterBits uint32, fileSize int64) (Snapshot, int, error) {
	be := binary.BigEndian
	if len(b) < snapshotEntryFixed {
		return Snapshot{}, 0, errShortEntry
	}
	s := Snapshot{
		L1Offset:    be.Uint64(b[0:]),
		L1Size:      be.Uint32(b[8:]),
		VMClock:     be.Uint64(b[24:]),
		VMStateSize: uint64(be.Uint32(b[32:])),
	}
	idLen := int(be.Uint16(b[12:]))
	nameLen := int(be.Uint16(b[14:]))
	sec, nsec := be.Uint32(b[16:]), be.Uint32(b[20:])
	extra := int(be.Uint32(b[36:]))
	switch {
	case extra > maxSnapshotExtra:
		return s, 0, fmt.Errorf("extra_data_size %d is more than %d", extra, maxSnapshotExtra)
	case version >= 3 && extra < 16:
		return s, 0, fmt.Errorf("extra_data_size %d: a version 3 entry has at least 16", extra)
	case idLen > MaxSnapshotName || nameLen > MaxSnapshotName:
		return s, 0, fmt.Errorf("id or name longer than %d bytes (%d, %d): %w", MaxSnapshotName, idLen, nameLen, ErrSnapshotBound)
	case nsec >= 1e9:
		return s, 0, fmt.Errorf("date_nsec %d is not below one second", nsec)
	case s.L1Size > maxL1Entries:
		return s, 0, fmt.Errorf("l1_size %d is more than %d", s.L1Size, maxL1Entries)
	case s.L1Offset%(1<<clusterBits) != 0:
		return s, 0, fmt.Errorf("l1_table_offset %d is not a cluster boundary", s.L1Offset)
	case s.L1Offset > uint64(fileSize) || uint64(fileSize)-s.L1Offset < uint64(s.L1Size)*8:
		return s, 0, fmt.Errorf("L1 table at %d+%d entries lies outside the %d-byte file", s.L1Offset, s.L1Size, fileSize)
	}
	size := snapshotEntryFixed + extra + idLen + nameLen
	padded := (size + 7) &^ 7
	if len(b) < size {
		return s, 0, errShortEntry
	}
	ex := b[snapshotEntryFixed : snapshotEntryFixed+extra]
	if len(ex) >= 8 {
		s.VMStateSize = be.Uint64(ex)
	}
	if len(ex) >= 16 {
		s.DiskSize = be.Uint64(ex[8:])
	}
	p := snapshotEntryFixed + extra
	s.ID = string(b[p : p+idLen])
	s.Name = string(b[p+idLen : p+idLen+nameLen])
	s.Date = time.Unix(int64(sec), int64(nsec)).UTC()
	if padded > len(b) {
		padded = len(b) // the last entry's padding may be past what we read
	}
	return s, padded, nil
}
