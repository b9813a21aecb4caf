package layout

import (
	"fmt"
	"path/filepath"
	"strings"

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
