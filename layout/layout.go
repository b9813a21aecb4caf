package layout

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// Directories under the root, with forward slashes.
const (
	VaultVolumesDir = "persist/vault/volumes"
	ClearVolumesDir = "persist/clear/volumes"
	LegacyDir       = "persist/img"
	BlobsDir        = "persist/blobs"
	BlobsSHA256Dir  = "persist/blobs/sha256"
	BlobsIngestDir  = "persist/blobs/ingest"
	// StateDir is edgewright's own: journal, lock, ingest state, staging.
	StateDir = "persist/edgewright"
)

// Labels on what edgewright writes into a shared store (containerd).
const (
	// OwnerLabel marks blobs, leases and image records edgewright wrote;
	// nothing without it is ever deleted or relabelled.
	OwnerLabel = "io.edgewright.owner"
	OwnerValue = "edgewright"
	// ContentTreeLabel names the content tree on its lease and image.
	ContentTreeLabel = "io.edgewright.content-tree"
)

// LeaseID is the containerd lease that holds a content tree's blobs
// while the tree is written.
func LeaseID(treeID string) string { return "edgewright-" + treeID }

// IngestRef is containerd's ingest ref for a blob: the same digest always
// resumes the same ingest, whichever content tree asks.
func IngestRef(d digest.Digest) string { return "edgewright-" + d.String() }

// TempSuffix marks work in progress: <final>.tmp.
const TempSuffix = ".tmp"

func join(root, rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }

// VolumesDir is where a volume of this kind lives.
func VolumesDir(root string, clearText bool) string {
	if clearText {
		return join(root, ClearVolumesDir)
	}
	return join(root, VaultVolumesDir)
}

// VolumePath is a volume's final path: <dir>/<uuid>#<generation>.<format>.
func VolumePath(root string, v materials.Volume) (string, error) {
	if v.ID == "" || strings.ContainsAny(v.ID, "/#\x00") || v.ID == "." || v.ID == ".." {
		return "", fmt.Errorf("volume id %q: not usable in a file name", v.ID)
	}
	switch v.Format {
	case materials.FormatRaw, materials.FormatQcow2, materials.FormatContainer:
	default:
		return "", fmt.Errorf("volume %s: format %q: a volume is raw, qcow2 or container", v.Key(), v.Format)
	}
	return filepath.Join(VolumesDir(root, v.ClearText), VolumeName(v.Key(), v.Format)), nil
}

// VolumeName is a volume's file name in its directory.
func VolumeName(k materials.VolumeKey, f materials.Format) string {
	return k.String() + "." + string(f)
}

// BlobsPath is the blob directory.
func BlobsPath(root string) string { return join(root, BlobsDir) }

// IngestStatePath is where the blob directory keeps its ingests' state.
func IngestStatePath(root string) string { return join(root, StateDir+"/ingest") }

// JournalPath is the journal's bbolt file.
func JournalPath(root string) string { return join(root, StateDir+"/journal.db") }

// LockPath is the root's cross-process lock file.
func LockPath(root string) string { return join(root, StateDir+"/lock") }

// StagePath is where blobs of a store without files are copied for qemu-img.
func StagePath(root string) string { return join(root, StateDir+"/stage") }

// Rel is p relative to root with forward slashes, as a Floorplan names it.
func Rel(root, p string) (string, error) {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(r), nil
}

// SnapshotSep joins a volume's name stem and a snapshot tag: a raw or
// container volume's snapshot is a copy beside it named
// <uuid>#<generation>@<snapshot-uuid>.<format> (a qcow2 volume's
// snapshots live inside its file and have no name here).
const SnapshotSep = "@"

// RollbackTag is the tag of the restored copy a rollback writes beside a
// raw or container volume before it takes the volume's place:
// <uuid>#<generation>@rollback.<format>.tmp. It is always a temp.
const RollbackTag = "rollback"

// SnapshotName is the file (raw) or directory (container) name of snapshot
// snap of the volume k in format f. snap must be a canonical UUID, checked
// by SnapshotPath.
func SnapshotName(k materials.VolumeKey, f materials.Format, snap string) string {
	return k.String() + SnapshotSep + snap + "." + string(f)
}

// SnapshotPath is where snapshot snap (a lower-case canonical UUID) of a
// raw or container volume lives: beside the volume, on the same file
// system, so a copy can be a reflink and a restore a rename.
func SnapshotPath(root string, v materials.Volume, snap string) (string, error) {
	vp, err := VolumePath(root, v)
	if err != nil {
		return "", err
	}
	if err := checkSnapshotID(snap); err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(vp), SnapshotName(v.Key(), v.Format, snap)), nil
}

// RollbackTempPath is where a rollback of v writes the restored copy.
func RollbackTempPath(root string, v materials.Volume) (string, error) {
	vp, err := VolumePath(root, v)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(vp), v.Key().String()+SnapshotSep+RollbackTag+"."+string(v.Format)+TempSuffix), nil
}

