package qemu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/internal/diskimage"
	"github.com/edgewright/edgewright/materials"
)

var _ device.VolumeFixer = (*Volumes)(nil)

// The storage check's in-place fixes (device.VolumeFixer). Each writes
// <path>.tmp (removing one a crash left), and renames it over path only
// once it is whole and synced: a crash leaves the old file or the fixed
// one. An overlay's chain is opened as the json: filename names it, link
// by link, with no data file: qemu never follows a name a header spells.

// readHeader reads path's header by content, whatever it names.
func readHeader(path string) (diskimage.Header, error) {
	h, err := headerOf(path, diskimage.Read)
	if err != nil {
		return h, err
	}
	if h.Broken != "" {
		return h, fmt.Errorf("%s: %s: %w", path, h.Broken, ErrImageRefused)
	}
	if h.DataFile || len(h.Extents) > 0 {
		return h, fmt.Errorf("%s: %s: %w", path, h.External(), ErrImageRefused)
	}
	return h, nil
}

// chainSpec is the qemu node of path (format f) on chain, every link
// named explicitly; the last link has no backing.
func chainSpec(path string, f materials.Format, chain []device.Link) (map[string]any, error) {
	qf, err := qemuFormat(f)
	if err != nil {
		return nil, err
	}
	node := map[string]any{"driver": qf, "file": map[string]any{"driver": "file", "filename": path}}
	if qf == "qcow2" {
		node["data-file"] = nil
	}
	if qf == "qcow2" || qf == "qcow" || qf == "vmdk" {
		node["backing"] = nil
		if len(chain) > 0 {
			b, err := chainSpec(chain[0].Path, chain[0].Format, chain[1:])
			if err != nil {
				return nil, err
			}
			node["backing"] = b
		}
	} else if len(chain) > 0 {
		return nil, fmt.Errorf("%s: a %s image has no backing file: %w", path, qf, ErrImageRefused)
	}
	return node, nil
}

func jsonName(node map[string]any) string {
	b, _ := json.Marshal(node)
	return "json:" + string(b)
}

// checkChain reads every link's header: each is sound and is the format
// the survey said.
func checkChain(chain []device.Link) error {
	for _, l := range chain {
		h, err := readHeader(l.Path)
		if err != nil {
			return err
		}
		if l.Format != "" && l.Format != materials.FormatRaw && string(h.Format) != string(l.Format) {
			return fmt.Errorf("backing link %s: surveyed as %s, its header says %s: %w", l.Path, l.Format, h.Format, ErrImageRefused)
		}
	}
	return nil
}

// RepairLeaks copies a qcow2 beside itself, frees the copy's leaked
// clusters with qemu-img check -r leaks and renames it over the volume.
func (q *Volumes) RepairLeaks(ctx context.Context, path string, progress func(done, known int64)) error {
	fail := failing("repair leaks of", path)
	if _, err := checkImage(path, materials.FormatQcow2); err != nil {
		return fail("", err)
	}
	tmp, err := startTmp(path)
	if err != nil {
		return fail("", err)
	}
	if err := kernelCopy(tmp, path); err != nil {
		return fail(tmp, err)
	}
	if _, err := q.run(ctx, "check", "-q", "-r", "leaks", untrusted(tmp, "qcow2")); err != nil {
		return fail(tmp, err)
	}
	if err := finish(tmp, path); err != nil {
		return fail(tmp, err)
	}
	if st, err := os.Stat(path); err == nil {
		orNone(progress)(st.Size(), st.Size())
	}
	return nil
}

// Sparsify rewrites a raw volume with holes where it holds zeros.
func (q *Volumes) Sparsify(ctx context.Context, path string, progress func(done, known int64)) error {
	fail := failing("sparsify", path)
	tmp, err := startTmp(path)
	if err != nil {
		return fail("", err)
	}
	if err := sparseCopy(ctx, tmp, path, orNone(progress)); err != nil {
		return fail(tmp, err)
	}
	if err := finish(tmp, path); err != nil {
		return fail(tmp, err)
	}
	return nil
}

