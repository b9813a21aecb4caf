package unpack

import (
	"errors"
	"path"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// forceFallback makes resolution use the user-space resolver even where
// openat2 works; the tests run every case both ways.
var forceFallback bool

var (
	openat2Once sync.Once
	openat2OK   bool
)

// haveOpenat2 reports whether the kernel (and any seccomp filter) lets
// openat2 with RESOLVE_BENEATH through.
func haveOpenat2(rootfd int) bool {
	openat2Once.Do(func() {
		fd, err := unix.Openat2(rootfd, ".", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH})
		if err == nil {
			unix.Close(fd)
			openat2OK = true
		}
	})
	return openat2OK && !forceFallback
}

// errEscape is returned by the resolvers when a path would leave the root.
var errEscape = errors.New("resolves outside the root")

// openDirBeneath opens the directory rel (clean, relative, not "..") under
// rootfd, following symlinks only while they stay beneath the root. The
// caller closes the fd.
func openDirBeneath(rootfd int, rel string) (int, error) {
	if rel == "." || rel == "" {
		return unix.Dup(rootfd)
	}
	if haveOpenat2(rootfd) {
		how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}
		for i := 0; ; i++ {
			fd, err := unix.Openat2(rootfd, rel, how)
			if err == unix.EAGAIN && i < 16 {
				continue // a concurrent rename; the kernel asks to retry
			}
			if err == unix.EXDEV {
				return -1, errEscape
			}
			return fd, err
		}
	}
	return walkBeneath(rootfd, rel)
}

// walkBeneath is the resolver for kernels without openat2: one component
// at a time with O_NOFOLLOW, reading symlinks itself. `..` pops the stack
// of directories actually walked, so it can never climb above the root;
// an absolute symlink is refused as RESOLVE_BENEATH refuses it.
func walkBeneath(rootfd int, rel string) (int, error) {
	root, err := unix.Dup(rootfd)
	if err != nil {
		return -1, err
	}
	stack := []int{root}
	defer func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
	}()
	parts := strings.Split(rel, "/")
	links := 0
	buf := make([]byte, unix.PathMax)
	for len(parts) > 0 {
		c := parts[0]
		parts = parts[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 1 {
				return -1, errEscape
			}
			unix.Close(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			continue
		}
		top := stack[len(stack)-1]
		fd, err := unix.Openat(top, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			stack = append(stack, fd)
			continue
		}
		if err != unix.ELOOP && err != unix.ENOTDIR {
			return -1, err
		}
		n, lerr := unix.Readlinkat(top, c, buf)
		if lerr != nil {
			return -1, err // not a symlink: the ENOTDIR stands
		}
		if links++; links > 40 {
			return -1, unix.ELOOP
		}
		target := string(buf[:n])
		if path.IsAbs(target) {
			return -1, errEscape
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	fd := stack[len(stack)-1]
	stack = stack[:len(stack)-1]
	return fd, nil
}