// checkSnapshotID accepts only the lower-case dashed UUID form: the id ends
// up in a file name and on qemu-img's command line.
func checkSnapshotID(s string) error {
	if len(s) != 36 {
		return fmt.Errorf("snapshot id %q: not a lower-case UUID", s)
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return fmt.Errorf("snapshot id %q: not a lower-case UUID", s)
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		default:
			return fmt.Errorf("snapshot id %q: not a lower-case UUID", s)
		}
	}
	return nil
}

// CheckSnapshotID reports whether s can name a snapshot (a lower-case
// canonical UUID), for crafts that use it outside a file name (a qcow2
// internal snapshot's name).
func CheckSnapshotID(s string) error { return checkSnapshotID(s) }

// SnapshotFileName is what the name of a file beside a volume says under
// the snapshot naming rule.
type SnapshotFileName struct {
	// Volume is the volume's own name (<uuid>#<generation>.<format>).
	Volume string
	// Snapshot is the snapshot uuid; "" for the rollback copy.
	Snapshot string
	Rollback bool
	Temp     bool
}

// ParseSnapshotFileName splits <stem>@<tag>.<ext>[.tmp]; ok is false when
// the name has no snapshot tag or its tag is neither a snapshot id nor the
// rollback tag (a rollback copy without .tmp is not ours). The volume part
// is returned unparsed for the caller's volume-name rule.
func ParseSnapshotFileName(name string) (SnapshotFileName, bool) {
	var out SnapshotFileName
	base, temp := strings.CutSuffix(name, TempSuffix)
	out.Temp = temp
	at := strings.LastIndex(base, SnapshotSep)
	if at < 0 {
		return out, false
	}
	stem, rest := base[:at], base[at+1:]
	tag, ext, ok := strings.Cut(rest, ".")
	if !ok || ext == "" || strings.Contains(ext, ".") || stem == "" {
		return out, false
	}
	out.Volume = stem + "." + ext
	switch {
	case tag == RollbackTag && temp:
		out.Rollback = true
	case checkSnapshotID(tag) == nil:
		out.Snapshot = tag
	default:
		return out, false
	}
	return out, true
}

// BackingName is the backing file name a space-strategy overlay of volume
// v spells for its content blob d of the blob directory: relative to the
// volume's directory (qemu resolves a relative name against the
// overlay's own directory). Relative, so that the root can be mounted
// anywhere (a device's /persist, a test's temporary directory, a rescue
// system's mount point) and the inspector resolves it inside the root
// lexically, without knowing where the root was when the overlay was made.
func BackingName(v materials.Volume, d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil || d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("backing blob %q: not a sha256 digest", d)
	}
	dir := ClearVolumesDir
	if !v.ClearText {
		dir = VaultVolumesDir
	}
	rel, err := filepath.Rel(filepath.FromSlash(dir), filepath.FromSlash(BlobsSHA256Dir+"/"+d.Encoded()))
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(rel), nil
}

// ContainerdBackingName is the backing file name a space overlay spells
// for blob d of containerd's content directory dir: the blob's absolute
// path, as the inspector resolves it against its ContainerdContentDir
// (the content directory is outside the root, so no relative name would
// survive the root being mounted elsewhere).
func ContainerdBackingName(dir string, d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil || d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("backing blob %q: not a sha256 digest", d)
	}
	if dir == "" || !filepath.IsAbs(dir) {
		return "", fmt.Errorf("containerd content directory %q: not an absolute path", dir)
	}
	return filepath.ToSlash(filepath.Join(dir, "blobs", "sha256", d.Encoded())), nil
}

// ParseContainerdBackingName says whether name is one ContainerdBackingName
// spells for content directory dir, and its blob.
func ParseContainerdBackingName(dir, name string) (digest.Digest, bool) {
	if dir == "" || !filepath.IsAbs(dir) {
		return "", false
	}
	hex, ok := strings.CutPrefix(name, filepath.ToSlash(filepath.Clean(dir))+"/blobs/sha256/")
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", false
	}
	return digest.NewDigestFromEncoded(digest.SHA256, hex), true
}

// BlobPath is a blob's file in the blob directory.
func BlobPath(root string, d digest.Digest) string {
	return join(root, BlobsSHA256Dir+"/"+d.Encoded())
}

// ParseBackingName says whether name is one BackingName spells (a volume
// directory's relative name of a blob of the blob directory), and its
// blob. Crafts that must not open another file accept only these.
func ParseBackingName(name string) (digest.Digest, bool) {
	const prefix = "../../blobs/sha256/"
	hex, ok := strings.CutPrefix(name, prefix)
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", false
	}
	return digest.NewDigestFromEncoded(digest.SHA256, hex), true
}
