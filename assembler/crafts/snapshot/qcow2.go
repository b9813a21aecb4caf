package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/internal/diskimage"
	"github.com/edgewright/edgewright/internal/durable"
)

// atomicL1 is the largest L1 table qemu-img's in-place revert rewrites in
// one sector, the unit a disk writes whole: 64 entries of 8 bytes. At the
// default 64 KiB clusters that covers a 32 GiB virtual disk.
const atomicL1 = 512 / 8

// untrusted is a qemu filename that opens path as qcow2 with no backing
// chain and no external data file, whatever its header says: a volume's
// header is checked first, and this makes sure qemu-img could not reach
// another file even if it changed in between.
func untrusted(path string) string {
	spec := map[string]any{"driver": "qcow2", "data-file": nil, "backing": nil,
		"file": map[string]any{"driver": "file", "filename": path}}
	b, _ := json.Marshal(spec)
	return "json:" + string(b)
}

// qcow2Image checks path's header with our own reader (a qcow2 that names
// no other file and is not marked corrupt) and returns it with its
// snapshot table.
func qcow2Image(path string) (diskimage.Header, []diskimage.Snapshot, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return diskimage.Header{}, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return diskimage.Header{}, nil, err
	}
	h, err := diskimage.Check(f, st.Size(), diskimage.Qcow2)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", path, err)
	}
	snaps, err := diskimage.Snapshots(f, st.Size())
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, snaps, nil
}

// named returns the entries of the table named name.
func named(snaps []diskimage.Snapshot, name string) []diskimage.Snapshot {
	var out []diskimage.Snapshot
	for _, s := range snaps {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// theOne is the one entry of the table named name: ErrNotFound when
// there is none, ErrAmbiguous when there are more.
func theOne(path string, snaps []diskimage.Snapshot, name string) (diskimage.Snapshot, error) {
	switch m := named(snaps, name); len(m) {
	case 1:
		return m[0], nil
	case 0:
		return diskimage.Snapshot{}, fmt.Errorf("%s: snapshot %s: %w", path, name, ErrNotFound)
	default:
		return diskimage.Snapshot{}, fmt.Errorf("%s: snapshot %s: %d entries: %w", path, name, len(m), ErrAmbiguous)
	}
}

// run runs qemu-img with args; it dies with us (a half-done qemu-img must
// not outlive an assembler that will redo the step).
func (s *Snapshotter) run(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, s.qemuImg(), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 4096 {
			msg = msg[:4096] + "..."
		}
		return fmt.Errorf("qemu-img %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return nil
}

// qcow2Take adds internal snapshot snap. qemu-img writes the new table
// elsewhere in the file and switches to it by rewriting nb_snapshots and
// snapshots_offset (12 bytes of the header's first sector) in one write, so
// a crash leaves the table without it or with it whole; at worst some
// clusters leak, which qemu-img check -r leaks reclaims and which never
// changes content.
func (s *Snapshotter) qcow2Take(ctx context.Context, path, snap string) (Result, error) {
	_, snaps, err := qcow2Image(path)
	if err != nil {
		return Result{}, err
	}
	switch n := len(named(snaps, snap)); {
	case n == 1:
		return Result{Method: MethodQcow2Internal, AlreadyDone: true}, nil
	case n > 1:
		return Result{}, fmt.Errorf("%s: snapshot %s: %d entries: %w", path, snap, n, ErrAmbiguous)
	}
	if err := s.run(ctx, "snapshot", "-q", "-c", snap, untrusted(path)); err != nil {
		return Result{}, err
	}
	return Result{Method: MethodQcow2Internal}, nil
}

// qcow2Rollback reverts the image to snapshot snap. qemu-img's revert
// raises the snapshot's refcounts, then rewrites the active L1 table with
// the snapshot's in one synced write, then drops the old refcounts: the
// L1 write is the commit point. When both L1 tables fit one sector that
// write is atomic and the revert is done in place; otherwise it is done
// on a copy at tmp (a reflink where the file system can) that is fsynced
// and renamed over the volume.
func (s *Snapshotter) qcow2Rollback(ctx context.Context, path, tmp, snap string) (Result, error) {
	h, snaps, err := qcow2Image(path)
	if err != nil {
		return Result{}, err
	}
	sn, err := theOne(path, snaps, snap)
	if err != nil {
		return Result{}, err
	}
	if h.L1Size <= atomicL1 && sn.L1Size <= atomicL1 {
		if err := s.run(ctx, "snapshot", "-q", "-a", snap, untrusted(path)); err != nil {
			return Result{}, err
		}
		return Result{Method: MethodQcow2Internal}, nil
	}
	_, n, err := copyFileTo(ctx, path, tmp)
	r := Result{Method: MethodQcow2OnCopy, Bytes: n}
	if err != nil {
		return r, err
	}
	if err := s.run(ctx, "snapshot", "-q", "-a", snap, untrusted(tmp)); err != nil {
		os.Remove(tmp)
		return r, err
	}
	if err := fsyncFile(tmp); err != nil {
		os.Remove(tmp)
		return r, err
	}
	if err := durable.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return r, err
	}
	return r, nil
}

func fsyncFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// qcow2Delete removes internal snapshot snap: qemu-img switches to a table
// without it (one header write, as for Take) and then frees its clusters.
func (s *Snapshotter) qcow2Delete(ctx context.Context, path, snap string) (Result, error) {
	_, snaps, err := qcow2Image(path)
	if err != nil {
		return Result{}, err
	}
	switch n := len(named(snaps, snap)); {
	case n == 0:
		return Result{Method: MethodQcow2Internal, AlreadyDone: true}, nil
	case n > 1:
		return Result{}, fmt.Errorf("%s: snapshot %s: %d entries: %w", path, snap, n, ErrAmbiguous)
	}
	if err := s.run(ctx, "snapshot", "-q", "-d", snap, untrusted(path)); err != nil {
		return Result{}, err
	}
	return Result{Method: MethodQcow2Internal}, nil
}
