package unpack

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// An uncompressed tar layer read from a file (containerd's blob file, say)
// is read by offset: the tar reader gets a fileLayer, an io.Seeker, so it
// skips an entry's data by seeking instead of reading it (archive/tar
// seeks when it can), and a regular file's data is copied by the kernel
// from the layer file at the entry's data offset into the new file
// (copy_file_range(2): no trip through user space, and a reflink where the
// filesystem shares extents). Anything else, and any file pair the kernel
// will not copy between, goes the reading way (copyWithWriteback).

// fileLayer reads a file from an offset on, through a small buffer, and
// knows the offset of the next byte it returns.
type fileLayer struct {
	f    *os.File
	fd   int
	pos  int64  // the layer file's offset of the next byte Read returns
	buf  []byte // buf[r:w] are the bytes at pos
	r, w int
}

// fileLayerBuffer holds tar headers and small files' data.
const fileLayerBuffer = 64 << 10

// newFileLayer returns a fileLayer over f from its current offset when f
// is a regular file holding an uncompressed tar, else nil.
func newFileLayer(f *os.File) (*fileLayer, error) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, nil
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, nil
	}
	var magic [6]byte
	n, err := f.ReadAt(magic[:], pos)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read layer header: %w", err)
	}
	if compression(magic[:n]) != uncompressed {
		return nil, nil
	}
	return &fileLayer{f: f, fd: int(f.Fd()), pos: pos, buf: make([]byte, fileLayerBuffer)}, nil
}

func (l *fileLayer) Read(p []byte) (int, error) {
	if l.r == l.w {
		if len(p) >= len(l.buf) {
			n, err := l.f.ReadAt(p, l.pos)
			l.pos += int64(n)
			if n > 0 && err == io.EOF {
				err = nil
			}
			return n, err
		}
		n, err := l.f.ReadAt(l.buf, l.pos)
		l.r, l.w = 0, n
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return 0, err
		}
	}
	n := copy(p, l.buf[l.r:l.w])
	l.r += n
	l.pos += int64(n)
	return n, nil
}

// Seek moves the read offset (past an entry's data, for archive/tar).
func (l *fileLayer) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = l.pos + offset
	default:
		return l.pos, errors.New("fileLayer: seek from the end is not supported")
	}
	if abs < 0 {
		return l.pos, errors.New("fileLayer: negative offset")
	}
	if d := abs - l.pos; d >= 0 && d <= int64(l.w-l.r) {
		l.r += int(d)
	} else {
		l.r, l.w = 0, 0
	}
	l.pos = abs
	return abs, nil
}

// copyFileRange is unix.CopyFileRange; tests make it fail.
var copyFileRange = unix.CopyFileRange

// fileData writes a regular file entry's data into f: by the kernel from
// the layer file when it can, else read through r (the tar reader).
func (a *applier) fileData(f *os.File, hdr *tar.Header, r io.Reader) (int64, error) {
	if a.src == nil || a.noKernelCopy || hdr.Size <= 0 || sparse(hdr) {
		return copyWithWriteback(f, 0, r, a.buf())
	}
	// The tar reader has read the header and nothing of the data: the
	// data starts at the layer's read offset. Not reading it through r
	// leaves it for the tar reader to seek past.
	off := a.src.pos
	n, err := kernelCopy(f, a.src.fd, off, hdr.Size)
	switch {
	case err == nil:
		return n, nil
	case !errors.Is(err, errNoKernelCopy):
		return n, err
	}
	var refused unix.Errno
	if errors.As(err, &refused) {
		a.noKernelCopy = true // and for the layer's other files
	}
	if n == 0 {
		// Nothing copied: read it all the usual way.
		return copyWithWriteback(f, 0, r, a.buf())
	}
	// The kernel stopped part way: read the rest from the layer file.
	m, err := copyWithWriteback(f, n, io.NewSectionReader(a.src.f, off+n, hdr.Size-n), a.buf())
	if err == nil && n+m != hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	return n + m, err
}

// errNoKernelCopy says copy_file_range will not copy between these files
// (or the layer file ended early: the reading way reports it properly).
var errNoKernelCopy = errors.New("copy_file_range not possible")

// kernelCopy copies size bytes of the file src at off to the end of f
// (new and empty), handing every writebackEvery bytes to the disk as
// copyWithWriteback does. Where the kernel refuses these files (EXDEV,
// EINVAL, ENOSYS, EOPNOTSUPP, EPERM) or copies nothing, it returns
// errNoKernelCopy with what it copied so far.
func kernelCopy(f *os.File, src int, off, size int64) (int64, error) {
	dst := int(f.Fd())
	var done, flushed int64
	for done < size {
		want := min(size-done, flushed+writebackEvery-done)
		from := off + done
		n, err := copyFileRange(src, &from, dst, nil, int(want), 0)
		if err == unix.EINTR {
			continue
		}
		switch err {
		case nil:
		case unix.EXDEV, unix.EINVAL, unix.ENOSYS, unix.EOPNOTSUPP, unix.EPERM:
			return done, fmt.Errorf("%w: %w", errNoKernelCopy, err)
		default:
			return done, err
		}
		if n <= 0 {
			// The layer file ended early, or a filesystem that copies
			// nothing without saying so.
			return done, errNoKernelCopy
		}
		done += int64(n)
		if done-flushed >= writebackEvery {
			_ = unix.SyncFileRange(dst, flushed, done-flushed, unix.SYNC_FILE_RANGE_WRITE)
			flushed = done
		}
	}
	return done, nil
}

// sparse tells a sparse file entry (PAX GNU sparse formats), whose data in
// the archive is not its contents: only the tar reader expands it.
func sparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}
