package unpack

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Whiteout markers (OCI image spec, layer changesets).
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// EscapeError refuses a layer entry that would reach outside the root.
type EscapeError struct {
	Entry string // the entry's name as in the tar
	Link  string // its link target, for symlinks and hardlinks
	Why   string
}

func (e *EscapeError) Error() string {
	if e.Link != "" {
		return fmt.Sprintf("layer entry %q (link to %q) refused: %s", e.Entry, e.Link, e.Why)
	}
	return fmt.Sprintf("layer entry %q refused: %s", e.Entry, e.Why)
}

// LimitError stops an unpack whose layers would put more on disk, or
// hold more entries, than its bound allows.
type LimitError struct {
	Volume string // Options.Name, or the root
	Layer  int    // index of the layer that crossed the bound
	Digest string // that layer's digest, from Options.LayerDigests; "" when not given
	Entry  string // the tar entry that crossed it
	What   string // "bytes" or "entries"
	Bound  int64
}

func (e *LimitError) Error() string {
	layer := fmt.Sprintf("layer %d", e.Layer)
	if e.Digest != "" {
		layer = fmt.Sprintf("layer %d (%s)", e.Layer, e.Digest)
	}
	return fmt.Sprintf("container volume %s: %s: entry %q: unpacked %s above the bound of %d", e.Volume, layer, e.Entry, e.What, e.Bound)
}

// Default bounds when Options leave them zero.
const (
	DefaultMaxBytes   int64 = 16 << 30
	DefaultMaxEntries int64 = 1 << 20
	// entryOverhead is charged per entry on top of its data: a tar
	// header's block, about what an inode and a name cost on disk.
	entryOverhead = 512
)

// Options tune an unpack.
type Options struct {
	// NoChown skips ownership even when running as root.
	NoChown bool
	Logger  *zap.Logger
	// MaxBytes bounds what all layers together put on disk: each entry's
	// declared size (a sparse file's holes count: they are written out)
	// plus entryOverhead. Deletions by later layers are not credited
	// back. Zero means DefaultMaxBytes.
	MaxBytes int64
	// MaxEntries bounds the entries of all layers together; zero means
	// DefaultMaxEntries.
	MaxEntries int64
	// Name is the volume as a *LimitError names it.
	Name string
	// LayerDigests names the layers, in Unpack's order, by digest: errors
	// name the layer by it as well as by its position. Optional.
	LayerDigests []string
	// KeepPrivileges keeps what a layer could grant on the host: setuid
	// and setgid bits on files, char and block devices, security.*
	// xattrs (file capabilities). Off: bits cleared, devices skipped
	// with a warning, xattrs dropped. FIFOs are kept (they grant nothing).
	KeepPrivileges bool

	used *usage
}

// usage is what the layers of one unpack have charged so far.
type usage struct {
	bytes, entries int64
	layer          int
	// skipped are the cleaned paths of entries not made (devices without
	// KeepPrivileges, unsupported types, links to those): a hardlink to
	// one is skipped too, in any later layer.
	skipped map[string]bool
}

// layerName is layer i for errors: its position, and its digest if known.
func (o *Options) layerName(i int) string {
	if i < len(o.LayerDigests) && o.LayerDigests[i] != "" {
		return fmt.Sprintf("layer %d (%s)", i, o.LayerDigests[i])
	}
	return fmt.Sprintf("layer %d", i)
}

func (o *Options) layerDigest(i int) string {
	if i < len(o.LayerDigests) {
		return o.LayerDigests[i]
	}
	return ""
}

// Stats counts what a layer held.
type Stats struct {
	Entries, Files, Dirs, Symlinks, Hardlinks, Whiteouts int
	Bytes                                                int64
}

func (s *Stats) add(o Stats) {
	s.Entries += o.Entries
	s.Files += o.Files
	s.Dirs += o.Dirs
	s.Symlinks += o.Symlinks
	s.Hardlinks += o.Hardlinks
	s.Whiteouts += o.Whiteouts
	s.Bytes += o.Bytes
}

