package inspector

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/internal/diskimage"
	"github.com/edgewright/edgewright/materials"
)

// maxBackingDepth bounds an overlay chain the inspector follows: a space
// volume is one overlay on a blob; snapshots as overlays add a few links.
const maxBackingDepth = 16

// ContainerdContentBlobs is where a containerd content directory keeps its
// blobs, below Options.ContainerdContentDir.
const ContainerdContentBlobs = "blobs/sha256"

// store is where a backing link resolved to.
type backingStore int

const (
	inRoot backingStore = iota
	inContainerd
)

// backingTarget is a backing name resolved lexically, before any open.
type backingTarget struct {
	store backingStore
	rel   string // below the root or the containerd content directory
	blob  digest.Digest
	// volume is true for another volume file of the same volume.
	volume bool
}

// resolveBacking resolves a backing file name spelled in the header of the
// volume file at fromRel (root-relative) lexically, as qemu would (a
// relative name is relative to the referring file's directory), and
// accepts it only when it lands on a blob of the blob directory, a blob of
// containerd's content directory (when the survey was given it), or a
// volume file of the same volume id under a volume directory. It opens
// nothing; why says what is wrong with any other name.
func (s *surveyor) resolveBacking(fromRel, id, name string) (backingTarget, string) {
	var t backingTarget
	if name == "" || strings.IndexByte(name, 0) >= 0 || strings.HasPrefix(name, "<") {
		return t, "not a file name"
	}
	if strings.Contains(name, ":") && !strings.HasPrefix(name, "/") && !strings.HasPrefix(name, ".") {
		// qemu reads "proto:..." as a protocol (nbd:, http:, json:).
		return t, "a protocol, not a file of the root's stores; never opened"
	}
	var rel string
	switch {
	case path.IsAbs(name):
		clean := path.Clean(name)
		switch {
		case s.root != "" && strings.HasPrefix(clean, s.root+"/"):
			rel = clean[len(s.root)+1:]
		case s.ctrDir != "" && strings.HasPrefix(clean, s.ctrDir+"/"):
			t.store = inContainerd
			rel = clean[len(s.ctrDir)+1:]
		default:
			return t, "lies outside the root's stores; never opened"
		}
	default:
		rel = path.Clean(path.Join(path.Dir(fromRel), name))
		if rel == ".." || strings.HasPrefix(rel, "../") || rel == "." {
			return t, "lies outside the root; never opened"
		}
	}
	t.rel = rel
	dir, base := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	hexOK := len(base) == 64 && strings.Trim(base, "0123456789abcdef") == ""
	switch {
	case t.store == inContainerd:
		if dir != ContainerdContentBlobs || !hexOK {
			return t, "not a blob of containerd's content directory; never opened"
		}
		t.blob = digest.NewDigestFromEncoded(digest.SHA256, base)
	case dir == BlobsSHA256Dir && hexOK:
		t.blob = digest.NewDigestFromEncoded(digest.SHA256, base)
	case dir == VaultVolumesDir || dir == ClearVolumesDir:
		p := parseNewLayoutName(base)
		if p.reason != "" || p.temp || p.snap != "" || p.rollback || id == "" || p.id != id || rel == fromRel {
			return t, "not another volume file of the same volume; never opened"
		}
		t.volume = true
	default:
		return t, "neither a blob of the blob directory nor a volume file of the same volume; never opened"
	}
	return t, ""
}

// backingChain reads the chain of the volume at v.Path whose header h
// names a backing file: each link is resolved lexically first and opened
// only when it is inside the stores, without following a symlink on the
// way, and its own header read (a blob's backing disabled: a content blob
// naming another file is refused). It fills v.Backing and returns why the
// volume is broken, "" when the chain is whole.
func (s *surveyor) backingChain(v *materials.VolumeFile, id string, h diskimage.Header, buf []byte) string {
	seen := map[string]bool{v.Path: true}
	from := v.Path
	for depth := 0; ; depth++ {
		if depth >= maxBackingDepth {
			return fmt.Sprintf("backing chain longer than %d links; not followed further", maxBackingDepth)
		}
		name := h.BackingFile
		link := materials.BackingLink{Name: name}
		t, why := s.resolveBacking(from, id, name)
		if why != "" {
			v.Backing = append(v.Backing, link)
			return h.External() + ": " + why
		}
		link.Blob = t.blob
		if t.volume {
			link.Path = t.rel
			if seen[t.rel] {
				v.Backing = append(v.Backing, link)
				return fmt.Sprintf("backing chain loops back to %s", t.rel)
			}
			seen[t.rel] = true
		}
		next, why, missing := s.readLink(t, buf)
		link.Missing = missing
		if why == "" {
			link.Format = surveyedFormat(next.Format)
		}
		v.Backing = append(v.Backing, link)
		switch {
		case missing:
			if t.blob != "" {
				return fmt.Sprintf("backing blob %s is missing (fetch it again)", t.blob)
			}
			return fmt.Sprintf("backing volume file %s is missing", t.rel)
		case why != "":
			return h.External() + ": " + why
		case h.BackingFormat != "" && h.BackingFormat != string(next.Format):
			return fmt.Sprintf("header says backing format %s but backing file %q is %s", h.BackingFormat, name, next.Format)
		}
		if next.BackingFile == "" {
			return ""
		}
		if !t.volume {
			// Not reached (readLink refuses a blob that names a file).
			return fmt.Sprintf("backing blob %s names a backing file of its own", t.blob)
		}
		from, h = t.rel, next
	}
}

// readLink opens a resolved backing link (component by component, never
// through a symlink) and reads its header. missing is true when it is not
// there; why is set when it cannot serve as a backing.
func (s *surveyor) readLink(t backingTarget, buf []byte) (h diskimage.Header, why string, missing bool) {
	base := s.rootfd
	if t.store == inContainerd {
		if s.ctrfd < 0 {
			return h, "containerd's content directory could not be opened", false
		}
		base = s.ctrfd
	}
	fd, err := openBelow(base, t.rel, buf)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOENT):
			return h, "", true
		case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
			return h, "a symlink (or not a directory) on the way; not followed", false
		}
		return h, "cannot open: " + errValue(err), false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return h, "cannot stat: " + errValue(err), false
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return h, "not a regular file", false
	}
	h, err = diskimage.Read(fdReader(fd), st.Size)
	switch {
	case err != nil:
		return h, "cannot read header: " + errValue(err), false
	case h.Broken != "":
		return h, h.Broken, false
	case h.Format != diskimage.Raw && h.Format != diskimage.Qcow2:
		return h, fmt.Sprintf("a %s image; a backing is raw or qcow2", h.Format), false
	case h.DataFile || len(h.Extents) > 0:
		return h, h.External(), false
	case t.blob != "" && h.BackingFile != "":
		return h, "a content blob that names a backing file of its own (" + h.External() + "); never used", false
	}
	return h, "", false
}

// openBelow opens rel (slash-separated) below dirfd for reading, one
// component at a time, never through a symlink.
func openBelow(dirfd int, rel string, buf []byte) (int, error) {
	comps := strings.Split(rel, "/")
	fd := dirfd
	for i, c := range comps {
		if c == "" || c == "." || c == ".." {
			if fd != dirfd {
				unix.Close(fd)
			}
			return -1, fmt.Errorf("path %q: component %q: %w", rel, c, unix.EINVAL)
		}
		var next int
		var err error
		if i == len(comps)-1 {
			next, err = openFile(fd, c, buf)
		} else {
			next, err = unix.Openat(fd, c, openDirFlags, 0)
		}
		if fd != dirfd {
			unix.Close(fd)
		}
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}
