package inspector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/internal/diskimage"
	"github.com/edgewright/edgewright/materials"
)

// Bounds on what one qemu-img check may make a deep survey hold: its
// JSON is a few hundred bytes, its stderr a line per bad cluster (a
// damaged refcount block gives thousands).
const (
	maxCheckJSON   = 64 << 10
	maxCheckStderr = 4 << 10
)

// Deepen is an opt-in deep survey: it runs `qemu-img check` on every
// complete qcow2 volume of fp (surveyed from root) and records its
// corruptions and leaks in the volume's Check. It never follows a
// backing file (volumes with one are broken already, and qemu-img is
// told to open none) and never a symlink: each file is opened below the
// root one component at a time with O_NOFOLLOW, found to be the file the
// survey saw (same size and time, header naming no other file), and
// handed to qemu-img as an inherited descriptor. A file in use by a
// running VM is not checked (qemu's lock refuses it; a check beside a
// writer would report damage that is not there): its Check says so.
//
// What one volume's check cannot do is its Check.Error; Deepen fails only
// when qemu-img cannot be run at all or ctx ends.
func Deepen(ctx context.Context, fp *materials.Floorplan, root string, qemuImg string) error {
	if qemuImg == "" {
		return errors.New("deep survey: no qemu-img given")
	}
	if _, err := exec.LookPath(qemuImg); err != nil {
		return fmt.Errorf("deep survey: qemu-img %q: %w", qemuImg, err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return &RootError{Root: root, Err: err}
	}
	rootfd, err := unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &RootError{Root: abs, Err: err}
	}
	defer unix.Close(rootfd)
	for i := range fp.Volumes {
		v := &fp.Volumes[i]
		if v.State != materials.StateComplete || v.Format != materials.FormatQcow2 || v.Dir || v.Temp || v.BackingFile != "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("deep survey %s: %w", abs, err)
		}
		c := checkVolume(ctx, rootfd, v, qemuImg)
		v.Check = &c
	}
	return ctx.Err()
}

// checkVolume checks one volume file.
func checkVolume(ctx context.Context, rootfd int, v *materials.VolumeFile, qemuImg string) materials.ImageCheck {
	f, why := openSurveyed(rootfd, v)
	if why != "" {
		return materials.ImageCheck{Error: why}
	}
	defer f.Close()
	// backing: null opens no backing file whatever the header says; the
	// image is the inherited descriptor 3, reopened by qemu through
	// /dev/fd so that no path below the root is resolved again.
	spec, _ := json.Marshal(map[string]any{
		"driver":  "qcow2",
		"backing": nil,
		"file":    map[string]any{"driver": "file", "filename": "/dev/fd/3"},
	})
	cmd := exec.CommandContext(ctx, qemuImg, "check", "--output=json", "json:"+string(spec))
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = []string{"LC_ALL=C"}
	out := &boundedBuffer{max: maxCheckJSON}
	errb := &boundedBuffer{max: maxCheckStderr}
	cmd.Stdout, cmd.Stderr = out, errb
	runErr := cmd.Run()
	return parseCheck(out, errb, runErr)
}

// parseCheck reads qemu-img check's JSON and exit status: 0 sound, 2
// corruptions, 3 leaks only, 1 check incomplete, 63 not supported.
func parseCheck(out, errb *boundedBuffer, runErr error) materials.ImageCheck {
	var res struct {
		Corruptions int `json:"corruptions"`
		Leaks       int `json:"leaks"`
		CheckErrors int `json:"check-errors"`
	}
	stderr := strings.TrimSpace(errb.String())
	if errb.cut {
		stderr += " …"
	}
	var exit *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exit) {
		return materials.ImageCheck{Error: "qemu-img check: " + runErr.Error()}
	}
	if out.cut || json.Unmarshal(out.Bytes(), &res) != nil {
		why := "qemu-img check gave no readable JSON"
		if out.cut {
			why = fmt.Sprintf("qemu-img check wrote more than %d bytes of JSON", maxCheckJSON)
		}
		if runErr != nil {
			why += " (" + runErr.Error() + ")"
		}
		if stderr != "" {
			why += ": " + firstLine(stderr)
		}
		if strings.Contains(stderr, "lock") {
			// A running VM holds the image: a check beside a writer
			// would report damage that is not there.
			why = "in use (qemu's image lock refused the check), not checked: " + firstLine(stderr)
		}
		return materials.ImageCheck{Error: why}
	}
	c := materials.ImageCheck{Corruptions: res.Corruptions, Leaks: res.Leaks, CheckErrors: res.CheckErrors}
	if exit != nil && exit.ExitCode() == 63 {
		c.Error = "qemu-img check: not supported for this image"
	}
	return c
}

// openSurveyed opens v's file below the root without following a
// symlink and makes sure it is still what the survey saw; why says what
// is not.
func openSurveyed(rootfd int, v *materials.VolumeFile) (*os.File, string) {
	comps := strings.Split(v.Path, "/")
	for _, c := range comps {
		if untrusted(c) != "" || c == "" || c == "." {
			return nil, "path " + fmt.Sprintf("%q", v.Path) + " is not opened"
		}
	}
	dir := rootfd
	for _, c := range comps[:len(comps)-1] {
		next, err := unix.Openat(dir, c, openDirFlags, 0)
		if dir != rootfd {
			unix.Close(dir)
		}
		if err != nil {
			return nil, "cannot open " + c + ": " + errValue(err)
		}
		dir = next
	}
	fd, err := unix.Openat(dir, comps[len(comps)-1], openFileFlags, 0)
	if dir != rootfd {
		unix.Close(dir)
	}
	if err != nil {
		return nil, "cannot open: " + errValue(err)
	}
	f := os.NewFile(uintptr(fd), v.Path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, "cannot stat: " + errValue(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != v.ApparentSize || !statMtime(&st).Equal(v.ModTime) {
		f.Close()
		return nil, "changed since the survey; not checked"
	}
	h, err := diskimage.Read(fdReader(fd), st.Size)
	if err != nil || h.Format != diskimage.Qcow2 || h.Broken != "" || h.External() != "" {
		f.Close()
		return nil, "header changed since the survey; not checked"
	}
	return f, ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// boundedBuffer keeps the first max bytes written to it and drops the
// rest, so that a chatty child never blocks on a full pipe nor fills
// memory. It must not embed bytes.Buffer: io.Copy would use the
// promoted ReadFrom and read without bound.
type boundedBuffer struct {
	buf bytes.Buffer
	max int
	cut bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room < len(p) {
		b.cut = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *boundedBuffer) Bytes() []byte  { return b.buf.Bytes() }
func (b *boundedBuffer) String() string { return b.buf.String() }
