package inspector

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/internal/diskimage"
	"github.com/edgewright/edgewright/materials"
)

const (
	// Flags for every file opened below the root: never through a
	// symlink, never become a controlling terminal, never block on a FIFO
	// swapped in after the directory was read.
	openFileFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
	openDirFlags  = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	// maxContainerDepth bounds the walk of a container volume's tree (and
	// the file descriptors it holds open).
	maxContainerDepth = 128
	reasonSymlink     = "symlink, not followed"
)

// openDir opens rel (slash-separated, below the root) one component at a
// time with O_NOFOLLOW, so that no symlink anywhere on the way is
// followed. A missing directory is not a problem (ok false, no
// diagnostic); any other failure is an error diagnostic, since the whole
// scope is then missing from the Floorplan.
func (s *surveyor) openDir(rel string) (fd int, ok bool) {
	fd = s.rootfd
	done := ""
	for _, comp := range strings.Split(rel, "/") {
		if done == "" {
			done = comp
		} else {
			done += "/" + comp
		}
		next, err := unix.Openat(fd, comp, openDirFlags, 0)
		if err != nil {
			s.dirOpenFailed(fd, comp, done, err)
		}
		if fd != s.rootfd {
			unix.Close(fd)
		}
		if err != nil {
			return -1, false
		}
		fd = next
	}
	return fd, true
}

// dirOpenFailed turns a failed directory open into the right diagnostic.
// O_DIRECTORY|O_NOFOLLOW fails on a symlink with ENOTDIR or ELOOP, so the
// entry is looked at (not followed) to say which it was.
func (s *surveyor) dirOpenFailed(parent int, name, rel string, err error) {
	if errors.Is(err, unix.ENOENT) {
		return // nothing there yet: a fresh device
	}
	var st unix.Stat_t
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		if unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			s.diag(materials.SeverityError, rel, nil, "directory is a "+reasonSymlink+"; its contents are not surveyed")
			return
		}
	}
	if errors.Is(err, unix.ENOTDIR) {
		s.diag(materials.SeverityError, rel, err, "not a directory; not surveyed")
		return
	}
	s.diag(materials.SeverityError, rel, err, "cannot open directory; its contents are not surveyed")
}

// readDir lists an open directory (names and d_type only, no stat). A
// failure part way is an error diagnostic; what was read is returned.
func (s *surveyor) readDir(fd int, rel string) []dirent {
	ents, err := readDirents(fd, rel+"/")
	if err != nil {
		s.diag(materials.SeverityError, rel, err, "cannot list directory; the listing is incomplete")
	}
	return ents
}

type nameParser func(string) parsedName

// volumeEntry fills v from one directory entry.
func (s *surveyor) volumeEntry(dirfd int, e dirent, clear bool, parse nameParser, v *materials.VolumeFile, buf []byte) {
	name := e.name
	v.Path = e.path
	v.ClearText = clear
	if why := untrusted(name); why != "" {
		s.lstatInto(dirfd, name, v)
		v.State, v.Reason = materials.StateUnknown, why
		return
	}
	var broken string
	switch e.typ {
	case unix.DT_LNK:
		s.lstatInto(dirfd, name, v)
		v.State, v.Reason = materials.StateUnknown, reasonSymlink
		s.occupies(v, parse(name), "a symlink")
		return
	case unix.DT_DIR:
		v.Dir = true
		v.Format = materials.FormatContainer
		if why := s.containerVolume(dirfd, name, v); why != "" {
			s.unreadable(v, parse(name), why)
			return
		}
	case unix.DT_REG:
		var why string
		broken, why = s.fileVolume(dirfd, name, v, buf, parse)
		if why != "" {
			s.unreadable(v, parse(name), why)
			return
		}
	default:
		s.lstatInto(dirfd, name, v)
		v.State, v.Reason = materials.StateUnknown, "not a regular file or directory ("+dtName(e.typ)+")"
		s.occupies(v, parse(name), "a "+dtName(e.typ))
		return
	}
	s.classify(v, parse(name), broken)
}

// occupies marks an entry that is not a volume but sits at a new-layout
// volume's final path as that volume, broken: the plan then names it and,
// with clean-up, removes it before the create instead of taking it for
// the volume.
func (s *surveyor) occupies(v *materials.VolumeFile, p parsedName, what string) {
	if p.reason != "" || p.legacy != nil || p.temp {
		return
	}
	v.ID, v.Generation = p.id, p.gen
	v.State, v.Reason = materials.StateBroken, what+", not a volume"
}

// unreadable marks a volume whose content could not be read as unknown,
// keeping what its name says so that nothing else is planned in its place.
func (s *surveyor) unreadable(v *materials.VolumeFile, p parsedName, why string) {
	if why == reasonSymlink {
		v.Format = ""
	} else if p.reason == "" {
		v.ID, v.Generation, v.Legacy, v.Temp = p.id, p.gen, p.legacy, p.temp
	}
	v.State, v.Reason = materials.StateUnknown, why
}