// Flatten converts the overlay and its chain into a standalone qcow2.
// An image that names no backing file any more is flat already.
func (q *Volumes) Flatten(ctx context.Context, path string, chain []device.Link, progress func(done, known int64)) error {
	fail := failing("flatten", path)
	h, err := readHeader(path)
	if err != nil {
		return fail("", err)
	}
	if h.BackingFile == "" {
		return nil
	}
	if len(chain) == 0 {
		return fail("", fmt.Errorf("its header names backing file %q and no surveyed chain was given: %w", h.BackingFile, ErrImageRefused))
	}
	if err := checkChain(chain); err != nil {
		return fail("", err)
	}
	spec, err := chainSpec(path, materials.FormatQcow2, chain)
	if err != nil {
		return fail("", err)
	}
	tmp, err := startTmp(path)
	if err != nil {
		return fail("", err)
	}
	if err := q.runProgress(ctx, "", h.VirtualSize, orNone(progress), "convert", "-p", "-O", "qcow2", jsonName(spec), tmp); err != nil {
		return fail(tmp, err)
	}
	if err := finish(tmp, path); err != nil {
		return fail(tmp, err)
	}
	return nil
}

// Merge copies the overlay beside itself and rebases the copy onto the
// chain's last link (qemu-img rebase in safe mode: what the middle links
// hold and the last does not is copied in), then renames it over the
// volume. The new backing name is the last link's path relative to the
// volume's directory when the chain named it relatively, else absolute.
func (q *Volumes) Merge(ctx context.Context, path string, chain []device.Link, progress func(done, known int64)) error {
	fail := failing("merge", path)
	if len(chain) < 2 {
		return fail("", fmt.Errorf("a chain of %d links has nothing to merge", len(chain)))
	}
	base := chain[len(chain)-1]
	name := base.Path
	if !filepath.IsAbs(base.Name) {
		rel, err := filepath.Rel(filepath.Dir(path), base.Path)
		if err != nil {
			return fail("", err)
		}
		name = rel
	}
	h, err := readHeader(path)
	if err != nil {
		return fail("", err)
	}
	if h.BackingFile == name {
		return nil // merged already
	}
	if err := checkChain(chain); err != nil {
		return fail("", err)
	}
	bf, err := qemuFormat(base.Format)
	if err != nil {
		return fail("", err)
	}
	tmp, err := startTmp(path)
	if err != nil {
		return fail("", err)
	}
	if err := kernelCopy(tmp, path); err != nil {
		return fail(tmp, err)
	}
	spec, err := chainSpec(tmp, materials.FormatQcow2, chain)
	if err != nil {
		return fail(tmp, err)
	}
	// Safe mode opens the new backing file by its absolute path (qemu
	// resolves no relative name against a json: filename); an unsafe
	// rebase, which rewrites only the header, then writes the name.
	if err := q.runProgress(ctx, "", h.VirtualSize, orNone(progress), "rebase", "-p", "-b", base.Path, "-F", bf, jsonName(spec)); err != nil {
		return fail(tmp, err)
	}
	if name != base.Path {
		if _, err := q.run(ctx, "rebase", "-u", "-b", name, "-F", bf, untrusted(tmp, "qcow2")); err != nil {
			return fail(tmp, err)
		}
	}
	if got, err := readHeader(tmp); err != nil || got.BackingFile != name {
		return fail(tmp, fmt.Errorf("after the rebase the copy names backing file %q, want %q (%v)", got.BackingFile, name, err))
	}
	if err := finish(tmp, path); err != nil {
		return fail(tmp, err)
	}
	return nil
}

// failing is a fix's error: the work file tmp removed ("" for none yet),
// the error named by the fix and the volume.
func failing(op, path string) func(tmp string, err error) error {
	return func(tmp string, err error) error {
		if tmp != "" {
			os.Remove(tmp)
		}
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
}

func orNone(p func(done, known int64)) func(done, known int64) {
	if p == nil {
		return func(int64, int64) {}
	}
	return p
}

// runProgress runs qemu-img with -p in dir ("" for here) and turns its
// percentages into bytes of known.
func (q *Volumes) runProgress(ctx context.Context, dir string, known int64, progress func(done, known int64), args ...string) error {
	cmd := exec.CommandContext(ctx, q.bin(), args...)
	cmd.SysProcAttr = childAttr()
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("qemu-img %s: %w", args[0], err)
	}
	progress(0, known)
	sc := bufio.NewScanner(out)
	sc.Split(splitCR)
	for sc.Scan() {
		// Lines look like "    (42.00/100%)".
		s := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "(")
		if pct, _, ok := strings.Cut(s, "/"); ok {
			if p, err := strconv.ParseFloat(pct, 64); err == nil && known > 0 {
				progress(int64(p/100*float64(known)), known)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("qemu-img %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	progress(known, known)
	return nil
}

// kernelCopy copies src to a new dst inside the kernel (copy_file_range,
// a reflink where the file system shares extents): a qcow2 file is dense
// where it has clusters, so there are few holes to keep.
func kernelCopy(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
