package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"

	"golang.org/x/sys/unix"
)

// xattrMax is the kernel's bound on one xattr value and on a list of
// names (XATTR_SIZE_MAX, XATTR_LIST_MAX): nothing larger can exist.
const xattrMax = 64 << 10

// treeStats says what a tree copy did.
type treeStats struct {
	Files    int64 // regular files written (hard links not counted)
	Links    int64 // hard links made to a file already copied
	Bytes    int64 // bytes copied (not reflinked)
	Reflinks int64 // regular files reflinked
}

func (s treeStats) method() Method {
	if s.Reflinks > 0 && s.Reflinks == s.Files {
		return MethodReflink
	}
	return MethodCopy
}

type inode struct{ dev, ino uint64 }

// treeCopier copies a container volume's tree: every entry by its
// descriptor relative to its parent (openat with O_NOFOLLOW), so a symlink
// in the tree, which is the app's and may be hostile, is copied as a
// symlink and never followed, even if the tree changes during the copy.
type treeCopier struct {
	ctx     context.Context
	dstRoot int
	// first names the copy of each multiply-linked inode, relative to the
	// destination root, so later names of it become hard links.
	first map[inode]string
	stats treeStats
}

// copyTree copies the directory src to dst, which must not exist,
// preserving types, modes, owners, xattrs, times and hard links (within
// the tree), and syncs the destination file system. On error dst may hold
// a partial tree: the caller copies into a temp name and removes it.
func copyTree(ctx context.Context, src, dst string) (treeStats, error) {
	sfd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return treeStats{}, fmt.Errorf("open %s: %w", src, err)
	}
	defer unix.Close(sfd)
	var st unix.Stat_t
	if err := unix.Fstat(sfd, &st); err != nil {
		return treeStats{}, fmt.Errorf("stat %s: %w", src, err)
	}
	if err := unix.Mkdir(dst, 0o700); err != nil {
		return treeStats{}, fmt.Errorf("mkdir %s: %w", dst, err)
	}
	dfd, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return treeStats{}, fmt.Errorf("open %s: %w", dst, err)
	}
	defer unix.Close(dfd)
	c := &treeCopier{ctx: ctx, dstRoot: dfd, first: map[inode]string{}}
	if err := c.dir(sfd, dfd, "."); err != nil {
		return c.stats, fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := c.attrs(sfd, dfd, -1, -1, ".", &st); err != nil {
		return c.stats, fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	// One syncfs makes every file and directory of the copy durable, far
	// cheaper than an fsync per entry of a large tree.
	if err := unix.Syncfs(dfd); err != nil {
		return c.stats, fmt.Errorf("syncfs %s: %w", dst, err)
	}
	return c.stats, nil
}

// dir copies the entries of the open directory sfd into dfd; rel is sfd's
// path relative to the roots, for hard links and error messages.
func (c *treeCopier) dir(sfd, dfd int, rel string) error {
	names, err := readDirNames(sfd)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	for _, name := range names {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if err := c.entry(sfd, dfd, rel, name); err != nil {
			return err
		}
	}
	return nil
}

func readDirNames(fd int) ([]string, error) {
	d, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(d), "dir")
	defer f.Close()
	return f.Readdirnames(-1)
}

func (c *treeCopier) entry(sfd, dfd int, rel, name string) error {
	p := path.Join(rel, name)
	var st unix.Stat_t
	if err := unix.Fstatat(sfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat %s: %w", p, err)
	}
	typ := st.Mode & unix.S_IFMT
	if typ != unix.S_IFDIR && st.Nlink > 1 {
		k := inode{uint64(st.Dev), st.Ino}
		if f, ok := c.first[k]; ok {
			if err := unix.Linkat(c.dstRoot, f, dfd, name, 0); err != nil {
				return fmt.Errorf("hard link %s to %s: %w", p, f, err)
			}
			c.stats.Links++
			return nil
		}
		c.first[k] = p
	}
	switch typ {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dfd, name, 0o700); err != nil {
			return fmt.Errorf("mkdir %s: %w", p, err)
		}
		cs, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer unix.Close(cs)
		cd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open copy of %s: %w", p, err)
		}
		defer unix.Close(cd)
		if err := c.dir(cs, cd, p); err != nil {
			return err
		}
		// A directory's own mode and times go last: a read-only one must
		// still take its entries, and each entry made touches its mtime.
		return c.attrs(cs, cd, sfd, dfd, name, &st)
	case unix.S_IFREG:
		return c.file(sfd, dfd, name, p, &st)
	case unix.S_IFLNK:
		target, err := readlinkat(sfd, name)
		if err != nil {
			return fmt.Errorf("readlink %s: %w", p, err)
		}
		if err := unix.Symlinkat(target, dfd, name); err != nil {
			return fmt.Errorf("symlink %s: %w", p, err)
		}
		return c.attrs(-1, -1, sfd, dfd, name, &st)
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		if err := unix.Mknodat(dfd, name, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)); err != nil {
			return fmt.Errorf("mknod %s: %w", p, err)
		}
		return c.attrs(-1, -1, sfd, dfd, name, &st)
	}
	return fmt.Errorf("%s: unknown file type %#o", p, typ)
}

