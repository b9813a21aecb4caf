package rootfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

var (
	// ErrSymlink: a component below the root is a symlink.
	ErrSymlink = errors.New("is a symlink; edgewright's own directories never hold one")
	// ErrNotRegular: a file edgewright reads or writes is a FIFO, socket,
	// device or directory.
	ErrNotRegular = errors.New("is not a regular file")
	// ErrEscape: the path is not below the root.
	ErrEscape = errors.New("is not below the root")
)

// forceFallback makes resolution walk component by component even where
// openat2 works; the tests run both ways.
var forceFallback bool

var (
	openat2Once sync.Once
	openat2OK   bool
)

func haveOpenat2(fd int) bool {
	openat2Once.Do(func() {
		nfd, err := unix.Openat2(fd, ".", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS})
		if err == nil {
			unix.Close(nfd)
			openat2OK = true
		}
	})
	return openat2OK && !forceFallback
}

// Root is a directory whose subtree edgewright owns.
type Root struct{ dir string }

// New is the root at dir.
func New(dir string) Root { return Root{dir: filepath.Clean(dir)} }

// rel turns p (a path built from the root) into its clean relative form.
func (r Root) rel(op, p string) (string, error) {
	rel, err := filepath.Rel(r.dir, filepath.Clean(p))
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", &fs.PathError{Op: op, Path: p, Err: ErrEscape}
	}
	return rel, nil
}

// openDir opens the directory rel below the root without following any
// symlink. The caller closes the fd.
func (r Root) openDir(op, rel string) (int, error) {
	rootfd, err := unix.Open(r.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: op, Path: r.dir, Err: err}
	}
	if rel == "." || rel == "" {
		return rootfd, nil
	}
	defer unix.Close(rootfd)
	if haveOpenat2(rootfd) {
		how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
		for i := 0; ; i++ {
			fd, err := unix.Openat2(rootfd, rel, how)
			if err == unix.EAGAIN && i < 16 {
				continue
			}
			if err == nil {
				return fd, nil
			}
			if err == unix.ELOOP || err == unix.ENOTDIR || err == unix.EXDEV {
				return -1, r.explain(op, rootfd, rel, err)
			}
			return -1, &fs.PathError{Op: op, Path: filepath.Join(r.dir, rel), Err: err}
		}
	}
	fd, err := unix.Dup(rootfd)
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(rel, "/") {
		next, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err == unix.ELOOP || err == unix.ENOTDIR {
			return -1, r.explain(op, rootfd, rel, err)
		}
		if err != nil {
			return -1, &fs.PathError{Op: op, Path: filepath.Join(r.dir, rel), Err: err}
		}
		fd = next
	}
	return fd, nil
}

// explain finds the component of rel that stopped the resolution and
// names it: a symlink is ErrSymlink, anything else keeps err.
func (r Root) explain(op string, rootfd int, rel string, err error) error {
	done := ""
	for _, c := range strings.Split(rel, "/") {
		done = filepath.Join(done, c)
		var st unix.Stat_t
		if unix.Fstatat(rootfd, done, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			break
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return &fs.PathError{Op: op, Path: filepath.Join(r.dir, done), Err: ErrSymlink}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return &fs.PathError{Op: op, Path: filepath.Join(r.dir, done), Err: unix.ENOTDIR}
		}
	}
	return &fs.PathError{Op: op, Path: filepath.Join(r.dir, rel), Err: err}
}

// parent opens p's directory and returns it with p's last component.
func (r Root) parent(op, p string) (int, string, error) {
	rel, err := r.rel(op, p)
	if err != nil {
		return -1, "", err
	}
	if rel == "." {
		return -1, "", &fs.PathError{Op: op, Path: p, Err: errors.New("is the root itself")}
	}
	fd, err := r.openDir(op, filepath.Dir(rel))
	return fd, filepath.Base(rel), err
}

// MkdirAll creates dir and its missing parents below the root, refusing
// any symlink on the way.
func (r Root) MkdirAll(dir string, perm fs.FileMode) error {
	rel, err := r.rel("mkdir", dir)
	if err != nil {
		return err
	}
	fd, err := unix.Open(r.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: r.dir, Err: err}
	}
	defer func() { unix.Close(fd) }()
	if rel == "." {
		return nil
	}
	done := ""
	for _, c := range strings.Split(rel, "/") {
		done = filepath.Join(done, c)
		next, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT {
			if err := unix.Mkdirat(fd, c, uint32(perm.Perm())); err != nil && err != unix.EEXIST {
				return &fs.PathError{Op: "mkdir", Path: filepath.Join(r.dir, done), Err: err}
			}
			next, err = unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		if err == unix.ELOOP || err == unix.ENOTDIR {
			var st unix.Stat_t
			if unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = ErrSymlink
			} else {
				err = unix.ENOTDIR
			}
		}
		if err != nil {
			return &fs.PathError{Op: "mkdir", Path: filepath.Join(r.dir, done), Err: err}
		}
		unix.Close(fd)
		fd = next
	}
	return nil
}