// classify sets state and reason from what the name says and what the
// content says. broken is the header's corruption, if any.
func (s *surveyor) classify(v *materials.VolumeFile, p parsedName, broken string) {
	v.Temp = p.temp
	if p.reason != "" {
		v.State, v.Reason = materials.StateUnknown, p.reason
		return
	}
	v.ID, v.Generation, v.Legacy = p.id, p.gen, p.legacy
	claimed := knownExt[p.ext]
	switch {
	case v.Dir && claimed != materials.FormatContainer:
		broken = "a directory named ." + p.ext + "; only container volumes are directories"
	case !v.Dir && claimed == materials.FormatContainer:
		broken = "named .container but is a file; a container volume is a directory"
	case broken == "" && !v.Dir && !p.temp && claimed != v.Format && (v.Format != materials.FormatRaw || hasMagic(claimed)):
		// (A .tmp may not have its header yet.)
		s.diag(materials.SeverityWarning, v.Path, nil,
			fmt.Sprintf("extension says %s but the header says %s; the header is believed", claimed, v.Format))
	}
	switch {
	case p.temp && broken != "":
		v.State, v.Reason = materials.StatePartial, "work in progress (.tmp); "+broken
	case p.temp:
		v.State, v.Reason = materials.StatePartial, "work in progress (.tmp)"
	case broken != "":
		v.State, v.Reason = materials.StateBroken, broken
	default:
		v.State = materials.StateComplete
	}
}

// hasMagic says whether a format is recognisable from its first bytes, so
// that a raw-looking header contradicts the extension.
func hasMagic(f materials.Format) bool {
	switch f {
	case materials.FormatQcow, materials.FormatQcow2, materials.FormatVMDK, materials.FormatVHDX:
		return true
	}
	return false
}

// fileVolume stats a volume file and reads its header: one open, one
// fstat, one pread. It returns the header's corruption (broken) or why
// the file could not be read at all (unreadable).
func (s *surveyor) fileVolume(dirfd int, name string, v *materials.VolumeFile, buf []byte, parse nameParser) (broken, unreadable string) {
	fd, err := openFile(dirfd, name, buf)
	if err != nil {
		s.lstatInto(dirfd, name, v)
		if errors.Is(err, unix.ELOOP) {
			return "", reasonSymlink // replaced by a symlink since the listing
		}
		s.diag(materials.SeverityWarning, v.Path, err, "cannot open volume file")
		return "", "cannot read: " + errValue(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		s.diag(materials.SeverityWarning, v.Path, err, "cannot stat volume file")
		return "", "cannot stat: " + errValue(err)
	}
	fillStat(v, &st)
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return "", "not a regular file"
	}
	h, err := diskimage.Read(fdReader(fd), st.Size)
	if err != nil {
		s.diag(materials.SeverityWarning, v.Path, err, "cannot read volume header")
		return "", "cannot read header: " + errValue(err)
	}
	v.Format = surveyedFormat(h.Format)
	v.BackingFile = h.BackingFile
	v.VirtualSize = h.VirtualSize
	if v.Format != materials.FormatQcow2 && v.Format != materials.FormatQcow {
		v.VirtualSize = v.ApparentSize
	}
	switch {
	case h.Broken != "":
		return h.Broken, ""
	case v.Format == materials.FormatUnknown:
		v.Format = materials.FormatRaw
		return fmt.Sprintf("content is a %s image, not a volume edgewright makes", h.Format), ""
	case h.DataFile || len(h.Extents) > 0 || (h.BackingFile != "" && v.Format != materials.FormatQcow2):
		// A volume naming another file would have qemu open a host path:
		// only a qcow2 overlay's backing chain is followed, inside the
		// root's stores.
		return h.External() + ": not our own verified store", ""
	case h.BackingFile != "":
		if why := s.backingChain(v, parse(name).id, h, buf); why != "" {
			return why, ""
		}
		if h.SnapshotCount > 0 {
			return s.qcow2Snapshots(fdReader(fd), st.Size, v), ""
		}
	case v.Format == materials.FormatQcow2 && h.SnapshotCount > 0:
		return s.qcow2Snapshots(fdReader(fd), st.Size, v), ""
	}
	return "", ""
}

// fdReader reads a volume file by its descriptor, opened no-follow.
type fdReader int