func (c *treeCopier) file(sfd, dfd int, name, p string, st *unix.Stat_t) error {
	s, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	src := os.NewFile(uintptr(s), p)
	defer src.Close()
	d, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create copy of %s: %w", p, err)
	}
	dst := os.NewFile(uintptr(d), p)
	defer dst.Close()
	m, n, err := cloneOrCopy(c.ctx, dst, src)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	c.stats.Files++
	c.stats.Bytes += n
	if m == MethodReflink {
		c.stats.Reflinks++
	}
	return c.attrs(int(src.Fd()), int(dst.Fd()), sfd, dfd, name, st)
}

// attrs gives the copy the source's owner, mode, xattrs and times, in that
// order: chown clears set-id bits and file capabilities, so mode and
// xattrs follow it, and times go last because every other change touches
// ctime or mtime. Files and directories are reached by their descriptors
// s and d; symlinks and device nodes (s, d = -1) by name in their parents
// sp and dp, through /proc/self/fd, which never follows the last
// component. The roots have no parent (sp, dp = -1).
func (c *treeCopier) attrs(s, d, sp, dp int, name string, st *unix.Stat_t) error {
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	var err error
	if d >= 0 {
		err = unix.Fchown(d, int(st.Uid), int(st.Gid))
	} else {
		err = unix.Fchownat(dp, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return fmt.Errorf("chown %s to %d:%d: %w", name, st.Uid, st.Gid, err)
	}
	if !isLink {
		if d >= 0 {
			err = unix.Fchmod(d, st.Mode&0o7777)
		} else {
			err = unix.Fchmodat(dp, name, st.Mode&0o7777, 0)
		}
		if err != nil {
			return fmt.Errorf("chmod %s: %w", name, err)
		}
	}
	if s >= 0 && d >= 0 {
		err = copyXattrs(
			func(b []byte) (int, error) { return unix.Flistxattr(s, b) },
			func(a string, b []byte) (int, error) { return unix.Fgetxattr(s, a, b) },
			func(a string, v []byte) error { return unix.Fsetxattr(d, a, v, 0) })
	} else {
		sn, dn := fdPath(sp, name), fdPath(dp, name)
		err = copyXattrs(
			func(b []byte) (int, error) { return unix.Llistxattr(sn, b) },
			func(a string, b []byte) (int, error) { return unix.Lgetxattr(sn, a, b) },
			func(a string, v []byte) error { return unix.Lsetxattr(dn, a, v, 0) })
	}
	if err != nil {
		return fmt.Errorf("xattrs of %s: %w", name, err)
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if dp >= 0 {
		err = unix.UtimesNanoAt(dp, name, ts, unix.AT_SYMLINK_NOFOLLOW)
	} else {
		err = unix.UtimesNanoAt(unix.AT_FDCWD, fdPath(d, ""), ts, 0)
	}
	if err != nil {
		return fmt.Errorf("times of %s: %w", name, err)
	}
	return nil
}

// fdPath names an entry of the open directory fd (or fd itself).
func fdPath(fd int, name string) string {
	p := "/proc/self/fd/" + strconv.Itoa(fd)
	if name != "" {
		p += "/" + name
	}
	return p
}

// copyXattrs copies every extended attribute (user, trusted, security,
// system ACLs) from one inode to another, bounded by the kernel's limits.
func copyXattrs(list func([]byte) (int, error), get func(string, []byte) (int, error), set func(string, []byte) error) error {
	buf := make([]byte, xattrMax)
	n, err := list(buf)
	if errors.Is(err, unix.ENOTSUP) {
		return nil // the source file system has none
	}
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	val := make([]byte, xattrMax)
	for _, a := range splitNUL(buf[:n]) {
		m, err := get(a, val)
		if errors.Is(err, unix.ENODATA) {
			continue // removed since the list
		}
		if err != nil {
			return fmt.Errorf("get %s: %w", a, err)
		}
		if err := set(a, val[:m]); err != nil {
			return fmt.Errorf("set %s: %w", a, err)
		}
	}
	return nil
}

func splitNUL(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			out = append(out, string(b[:i]))
		}
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}

func readlinkat(fd int, name string) (string, error) {
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", fmt.Errorf("symlink target longer than 64 KiB")
}