// Layer opens one layer's bytes, compressed or not.
type Layer func() (io.ReadCloser, error)

// Unpack applies layers in order to root, an existing directory.
func Unpack(ctx context.Context, root string, layers []Layer, opts Options) (Stats, error) {
	var total Stats
	if opts.used == nil {
		opts.used = &usage{}
	}
	for i, open := range layers {
		opts.used.layer = i
		rc, err := open()
		if err != nil {
			return total, fmt.Errorf("%s: open: %w", opts.layerName(i), err)
		}
		st, err := Apply(ctx, root, rc, opts)
		rc.Close()
		total.add(st)
		var lim *LimitError
		if errors.As(err, &lim) {
			return total, err
		}
		if err != nil {
			return total, fmt.Errorf("%s: %w", opts.layerName(i), err)
		}
	}
	return total, nil
}

// Decompress detects gzip, zstd or a plain tar by the stream's magic
// bytes and returns the tar stream.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(6)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("read layer header: %w", err)
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip layer: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("zstd layer: %w", err)
		}
		return zr.IOReadCloser(), nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, errors.New("xz-compressed layers are not supported")
	case bytes.HasPrefix(magic, []byte("BZh")):
		return nil, errors.New("bzip2-compressed layers are not supported")
	}
	return io.NopCloser(br), nil
}

// applier holds one layer's state.
type applier struct {
	ctx     context.Context
	rootfd  int
	chown   bool
	log     *zap.Logger
	written map[string]bool // cleaned paths this layer wrote (opaque dirs keep them)
	dirs    []dirTimes
	st      Stats
	copyBuf []byte
	opts    Options
}

// charge counts one entry and its bytes against the unpack's bounds
// before anything of it is written.
func (a *applier) charge(hdr *tar.Header) error {
	u := a.opts.used
	u.entries++
	if u.entries > a.opts.MaxEntries {
		return &LimitError{Volume: a.opts.Name, Layer: u.layer, Digest: a.opts.layerDigest(u.layer), Entry: hdr.Name, What: "entries", Bound: a.opts.MaxEntries}
	}
	size := max(hdr.Size, 0)
	if size > a.opts.MaxBytes || u.bytes+size+entryOverhead > a.opts.MaxBytes {
		return &LimitError{Volume: a.opts.Name, Layer: u.layer, Digest: a.opts.layerDigest(u.layer), Entry: hdr.Name, What: "bytes", Bound: a.opts.MaxBytes}
	}
	u.bytes += size + entryOverhead
	return nil
}

func (a *applier) buf() []byte {
	if a.copyBuf == nil {
		a.copyBuf = make([]byte, copyChunk)
	}
	return a.copyBuf
}

// copyChunk is the copy buffer; writebackEvery is how often a large file's
// freshly written range is handed to the disk (sync_file_range WRITE,
// which does not wait), so the syncfs before the rename finds little
// left to flush instead of the whole volume.
const (
	copyChunk      = 1 << 20
	writebackEvery = 8 << 20
)