// OpenFile opens the regular file p below the root (flags as os.OpenFile)
// without following a symlink anywhere and without blocking on a FIFO.
func (r Root) OpenFile(p string, flag int, perm fs.FileMode) (*os.File, error) {
	dfd, base, err := r.parent("open", p)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	// Look before opening: opening a device node runs its driver.
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		if err := kindErr(st.Mode); err != nil {
			return nil, &fs.PathError{Op: "open", Path: p, Err: err}
		}
	}
	fd, err := unix.Openat(dfd, base, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err == unix.ELOOP {
		err = ErrSymlink
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	if err := unix.Fstat(fd, &st); err == nil {
		err = kindErr(st.Mode)
	}
	if err == nil {
		err = unix.SetNonblock(fd, false)
	}
	if err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

func kindErr(mode uint32) error {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return nil
	case unix.S_IFLNK:
		return ErrSymlink
	}
	return ErrNotRegular
}

// ReadFile reads the regular file p, at most max bytes.
func (r Root) ReadFile(p string, max int64) ([]byte, error) {
	f, err := r.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("read %s: longer than %d bytes", p, max)
	}
	return b, nil
}

// StatT is p's entry itself (never a symlink's target), as fstatat says.
func (r Root) StatT(p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	dfd, base, err := r.parent("lstat", p)
	if err != nil {
		return st, err
	}
	defer unix.Close(dfd)
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	return st, nil
}

// Lstat describes p's entry itself (never a symlink's target).
func (r Root) Lstat(p string) (fs.FileMode, int64, error) {
	st, err := r.StatT(p)
	if err != nil {
		return 0, 0, err
	}
	var m fs.FileMode
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m = fs.ModeDir
	case unix.S_IFLNK:
		m = fs.ModeSymlink
	case unix.S_IFIFO:
		m = fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m = fs.ModeSocket
	case unix.S_IFCHR:
		m = fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m = fs.ModeDevice
	}
	return m | fs.FileMode(st.Mode&0o777), st.Size, nil
}

// Rename renames from to to, both below the root, through no symlink
// (a symlink at either end is renamed or replaced, never followed).
func (r Root) Rename(from, to string) error {
	ofd, obase, err := r.parent("rename", from)
	if err != nil {
		return err
	}
	defer unix.Close(ofd)
	nfd, nbase, err := r.parent("rename", to)
	if err != nil {
		return err
	}
	defer unix.Close(nfd)
	if err := unix.Renameat(ofd, obase, nfd, nbase); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// Remove removes the entry p (a file, symlink or empty directory).
func (r Root) Remove(p string) error {
	dfd, base, err := r.parent("remove", p)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	err = unix.Unlinkat(dfd, base, 0)
	if err == unix.EISDIR {
		err = unix.Unlinkat(dfd, base, unix.AT_REMOVEDIR)
	}
	if err != nil {
		return &fs.PathError{Op: "remove", Path: p, Err: err}
	}
	return nil
}

// RemoveAll removes p and everything below it, following no symlink; a
// missing p (or parent) is not an error.
func (r Root) RemoveAll(p string) error {
	dfd, base, err := r.parent("remove", p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := removeAt(dfd, base); err != nil && err != unix.ENOENT {
		return &fs.PathError{Op: "remove", Path: p, Err: err}
	}
	return nil
}

func removeAt(dfd int, name string) error {
	err := unix.Unlinkat(dfd, name, 0)
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	fd, oerr := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if oerr != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	for {
		names, rerr := d.Readdirnames(256)
		for _, n := range names {
			if err := removeAt(fd, n); err != nil && err != unix.ENOENT {
				d.Close()
				return err
			}
		}
		if rerr == io.EOF || len(names) == 0 {
			break
		}
		if rerr != nil {
			d.Close()
			return rerr
		}
		if _, err := d.Seek(0, io.SeekStart); err != nil {
			d.Close()
			return err
		}
	}
	d.Close()
	return unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
}

// SyncDir fsyncs the directory dir below the root, so a rename or
// removal in it is durable.
func (r Root) SyncDir(dir string) error {
	rel, err := r.rel("fsync", dir)
	if err != nil {
		return err
	}
	fd, err := r.openDir("fsync", rel)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return &fs.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}
