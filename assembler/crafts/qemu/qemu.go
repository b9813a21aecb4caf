package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/internal/diskimage"
	"github.com/edgewright/edgewright/internal/durable"
	"github.com/edgewright/edgewright/internal/rootfs"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// ErrImageRefused is wrapped when content or a volume names another file
// (a backing file, an external data file, vmdk extents), is not the format
// it is declared as, or is larger than the volume may be.
var ErrImageRefused = diskimage.ErrRefused

// checkImage reads path's header with our own code before qemu-img ever
// sees it.
func checkImage(path string, declared materials.Format) (diskimage.Header, error) {
	d := diskimage.Format(declared)
	if declared == materials.FormatISO {
		d = diskimage.Raw
	} else if qf, err := qemuFormat(declared); err == nil {
		d = diskimage.Format(qf)
	}
	return headerOf(path, func(r io.ReaderAt, size int64) (diskimage.Header, error) { return diskimage.Check(r, size, d) })
}

// headerOf opens path and reads its header with read.
func headerOf(path string, read func(r io.ReaderAt, size int64) (diskimage.Header, error)) (diskimage.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return diskimage.Header{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return diskimage.Header{}, err
	}
	h, err := read(f, st.Size())
	if err != nil {
		return h, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// untrusted is a qemu filename that opens path as fmt with no backing
// chain and no external data file, whatever its header says.
func untrusted(path, format string) string {
	spec := map[string]any{"driver": format, "file": map[string]any{"driver": "file", "filename": path}}
	switch format {
	case "qcow2":
		spec["data-file"] = nil
		spec["backing"] = nil
	case "qcow", "vmdk":
		spec["backing"] = nil
	}
	b, _ := json.Marshal(spec)
	return "json:" + string(b)
}

// Volumes builds raw and qcow2 volumes with qemu-img and sparse copies.
//
// Downloaded content is untrusted: before any qemu-img call its header is
// read by internal/diskimage and refused (ErrImageRefused, naming the field)
// when it names a backing file, an external data file or vmdk extents or
// parent, is not the format declared, or has a virtual size above the
// volume's maxsizebytes. Raw-declared content that is really an image is
// refused only when that image names another file; otherwise it is opened
// with raw and copied as the bytes it is. qemu-img then opens every image
// as a json: filename with its driver named and, for qcow2, backing and
// data-file null, so not even a header we misread reaches a host file. An
// existing volume is checked the same way before a resize.
type Volumes struct {
	// QemuImg is the qemu-img binary; "qemu-img" from PATH when empty.
	QemuImg string
	Logger  *zap.Logger
	// ContainerdContentDir, when set, is containerd's content directory:
	// an overlay may then name a blob of it by its absolute path
	// (layout.ContainerdBackingName) as well as a blob of the blob
	// directory.
	ContainerdContentDir string
}

func (q *Volumes) bin() string {
	if q.QemuImg != "" {
		return q.QemuImg
	}
	return "qemu-img"
}

func (q *Volumes) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, q.bin(), args...)
	cmd.SysProcAttr = childAttr()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("qemu-img %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// qemuFormat is qemu-img's name for a content format.
func qemuFormat(f materials.Format) (string, error) {
	switch f {
	case materials.FormatRaw, materials.FormatISO:
		return "raw", nil
	case materials.FormatQcow:
		return "qcow", nil
	case materials.FormatQcow2:
		return "qcow2", nil
	case materials.FormatVHD:
		return "vpc", nil
	case materials.FormatVMDK:
		return "vmdk", nil
	case materials.FormatVHDX:
		return "vhdx", nil
	}
	return "", fmt.Errorf("format %q: qemu-img cannot read it", f)
}

// ImageInfo is the part of `qemu-img info --output=json` we use.
type ImageInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
	ActualSize  int64  `json:"actual-size"`
	BackingFile string `json:"backing-filename"`
}

// Info runs qemu-img info on path as format (never probed), after our own
// header check.
func (q *Volumes) Info(ctx context.Context, path string, format materials.Format) (*ImageInfo, error) {
	if _, err := checkImage(path, format); err != nil {
		return nil, err
	}
	f, err := qemuFormat(format)
	if err != nil {
		return nil, err
	}
	out, err := q.run(ctx, "info", "--output=json", untrusted(path, f))
	if err != nil {
		return nil, err
	}
	var info ImageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return nil, fmt.Errorf("qemu-img info %s: %w", path, err)
	}
	return &info, nil
}

// finish fsyncs tmp, renames it to final and fsyncs the directory.
func finish(tmp, final string) error {
	f, err := os.OpenFile(tmp, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	// Volumes hold guests' disks: readable by root only, whatever made them.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	f.Close()
	return durable.Rename(tmp, final)
}

func startTmp(final string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", err
	}
	if st, err := os.Lstat(filepath.Dir(final)); err != nil || !st.IsDir() {
		return "", fmt.Errorf("volume directory %s: %w", filepath.Dir(final), rootfs.ErrSymlink)
	}
	tmp := final + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	return tmp, nil
}