func copyWithWriteback(f *os.File, r io.Reader, buf []byte) (int64, error) {
	var n, flushed int64
	fd := int(f.Fd())
	for {
		m, rerr := r.Read(buf)
		if m > 0 {
			w, werr := f.Write(buf[:m])
			n += int64(w)
			if werr != nil {
				return n, werr
			}
			if n-flushed >= writebackEvery {
				// Best effort: a filesystem without it still gets syncfs.
				_ = unix.SyncFileRange(fd, flushed, n-flushed, unix.SYNC_FILE_RANGE_WRITE)
				flushed = n
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

type dirTimes struct {
	rel          string
	atime, mtime time.Time
}

// Apply applies one layer (compressed or not) to root.
func Apply(ctx context.Context, root string, layer io.Reader, opts Options) (Stats, error) {
	rootfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Stats{}, fmt.Errorf("open root %s: %w", root, err)
	}
	defer unix.Close(rootfd)
	tr, err := Decompress(layer)
	if err != nil {
		return Stats{}, err
	}
	defer tr.Close()
	if opts.used == nil {
		opts.used = &usage{}
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Name == "" {
		opts.Name = root
	}
	a := &applier{ctx: ctx, rootfd: rootfd, chown: os.Geteuid() == 0 && !opts.NoChown, log: opts.Logger, written: map[string]bool{}, opts: opts}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	r := tar.NewReader(tr)
	for {
		if err := ctx.Err(); err != nil {
			return a.st, err
		}
		hdr, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return a.st, fmt.Errorf("read tar: %w", err)
		}
		a.st.Entries++
		if err := a.charge(hdr); err != nil {
			return a.st, err
		}
		if err := a.entry(hdr, r); err != nil {
			return a.st, err
		}
	}
	// Directory times last: writing into a directory moves its mtime.
	for i := len(a.dirs) - 1; i >= 0; i-- {
		d := a.dirs[i]
		if err := a.setTimes(d.rel, d.atime, d.mtime); err != nil {
			return a.st, fmt.Errorf("layer entry %q: times: %w", d.rel, err)
		}
	}
	return a.st, nil
}

// clean validates an entry name and returns its clean relative path.
func clean(name string) (string, string) {
	if path.IsAbs(name) {
		return "", "absolute path"
	}
	p := path.Clean(name)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", "path climbs out of the root"
	}
	return p, ""
}

func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	rel, why := clean(hdr.Name)
	if why != "" {
		return &EscapeError{Entry: hdr.Name, Why: why}
	}
	if rel == "." {
		return nil // the root is the caller's directory
	}
	dir, base := path.Split(rel)
	dir = path.Clean(dir)

	// Whiteouts delete lower layers' entries and are not themselves kept.
	if base == whiteoutOpaque {
		a.st.Whiteouts++
		return a.opaque(hdr.Name, dir)
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		a.st.Whiteouts++
		victim := strings.TrimPrefix(base, whiteoutPrefix)
		if victim == "" || victim == "." || victim == ".." {
			return fmt.Errorf("layer entry %q: malformed whiteout", hdr.Name)
		}
		delete(a.opts.used.skipped, path.Join(dir, victim))
		return a.withParent(hdr.Name, "", dir, func(pfd int) error {
			return removeAllAt(pfd, victim)
		}, false)
	}

	switch hdr.Typeflag {
	case tar.TypeSymlink:
		if !path.IsAbs(hdr.Linkname) {
			if t := path.Join(dir, hdr.Linkname); t == ".." || strings.HasPrefix(t, "../") {
				return &EscapeError{Entry: hdr.Name, Link: hdr.Linkname, Why: "symlink target climbs out of the root"}
			}
		}
	case tar.TypeLink:
		if path.IsAbs(hdr.Linkname) {
			return &EscapeError{Entry: hdr.Name, Link: hdr.Linkname, Why: "hardlink target is an absolute path"}
		}
		if t, why := clean(hdr.Linkname); why != "" || t == "." {
			return &EscapeError{Entry: hdr.Name, Link: hdr.Linkname, Why: "hardlink target climbs out of the root"}
		}
	}

	err := a.withParent(hdr.Name, hdr.Linkname, dir, func(pfd int) error {
		return a.create(pfd, rel, base, hdr, r)
	}, true)
	if errors.Is(err, errSkipped) {
		if a.opts.used.skipped == nil {
			a.opts.used.skipped = map[string]bool{}
		}
		a.opts.used.skipped[rel] = true
		return nil
	}
	if err != nil {
		return err
	}
	delete(a.opts.used.skipped, rel)
	a.written[rel] = true
	return nil
}

// errSkipped: create made nothing for the entry, on purpose.
var errSkipped = errors.New("entry skipped")

// withParent resolves dir beneath the root (creating it when mkdir) and
// runs fn with its fd.
func (a *applier) withParent(entry, link, dir string, fn func(pfd int) error, mkdir bool) error {
	pfd, err := a.parent(dir, mkdir)
	if errors.Is(err, errEscape) {
		return &EscapeError{Entry: entry, Link: link, Why: "parent directory " + dir + " resolves outside the root"}
	}
	if !mkdir && errors.Is(err, unix.ENOENT) {
		return nil // a whiteout in a directory that is not there
	}
	if err != nil {
		return fmt.Errorf("layer entry %q: parent %s: %w", entry, dir, err)
	}
	defer unix.Close(pfd)
	if err := fn(pfd); err != nil {
		var esc *EscapeError
		if errors.As(err, &esc) {
			return err
		}
		return fmt.Errorf("layer entry %q: %w", entry, err)
	}
	return nil
}

// parent opens dir beneath the root, creating missing directories (0755,
// as tar implementations do for implied parents) when mkdir.
func (a *applier) parent(dir string, mkdir bool) (int, error) {
	fd, err := openDirBeneath(a.rootfd, dir)
	if err == nil || !mkdir || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	gp, base := path.Split(dir)
	gfd, err := a.parent(path.Clean(gp), true)
	if err != nil {
		return -1, err
	}
	defer unix.Close(gfd)
	if err := unix.Mkdirat(gfd, base, 0o755); err != nil && err != unix.EEXIST {
		return -1, err
	}
	return openDirBeneath(a.rootfd, dir)
}

// create makes one entry named base in pfd, replacing what was there
// unless both are directories.
func (a *applier) create(pfd int, rel, base string, hdr *tar.Header, r io.Reader) error {
	mode := uint32(hdr.Mode) & 0o7777
	var st unix.Stat_t
	exists := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	if exists && !(hdr.Typeflag == tar.TypeDir && st.Mode&unix.S_IFMT == unix.S_IFDIR) {
		if err := removeAllAt(pfd, base); err != nil {
			return fmt.Errorf("replace: %w", err)
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		a.st.Dirs++
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && err != unix.EEXIST {
			return err
		}
		fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := a.owner(fd, hdr); err != nil {
			return err
		}
		if err := a.xattrs(fd, hdr); err != nil {
			return err
		}
		if err := unix.Fchmod(fd, mode); err != nil {
			return err
		}
		a.dirs = append(a.dirs, dirTimes{rel: rel, atime: accessTime(hdr), mtime: hdr.ModTime})
		return nil
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old tars still use TypeRegA
		a.st.Files++
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		if !a.opts.KeepPrivileges && mode&0o6000 != 0 {
			a.log.Warn("setuid/setgid bits cleared", zap.String("entry", hdr.Name))
			mode &^= 0o6000
		}
		f := os.NewFile(uintptr(fd), rel)
		n, err := copyWithWriteback(f, r, a.buf())
		a.st.Bytes += n
		if err == nil {
			err = a.owner(fd, hdr)
		}
		if err == nil {
			err = a.xattrs(fd, hdr)
		}
		if err == nil {
			err = f.Chmod(os.FileMode(mode&0o777) | modeBits(mode))
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		a.st.Symlinks++
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
		if a.chown {
			if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("lchown: %w", err)
			}
		}
	case tar.TypeLink:
		target := path.Clean(hdr.Linkname)
		if a.opts.used.skipped[target] {
			// Its target was not made (a device, say): the link cannot be.
			a.log.Warn("hardlink to a skipped entry skipped", zap.String("entry", hdr.Name), zap.String("target", hdr.Linkname))
			return errSkipped
		}
		a.st.Hardlinks++
		tdir, tbase := path.Split(target)
		tfd, err := openDirBeneath(a.rootfd, path.Clean(tdir))
		if errors.Is(err, errEscape) {
			return &EscapeError{Entry: hdr.Name, Link: hdr.Linkname, Why: "hardlink target's directory resolves outside the root"}
		}
		if err != nil {
			return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
		}
		defer unix.Close(tfd)
		// No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink.
		if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
			return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, err)
		}
		return nil // a hardlink shares its target's metadata
	case tar.TypeFifo, tar.TypeChar, tar.TypeBlock:
		typ := map[byte]uint32{tar.TypeFifo: unix.S_IFIFO, tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK}[hdr.Typeflag]
		if typ != unix.S_IFIFO && !a.opts.KeepPrivileges {
			a.log.Warn("device node skipped", zap.String("entry", hdr.Name))
			return errSkipped
		}
		if typ != unix.S_IFIFO && os.Geteuid() != 0 {
			a.log.Debug("device node skipped: not root", zap.String("entry", hdr.Name))
			return errSkipped
		}
		if err := unix.Mknodat(pfd, base, typ|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return err
		}
		if a.chown {
			if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return err
		}
	case tar.TypeXGlobalHeader:
		return nil
	default:
		a.log.Debug("layer entry of unsupported type skipped", zap.String("entry", hdr.Name), zap.Int("type", int(hdr.Typeflag)))
		return errSkipped
	}
	return unix.UtimesNanoAt(pfd, base, timespecs(accessTime(hdr), hdr.ModTime), unix.AT_SYMLINK_NOFOLLOW)
}