func (f fdReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := unix.Pread(int(f), p, off)
	if err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// surveyedFormat is the materials name of a format found by content;
// FormatUnknown for one edgewright never makes or reads.
func surveyedFormat(f diskimage.Format) materials.Format {
	switch f {
	case diskimage.Raw:
		return materials.FormatRaw
	case diskimage.Qcow:
		return materials.FormatQcow
	case diskimage.Qcow2:
		return materials.FormatQcow2
	case diskimage.VMDK:
		return materials.FormatVMDK
	case diskimage.VHD:
		return materials.FormatVHD
	case diskimage.VHDX:
		return materials.FormatVHDX
	}
	return materials.FormatUnknown
}

// noatime is dropped after the first EPERM: O_NOATIME is allowed only to
// a file's owner or a process with CAP_FOWNER.
var noatime atomic.Bool

func init() { noatime.Store(true) }

// openFile opens a file below dirfd for reading its header, without
// following a symlink and, where allowed, without touching its atime (a
// survey should not write to the disk it surveys). scratch is the
// caller's buffer for the name's C string.
func openFile(dirfd int, name string, scratch []byte) (int, error) {
	if noatime.Load() {
		fd, err := openat(dirfd, name, openFileFlags|unix.O_NOATIME, scratch)
		if err != unix.EPERM {
			return fd, err
		}
		noatime.Store(false)
	}
	return openat(dirfd, name, openFileFlags, scratch)
}

// openat is unix.Openat without its allocation for each name's C string:
// the name is copied, NUL-terminated, into scratch (a name is at most
// NAME_MAX, 255 bytes). Ten thousand of those allocations were a tenth of
// a survey's heap.
func openat(dirfd int, name string, flags int, scratch []byte) (int, error) {
	if len(name) >= len(scratch) || strings.IndexByte(name, 0) >= 0 {
		return unix.Openat(dirfd, name, flags, 0)
	}
	scratch[copy(scratch, name)] = 0
	fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&scratch[0])), uintptr(flags), 0, 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// lstatInto fills sizes and time without following a symlink.
func (s *surveyor) lstatInto(dirfd int, name string, v *materials.VolumeFile) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if !errors.Is(err, unix.ENOENT) {
			s.diag(materials.SeverityWarning, v.Path, err, "cannot stat")
		}
		return
	}
	fillStat(v, &st)
}

func fillStat(v *materials.VolumeFile, st *unix.Stat_t) {
	v.ApparentSize = st.Size
	v.AllocatedSize = st.Blocks * 512
	v.ModTime = statMtime(st)
}

func statMtime(st *unix.Stat_t) time.Time {
	return time.Unix(st.Mtim.Sec, st.Mtim.Nsec).UTC()
}

// containerVolume measures a container volume directory like `du`
// (allocated: every inode below it once; apparent: the sum of sizes),
// never following a symlink. It returns why it could not be opened.
func (s *surveyor) containerVolume(dirfd int, name string, v *materials.VolumeFile) string {
	fd, err := unix.Openat(dirfd, name, openDirFlags, 0)
	if err != nil {
		s.lstatInto(dirfd, name, v)
		if errors.Is(err, unix.ELOOP) {
			return reasonSymlink
		}
		s.diag(materials.SeverityWarning, v.Path, err, "cannot open container volume")
		return "cannot read: " + errValue(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		s.diag(materials.SeverityWarning, v.Path, err, "cannot stat container volume")
		return "cannot stat: " + errValue(err)
	}
	v.ModTime = statMtime(&st)
	d := du{s: s, seen: map[[2]uint64]bool{}, dev: st.Dev}
	d.allocated = st.Blocks * 512
	d.apparent = st.Size
	d.walk(fd, v.Path, 0)
	v.ApparentSize, v.AllocatedSize, v.VirtualSize = d.apparent, d.allocated, d.apparent
	if d.short != "" {
		v.Reason = "sizes undercounted: " + d.short
	}
	return ""
}

type du struct {
	s                   *surveyor
	apparent, allocated int64
	seen                map[[2]uint64]bool // hard-linked inodes counted once
	dev                 uint64             // the volume's file system; mounts below are not crossed
	short               string             // first reason the count is short
}

func (d *du) fail(path string, err error, msg string) {
	d.s.diag(materials.SeverityWarning, path, err, msg)
	if d.short == "" {
		d.short = path + ": " + msg
	}
}

func (d *du) walk(fd int, rel string, depth int) {
	if depth >= maxContainerDepth {
		d.fail(rel, nil, fmt.Sprintf("deeper than %d levels, not measured further", maxContainerDepth))
		return
	}
	ents, err := readDirents(fd, "")
	if err != nil {
		d.fail(rel, err, "cannot list directory")
	}
	for _, e := range ents {
		name := e.name
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if !errors.Is(err, unix.ENOENT) {
				d.fail(rel+"/"+name, err, "cannot stat")
			}
			continue
		}
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			k := [2]uint64{st.Dev, st.Ino}
			if d.seen[k] {
				continue
			}
			d.seen[k] = true
		}
		d.allocated += st.Blocks * 512
		d.apparent += st.Size
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if st.Dev != d.dev {
			// Like du -x: a mount inside a volume (a bind mount of / by
			// mistake) is not the volume's.
			d.s.diag(materials.SeverityWarning, rel+"/"+name, nil, "a mount point inside a container volume, not crossed")
			continue
		}
		sub, err := unix.Openat(fd, name, openDirFlags, 0)
		if err != nil {
			d.fail(rel+"/"+name, err, "cannot open directory")
			continue
		}
		d.walk(sub, rel+"/"+name, depth+1)
		unix.Close(sub)
	}
}