// CreateBlank makes a sparse raw file or an empty qcow2 of size bytes.
func (q *Volumes) CreateBlank(ctx context.Context, final string, format materials.Format, size int64) error {
	if size <= 0 {
		return fmt.Errorf("create blank volume %s: maxsizebytes %d: a blank volume needs a size > 0", final, size)
	}
	tmp, err := startTmp(final)
	if err != nil {
		return fmt.Errorf("create blank volume %s: %w", final, err)
	}
	switch format {
	case materials.FormatRaw:
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("create blank volume %s: %w", final, err)
		}
		err = f.Truncate(size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(tmp)
			return fmt.Errorf("create blank volume %s: %w", final, err)
		}
	case materials.FormatQcow2:
		if _, err := q.run(ctx, "create", "-q", "-f", "qcow2", tmp, strconv.FormatInt(size, 10)); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("create blank volume %s: %w", final, err)
		}
	default:
		return fmt.Errorf("create blank volume %s: format %q: want raw or qcow2", final, format)
	}
	if err := finish(tmp, final); err != nil {
		return fmt.Errorf("create blank volume %s: %w", final, err)
	}
	return nil
}

// CreateFrom makes a volume from a content file: a sparse copy for raw to
// raw, qemu-img convert otherwise (which also flattens any backing file),
// then grows it to size when size is larger.
func (q *Volumes) CreateFrom(ctx context.Context, final string, format materials.Format, src string, srcFormat materials.Format, size int64, progress func(done, known int64)) error {
	if progress == nil {
		progress = func(int64, int64) {}
	}
	tmp, err := startTmp(final)
	if err != nil {
		return fmt.Errorf("create volume %s: %w", final, err)
	}
	fail := func(err error) error {
		os.Remove(tmp)
		return fmt.Errorf("create volume %s from %s: %w", final, src, err)
	}
	if format != materials.FormatRaw && format != materials.FormatQcow2 {
		return fail(fmt.Errorf("format %q: want raw or qcow2", format))
	}
	h, err := checkImage(src, srcFormat)
	if err != nil {
		return fail(err)
	}
	if vs := h.VirtualSize; size > 0 && vs > size {
		return fail(fmt.Errorf("content virtual size %d exceeds the volume's maxsizebytes %d: %w", vs, size, ErrImageRefused))
	}
	if (srcFormat == materials.FormatRaw || srcFormat == materials.FormatISO) && format == materials.FormatRaw {
		if err := sparseCopy(ctx, tmp, src, progress); err != nil {
			return fail(err)
		}
	} else {
		sf, err := qemuFormat(srcFormat)
		if err != nil {
			return fail(err)
		}
		info, err := q.Info(ctx, src, srcFormat)
		if err != nil {
			return fail(err)
		}
		if err := q.convert(ctx, src, sf, tmp, string(format), info.VirtualSize, progress); err != nil {
			return fail(err)
		}
	}
	if err := q.grow(ctx, tmp, format, size); err != nil {
		return fail(err)
	}
	if err := finish(tmp, final); err != nil {
		return fail(err)
	}
	return nil
}

// convert runs qemu-img convert -p and turns its percentages into bytes.
func (q *Volumes) convert(ctx context.Context, src, srcFmt, dst, dstFmt string, known int64, progress func(done, known int64)) error {
	return q.runProgress(ctx, "", known, progress, "convert", "-p", "-O", dstFmt, untrusted(src, srcFmt), dst)
}

func splitCR(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// sparseCopy copies src to dst, skipping all-zero blocks so holes stay
// holes.
func sparseCopy(ctx context.Context, dst, src string, progress func(done, known int64)) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	known := st.Size()
	progress(0, known)
	buf := make([]byte, 1<<20)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			// Zero runs are skipped at file-system block granularity.
			for i := 0; i < n; i += sparseBlock {
				blk := buf[i:min(i+sparseBlock, n)]
				if allZero(blk) {
					continue
				}
				if _, err := out.WriteAt(blk, off+int64(i)); err != nil {
					return err
				}
			}
			off += int64(n)
			progress(off, known)
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	return out.Truncate(off)
}

const sparseBlock = 4096

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// grow enlarges the image at path to size, never shrinking it.
func (q *Volumes) grow(ctx context.Context, path string, format materials.Format, size int64) error {
	if size <= 0 {
		return nil
	}
	vs, err := q.virtualSize(ctx, path, format)
	if err != nil {
		return err
	}
	if size <= vs {
		if size < vs {
			q.log().Info("not shrinking volume", zap.String("path", path), zap.Int64("virtualSize", vs), zap.Int64("maxSizeBytes", size))
		}
		return nil
	}
	if format == materials.FormatRaw {
		return os.Truncate(path, size)
	}
	_, err = q.run(ctx, "resize", "-q", untrusted(path, "qcow2"), strconv.FormatInt(size, 10))
	return err
}

func (q *Volumes) log() *zap.Logger {
	if q.Logger == nil {
		return zap.NewNop()
	}
	return q.Logger
}

