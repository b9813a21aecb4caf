package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrDamaged is wrapped by Open when journal.db is not a sound bbolt file
// (garbage, truncated, zeroed page, not a regular file). A writable Open
// quarantines it and starts fresh; a read-only Open reports it.
var ErrDamaged = errors.New("journal damaged")

// Quarantine says where a damaged journal was put aside and why.
type Quarantine struct {
	Path   string // the damaged file's new name
	Reason string
}

const (
	boltMagic    = 0xED0CDAED
	boltVersion  = 2
	pageHeader   = 16
	metaSumStart = pageHeader
	metaSumLen   = 56 // magic..txid, what bbolt's checksum covers
)

// precheck validates journal.db with our own reads before bbolt mmaps it:
// a file shorter than the pages its meta names would SIGBUS, which no
// recover catches, and a FIFO would block the open. A missing file is fine.
func precheck(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file (%s)", ErrDamaged, path, fi.Mode().Type())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrDamaged, path)
	}
	size := fi.Size()
	if size == 0 {
		return nil // bbolt initialises an empty file
	}
	var first [pageHeader + metaSumLen + 8]byte
	if _, err := f.ReadAt(first[:], 0); err != nil {
		return fmt.Errorf("%w: %s: %d bytes, too short for a meta page", ErrDamaged, path, size)
	}
	psz := int64(binary.LittleEndian.Uint32(first[pageHeader+8:]))
	sound := 0
	var why error
	for _, off := range candidates(psz) {
		var m [pageHeader + metaSumLen + 8]byte
		if _, err := f.ReadAt(m[:], off); err != nil && !errors.Is(err, io.EOF) {
			return err
		} else if err != nil {
			continue
		}
		if err := checkMeta(m[:], size); err != nil {
			why = fmt.Errorf("meta at %d: %w", off, err)
			continue
		}
		sound++
	}
	if sound == 0 {
		if why == nil {
			why = errors.New("no meta page")
		}
		return fmt.Errorf("%w: %s: %v", ErrDamaged, path, why)
	}
	return nil
}

// candidates are the offsets of meta page 1: after meta 0 (its page size
// when sane) or at the usual page sizes when meta 0 is damaged.
func candidates(psz int64) []int64 {
	out := []int64{0}
	if saneSize(psz) {
		return append(out, psz)
	}
	return append(out, 4096, 16384, 65536)
}

func saneSize(p int64) bool { return p >= 1024 && p <= 1<<16 && p&(p-1) == 0 }

func checkMeta(m []byte, size int64) error {
	le := binary.LittleEndian
	meta := m[pageHeader:]
	if le.Uint32(meta[0:]) != boltMagic {
		return errors.New("bad magic")
	}
	if le.Uint32(meta[4:]) != boltVersion {
		return fmt.Errorf("version %d", le.Uint32(meta[4:]))
	}
	h := fnv.New64a()
	h.Write(meta[:metaSumLen])
	if h.Sum64() != le.Uint64(meta[metaSumLen:]) {
		return errors.New("checksum mismatch")
	}
	psz := int64(le.Uint32(meta[8:]))
	if !saneSize(psz) {
		return fmt.Errorf("page size %d", psz)
	}
	hw := le.Uint64(meta[40:])
	if hw > uint64(size/psz) {
		return fmt.Errorf("names %d pages of %d bytes, file has %d bytes", hw, psz, size)
	}
	return nil
}

// walk reads every bucket and key so a zeroed or garbled page is met now,
// with its panic turned into an error, and not during a later remodel.
func walk(db *bolt.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: page check: %v", ErrDamaged, r)
		}
	}()
	return db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walkBucket(b) })
	})
}

func walkBucket(b *bolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				return walkBucket(nb)
			}
		}
		return nil
	})
}

// quarantine renames the damaged journal aside and makes the rename durable.
func quarantine(path string, now time.Time) (string, error) {
	dst := fmt.Sprintf("%s.damaged-%s", path, now.UTC().Format("20060102T150405.000000000Z"))
	if err := os.Rename(path, dst); err != nil {
		return "", err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return dst, err
	}
	defer d.Close()
	return dst, d.Sync()
}