// modeBits maps setuid, setgid and sticky to os.FileMode.
func modeBits(m uint32) os.FileMode {
	var f os.FileMode
	if m&0o4000 != 0 {
		f |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		f |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		f |= os.ModeSticky
	}
	return f
}

// owner chowns an open fd when running as root (before chmod: chown
// clears setuid bits).
func (a *applier) owner(fd int, hdr *tar.Header) error {
	if !a.chown {
		return nil
	}
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
	}
	return nil
}

// xattrs sets the entry's extended attributes (PAX SCHILY.xattr.*, e.g.
// security.capability on ping). A filesystem without xattrs, or a
// namespace we may not write as non-root, is logged, not fatal, as
// containerd does.
func (a *applier) xattrs(fd int, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || (!a.opts.KeepPrivileges && strings.HasPrefix(name, "security.")) {
			continue
		}
		err := unix.Fsetxattr(fd, name, []byte(v), 0)
		switch {
		case err == nil:
		case err == unix.ENOTSUP || (err == unix.EPERM && os.Geteuid() != 0):
			a.log.Debug("xattr not set", zap.String("entry", hdr.Name), zap.String("xattr", name), zap.Error(err))
		default:
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	return nil
}

func accessTime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}

func timespecs(atime, mtime time.Time) []unix.Timespec {
	return []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
}

