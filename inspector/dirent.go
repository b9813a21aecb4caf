package inspector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"unsafe"

	"github.com/edgewright/edgewright/internal/radix"

	"golang.org/x/sys/unix"
)

// dirent is one directory entry: its name and its type from getdents
// (no stat needed for the type on file systems that report it).
type dirent struct {
	// path is the listing's prefix and the name, built once; name is its
	// tail (no second allocation per entry).
	path string
	name string
	typ  uint8 // unix.DT_*
}

// readDirents lists an open directory with getdents64 on its fd, so that
// nothing is looked up by path, sorted by name. Entries whose type the
// file system does not report are typed with fstatat(AT_SYMLINK_NOFOLLOW).
// On an error part way, what was read is returned with the error.
func readDirents(fd int, prefix string) ([]dirent, error) {
	var out []dirent
	err := listDirents(fd, prefix, func(batch []dirent) { out = append(out, batch...) })
	// Sorted by name, so that a directory's records come out in path
	// order and the final sort has nothing to move.
	return sortDirents(out), err
}

// listDirents reads an open directory from its start and hands each
// getdents64 buffer's entries (without . and .., typed) to fn as soon as
// it is read, unsorted, so that a caller can start on them while the rest
// is listed. The batch is fn's to keep. On an error part way, the entries
// before it have been handed over.
func listDirents(fd int, prefix string, fn func([]dirent)) error {
	// The fd may have been read before: list from the start.
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	const nameOff = int(unsafe.Offsetof(unix.Dirent{}.Name))
	type rec struct {
		name []byte
		typ  uint8
	}
	var recs []rec // one buffer's entries, reused
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		// The buffer's entries first, then their paths in one string and
		// the batch at its exact size: two allocations a buffer instead of
		// one a name, and no garbage (a survey of 10,000 volumes then
		// stays below the heap size that starts the collector).
		recs = recs[:0]
		size := 0
		var bad error
		for off := 0; off < n; {
			r := buf[off:n]
			if len(r) < nameOff {
				bad = errors.New("getdents: short record")
				break
			}
			reclen := int(binary.NativeEndian.Uint16(r[16:18]))
			if reclen < nameOff || reclen > len(r) {
				bad = errors.New("getdents: bad record length")
				break
			}
			name := r[nameOff:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			off += reclen
			if len(name) == 0 || (len(name) == 1 && name[0] == '.') || (len(name) == 2 && name[0] == '.' && name[1] == '.') {
				continue
			}
			recs = append(recs, rec{name: name, typ: r[18]})
			size += len(prefix) + len(name)
		}
		var paths strings.Builder
		paths.Grow(size)
		for _, r := range recs {
			paths.WriteString(prefix)
			paths.Write(r.name)
		}
		all := paths.String()
		batch := make([]dirent, len(recs))
		at := 0
		for i, r := range recs {
			p := all[at : at+len(prefix)+len(r.name)]
			at += len(p)
			typ := r.typ
			if typ == unix.DT_UNKNOWN {
				var st unix.Stat_t
				if err := unix.Fstatat(fd, p[len(prefix):], &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
					typ = modeToDT(st.Mode)
				}
			}
			batch[i] = dirent{path: p, name: p[len(prefix):], typ: typ}
		}
		if len(batch) > 0 {
			fn(batch)
		}
		if bad != nil {
			return bad
		}
	}
}

func modeToDT(mode uint32) uint8 {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return unix.DT_REG
	case unix.S_IFDIR:
		return unix.DT_DIR
	case unix.S_IFLNK:
		return unix.DT_LNK
	case unix.S_IFIFO:
		return unix.DT_FIFO
	case unix.S_IFSOCK:
		return unix.DT_SOCK
	case unix.S_IFCHR:
		return unix.DT_CHR
	case unix.S_IFBLK:
		return unix.DT_BLK
	}
	return unix.DT_UNKNOWN
}

// dtName names a non-regular entry type for a reason string.
func dtName(t uint8) string {
	switch t {
	case unix.DT_FIFO:
		return "fifo"
	case unix.DT_SOCK:
		return "socket"
	case unix.DT_CHR:
		return "character device"
	case unix.DT_BLK:
		return "block device"
	}
	return "unknown type"
}

// sortDirents returns ents sorted by name (byte order, as strings.Compare).
func sortDirents(ents []dirent) []dirent {
	out := make([]dirent, len(ents))
	for k, i := range radix.Order(len(ents), func(i int) string { return ents[i].name }) {
		out[k] = ents[i]
	}
	return out
}