// virtualSize is a volume's virtual size: qemu-img info's, after our own
// header check; for a space overlay (a qcow2 naming only a backing file,
// which the survey found inside the root's stores) its own header's, as
// qemu-img info would open the backing.
func (q *Volumes) virtualSize(ctx context.Context, path string, format materials.Format) (int64, error) {
	if format == materials.FormatQcow2 {
		if h, ok, err := q.overlayHeader(path); err != nil {
			return 0, err
		} else if ok {
			return h.VirtualSize, nil
		}
	}
	info, err := q.Info(ctx, path, format)
	if err != nil {
		return 0, err
	}
	return info.VirtualSize, nil
}

// overlayHeader reads path's header; ok is true when it is a sound qcow2
// whose only reference to another file is a backing file spelled as a
// space overlay spells its blob (layout.BackingName); any other backing
// name is refused as before. With ContainerdContentDir set, a blob of
// containerd's content directory spelled by layout.ContainerdBackingName
// is a space overlay's backing too.
func (q *Volumes) overlayHeader(path string) (diskimage.Header, bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return diskimage.Header{}, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return diskimage.Header{}, false, err
	}
	h, err := diskimage.Read(f, st.Size())
	if err != nil {
		return h, false, err
	}
	_, ours := layout.ParseBackingName(h.BackingFile)
	if !ours {
		_, ours = layout.ParseContainerdBackingName(q.ContainerdContentDir, h.BackingFile)
	}
	ok := h.Format == diskimage.Qcow2 && h.Broken == "" && ours && !h.DataFile && len(h.Extents) == 0
	return h, ok, nil
}

// CreateOverlay makes a space volume: a qcow2 overlay at final whose
// backing file is the content blob at backing, spelled backingName in the
// header (qemu resolves a relative name against the overlay's directory,
// which final+".tmp" shares). The blob's header is checked first like any
// content (refused when it names another file or is not backingFormat);
// qemu-img create -u then writes the overlay without opening the blob,
// with the backing format recorded so that qemu never probes it.
func (q *Volumes) CreateOverlay(ctx context.Context, final, backing, backingName string, backingFormat materials.Format, size int64) error {
	fail := func(err error) error {
		return fmt.Errorf("create overlay volume %s on %s: %w", final, backing, err)
	}
	if backingFormat != materials.FormatRaw && backingFormat != materials.FormatQcow2 {
		return fail(fmt.Errorf("backing format %q: want raw or qcow2: %w", backingFormat, ErrImageRefused))
	}
	if backingName == "" || strings.ContainsAny(backingName, "\x00") {
		return fail(fmt.Errorf("backing name %q: not a file name", backingName))
	}
	h, err := checkImage(backing, backingFormat)
	if err != nil {
		return fail(err)
	}
	if size > 0 && h.VirtualSize > size {
		return fail(fmt.Errorf("content virtual size %d exceeds the volume's maxsizebytes %d: %w", h.VirtualSize, size, ErrImageRefused))
	}
	tmp, err := startTmp(final)
	if err != nil {
		return fail(err)
	}
	bf, _ := qemuFormat(backingFormat)
	virtual := max(h.VirtualSize, size)
	if _, err := q.run(ctx, "create", "-q", "-f", "qcow2", "-u", "-F", bf, "-b", backingName, tmp, strconv.FormatInt(virtual, 10)); err != nil {
		os.Remove(tmp)
		return fail(err)
	}
	if oh, ok, err := q.overlayHeader(tmp); err != nil || !ok || oh.BackingFile != backingName {
		os.Remove(tmp)
		return fail(fmt.Errorf("the overlay qemu-img made does not name %q as its backing (%+v, %v)", backingName, oh, err))
	}
	if err := finish(tmp, final); err != nil {
		os.Remove(tmp)
		return fail(err)
	}
	return nil
}

// Resize grows a volume in place up to size; it never shrinks.
func (q *Volumes) Resize(ctx context.Context, path string, format materials.Format, size int64) error {
	if format != materials.FormatRaw && format != materials.FormatQcow2 {
		return fmt.Errorf("resize volume %s: format %q: want raw or qcow2", path, format)
	}
	if err := q.grow(ctx, path, format, size); err != nil {
		return fmt.Errorf("resize volume %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("resize volume %s: %w", path, err)
	}
	defer f.Close()
	return f.Sync()
}

// Delete removes a volume file or directory (and its .tmp), durably.
func (q *Volumes) Delete(ctx context.Context, path string) error {
	for _, p := range []string{path, path + ".tmp"} {
		if err := os.RemoveAll(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete volume %s: %w", p, err)
		}
	}
	if err := durable.SyncDir(filepath.Dir(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete volume %s: %w", path, err)
	}
	return nil
}

// Adopt renames an existing volume to its new-layout path.
func (q *Volumes) Adopt(ctx context.Context, from, to string) error {
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("adopt %s: %s already exists", from, to)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return fmt.Errorf("adopt %s: %w", from, err)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("adopt %s as %s: %w", from, to, err)
	}
	if err := durable.SyncDir(filepath.Dir(to)); err != nil {
		return fmt.Errorf("adopt %s: %w", from, err)
	}
	return durable.SyncDir(filepath.Dir(from))
}