func (a *applier) setTimes(rel string, atime, mtime time.Time) error {
	dir, base := path.Split(rel)
	pfd, err := openDirBeneath(a.rootfd, path.Clean(dir))
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	err = unix.UtimesNanoAt(pfd, base, timespecs(atime, mtime), unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil // whited out later in the same layer
	}
	return err
}

// opaque empties dir of everything lower layers put there, keeping what
// this layer already wrote.
func (a *applier) opaque(entry, dir string) error {
	return a.withParent(entry, "", dir, func(dfd int) error {
		names, err := readDirNames(dfd)
		if err != nil {
			return err
		}
		for _, n := range names {
			if a.written[path.Join(dir, n)] {
				continue
			}
			if err := removeAllAt(dfd, n); err != nil {
				return err
			}
		}
		return nil
	}, true)
}

func readDirNames(dfd int) ([]string, error) {
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), ".")
	defer f.Close()
	return f.Readdirnames(-1)
}

// removeAllAt removes name in dfd and, for a directory, all it holds,
// never following a symlink.
func removeAllAt(dfd int, name string) error {
	err := unix.Unlinkat(dfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	cfd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	names, err := readDirNames(cfd)
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(cfd, n); err != nil {
				break
			}
		}
	}
	unix.Close(cfd)
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}
