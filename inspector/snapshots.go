package inspector

import (
	"errors"
	"path"
	"sort"
	"strings"

	"github.com/edgewright/edgewright/internal/diskimage"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// qcow2Snapshots lists a qcow2's internal snapshots from its snapshot
// table (read by internal/diskimage, bounded; nothing in it is followed).
// A table beyond the reader's bounds is a warning and lists none; a
// corrupt one is returned as broken, since qemu would not open the image.
func (s *surveyor) qcow2Snapshots(r fdReader, size int64, v *materials.VolumeFile) (broken string) {
	snaps, err := diskimage.Snapshots(r, size)
	if err != nil {
		if errors.Is(err, diskimage.ErrSnapshotBound) {
			s.diag(materials.SeverityWarning, v.Path, err, "qcow2 snapshots not listed")
			return ""
		}
		return err.Error()
	}
	for _, sn := range snaps {
		v.Snapshots = append(v.Snapshots, materials.SnapshotInfo{
			Name:        sn.Name,
			Created:     sn.Date,
			Size:        int64(min(sn.VMStateSize, 1<<62)),
			VirtualSize: int64(min(sn.DiskSize, 1<<62)),
			State:       materials.StateComplete,
		})
	}
	return ""
}

// attachSnapshots moves each complete raw or container snapshot copy
// (<uuid>#<generation>@<snapshot>.<format> in a new-layout directory)
// from the volume list into its volume's Snapshots. A copy whose volume
// is not there stays listed, unknown (never a reason to delete); work in
// progress (a snapshot's or a rollback's .tmp) stays listed as the
// partial temp of its volume, for clean-up. vols is sorted by path and
// stays so.
func attachSnapshots(vols []materials.VolumeFile) []materials.VolumeFile {
	byPath := make(map[string]int, len(vols))
	copies := false
	for i := range vols {
		byPath[vols[i].Path] = i
		if strings.Contains(vols[i].Path, layout.SnapshotSep) {
			copies = true
		}
	}
	if !copies {
		return vols
	}
	drop := map[int]bool{}
	for i := range vols {
		v := &vols[i]
		dir, name := path.Split(v.Path)
		if dir != ClearVolumesDir+"/" && dir != VaultVolumesDir+"/" {
			continue
		}
		sf, ok := layout.ParseSnapshotFileName(name)
		if !ok || v.ID == "" {
			continue
		}
		if sf.Temp {
			what := "snapshot " + sf.Snapshot
			if sf.Rollback {
				what = "rollback"
			}
			if v.State == materials.StatePartial {
				v.Reason = what + " copy of " + sf.Volume + " in progress (.tmp)"
			}
			continue
		}
		owner, ok := byPath[dir+sf.Volume]
		if !ok || vols[owner].Dir != v.Dir {
			why := "snapshot " + sf.Snapshot + " of volume " + sf.Volume + ", which is not on disk"
			if ok {
				why = "snapshot " + sf.Snapshot + " of volume " + sf.Volume + ", which is not the same kind of file"
			}
			v.ID, v.Generation, v.State, v.Reason = "", 0, materials.StateUnknown, why+"; kept"
			continue
		}
		vols[owner].Snapshots = append(vols[owner].Snapshots, materials.SnapshotInfo{
			Name:        sf.Snapshot,
			Path:        v.Path,
			Created:     v.ModTime,
			Size:        v.ApparentSize,
			VirtualSize: v.VirtualSize,
			State:       v.State,
			Reason:      v.Reason,
		})
		drop[i] = true
	}
	out := vols[:0]
	for i := range vols {
		if !drop[i] {
			out = append(out, vols[i])
		}
	}
	for i := range out {
		if sn := out[i].Snapshots; len(sn) > 1 && sn[0].Path != "" {
			sort.Slice(sn, func(a, b int) bool { return sn[a].Name < sn[b].Name })
		}
	}
	return out
}
