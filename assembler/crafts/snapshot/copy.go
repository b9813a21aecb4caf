package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/internal/durable"
)

// copyChunk bounds one copy_file_range call, so a cancelled context stops
// a large copy within one chunk.
const copyChunk = 64 << 20

// cloneOrCopy makes dst a copy of the open regular file src: a reflink
// (FICLONE: the file system shares the extents, copy-on-write) when the
// file system supports it, else a sparse copy that seeks over holes and
// copies only data extents. dst must be empty. It says which it did and
// how many bytes it copied (0 for a reflink).
func cloneOrCopy(ctx context.Context, dst, src *os.File) (Method, int64, error) {
	err := unix.IoctlFileClone(int(dst.Fd()), int(src.Fd()))
	if err == nil {
		return MethodReflink, 0, nil
	}
	if !cloneUnsupported(err) {
		return "", 0, fmt.Errorf("reflink %s to %s: %w", src.Name(), dst.Name(), err)
	}
	n, err := sparseCopy(ctx, dst, src)
	return MethodCopy, n, err
}

// cloneUnsupported is true for the errors by which a kernel or file system
// says "no reflink here" (ext4, tmpfs: EOPNOTSUPP or ENOTTY; two file
// systems: EXDEV; some: EINVAL), as opposed to a real I/O failure.
func cloneUnsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) ||
		errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)
}

// sparseCopy copies the data extents of src to dst (SEEK_DATA/SEEK_HOLE,
// then copy_file_range, which the kernel may itself accelerate) and sets
// dst's size to src's, so holes stay holes.
func sparseCopy(ctx context.Context, dst, src *os.File) (int64, error) {
	st, err := src.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	sfd, dfd := int(src.Fd()), int(dst.Fd())
	var copied int64
	for off := int64(0); off < size; {
		data, err := unix.Seek(sfd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return copied, fmt.Errorf("seek data in %s at %d: %w", src.Name(), off, err)
		}
		hole, err := unix.Seek(sfd, data, unix.SEEK_HOLE)
		if err != nil {
			return copied, fmt.Errorf("seek hole in %s at %d: %w", src.Name(), data, err)
		}
		for pos := data; pos < hole; {
			if err := ctx.Err(); err != nil {
				return copied, err
			}
			so, do := pos, pos
			n, err := unix.CopyFileRange(sfd, &so, dfd, &do, int(min(hole-pos, copyChunk)), 0)
			if err != nil {
				if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) {
					m, err := plainCopy(ctx, dst, src, pos, hole-pos)
					copied += m
					if err != nil {
						return copied, err
					}
					pos += m
					continue
				}
				return copied, fmt.Errorf("copy %s to %s at %d: %w", src.Name(), dst.Name(), pos, err)
			}
			if n == 0 {
				return copied, fmt.Errorf("copy %s at %d: %w (the file shrank during the copy)", src.Name(), pos, io.ErrUnexpectedEOF)
			}
			pos += int64(n)
			copied += int64(n)
		}
		off = hole
	}
	if err := dst.Truncate(size); err != nil {
		return copied, fmt.Errorf("size %s to %d: %w", dst.Name(), size, err)
	}
	return copied, nil
}

// plainCopy copies n bytes at off through user space, for kernels without
// copy_file_range between these files.
func plainCopy(ctx context.Context, dst, src *os.File, off, n int64) (int64, error) {
	buf := make([]byte, 1<<20)
	var done int64
	for done < n {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		m, err := src.ReadAt(buf[:min(int64(len(buf)), n-done)], off+done)
		if m > 0 {
			if _, werr := dst.WriteAt(buf[:m], off+done); werr != nil {
				return done, werr
			}
			done += int64(m)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return done, fmt.Errorf("copy %s at %d: %w", src.Name(), off+done, io.ErrUnexpectedEOF)
			}
			return done, err
		}
	}
	return done, nil
}

// copyFileAtomic makes dst a durable copy of the regular file src: the
// copy is written and fsynced at tmp (a name the caller picks by the
// layout rule, so the inspector knows it for work in progress; a stale one
// is replaced), renamed over dst, and the directory fsynced. A crash
// leaves dst as it was or whole, never partial.
func copyFileAtomic(ctx context.Context, src, tmp, dst string) (Method, int64, error) {
	m, n, err := copyFileTo(ctx, src, tmp)
	if err != nil {
		return m, n, err
	}
	if err := durable.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return m, n, err
	}
	return m, n, nil
}

// copyFileTo writes a copy of the regular file src at tmp (replacing a
// stale one), keeping src's permissions, and fsyncs it. On error tmp is
// removed.
func copyFileTo(ctx context.Context, src, tmp string) (Method, int64, error) {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return "", 0, err
	}
	if !st.Mode().IsRegular() {
		return "", 0, fmt.Errorf("%s: not a regular file (%s)", src, st.Mode().Type())
	}
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", 0, fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, st.Mode().Perm())
	if err != nil {
		return "", 0, err
	}
	method, n, err := cloneOrCopy(ctx, out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
	}
	return method, n, err
}
