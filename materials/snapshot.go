package materials

import "time"

// KindSnapshot is a snapshot of an app's volumes; its MaterialRef id is
// SnapshotRefID(app, snapshot).
const KindSnapshot MaterialKind = "snapshot"

// SnapshotRefID is the MaterialRef id of snapshot id of app: `<app>/<id>`.
// Upstream makes a snapshot id unique within its app only, so the app is
// part of the name.
func SnapshotRefID(app, id string) string { return app + "/" + id }

// SnapshotType is why a snapshot is taken, in edgewright's spelling of
// EVE's SnapshotType.
type SnapshotType string

const (
	// SnapshotAppUpdate is taken just before the app's next update is
	// applied to its volumes: the state to roll the update back to.
	SnapshotAppUpdate SnapshotType = "app-update"
	// SnapshotImmediate is taken as soon as the config asks for it.
	SnapshotImmediate SnapshotType = "immediate"
)

// Snapshot is one snapshot of an app's volumes that the config asks to
// exist (SnapshotConfig.snapshots). A snapshot covers every volume the app
// refers to; one that disappears from the config is to be deleted.
type Snapshot struct {
	// App is the app's uuid, ID the snapshot's (both canonical).
	App  string       `json:"app"`
	ID   string       `json:"id"`
	Type SnapshotType `json:"type"`
	// Index is the snapshot's position in the config's list, the only
	// order the config gives among snapshots not taken yet (the oldest of
	// those that exist is known from the disk and the journal).
	Index int `json:"index"`
	// Volumes are the app's volume refs in this config, in the app's
	// order. A snapshot of type app-update is of the volumes as they are
	// before the update, so it is taken of the generations on disk; these
	// are what the app refers to once the update is applied.
	Volumes []VolumeRef `json:"volumes"`
	// Active is true for the app's active_snapshot: the one a rollback
	// restores.
	Active bool `json:"active,omitempty"`
}

// Ref names the snapshot as a material.
func (s Snapshot) Ref() MaterialRef {
	return MaterialRef{Kind: KindSnapshot, ID: SnapshotRefID(s.App, s.ID)}
}

// SnapshotInfo is one snapshot found on disk of one volume file: a qcow2
// internal snapshot read from the image's snapshot table, or a raw or
// directory copy named beside the volume (package layout's naming rule).
type SnapshotInfo struct {
	// Name is the snapshot's name: the snapshot uuid for the ones
	// edgewright takes; anything else is someone else's and is listed but
	// never touched.
	Name string `json:"name"`
	// Path is the copy's path relative to the root for a raw or directory
	// snapshot; empty for a qcow2 internal snapshot, which lives in the
	// volume file itself.
	Path string `json:"path,omitempty"`
	// Created is the snapshot's date (qcow2: the table entry's date; a
	// copy: its modification time).
	Created time.Time `json:"created"`
	// Size is the VM state size of a qcow2 snapshot (0 for a disk-only
	// one), or the copy's apparent size.
	Size int64 `json:"size,omitempty"`
	// VirtualSize is the guest disk size the snapshot recorded (qcow2 v3
	// extra data), when known.
	VirtualSize int64  `json:"virtualSize,omitempty"`
	State       State  `json:"state"`
	Reason      string `json:"reason,omitempty"`
}

// SnapshotLineage is the journal's record of one snapshot taken of one
// volume generation: which snapshot of which generation, when, for which
// config. The disk knows a snapshot's name and date only; the lineage says
// whose it is and what the app was. A record is written before the
// snapshot is taken (so a crash never leaves a snapshot without one; a
// record whose snapshot is not on disk is stale and the planner drops
// it) and dropped once the snapshot is deleted.
type SnapshotLineage struct {
	App      string    `json:"app"`
	Snapshot string    `json:"snapshot"`
	Volume   VolumeKey `json:"volume"`
	// Format is the volume's format (container for a directory), so a
	// stale record can be acted on when its volume file is gone.
	Format Format       `json:"format"`
	Type   SnapshotType `json:"type,omitempty"`
	// Taken is when the snapshot was taken.
	Taken time.Time `json:"taken"`
	// ConfigVersion is the app's version (UUIDandVersion.version) in the
	// config the snapshot was taken for: ZInfoSnapshot's config_version.
	ConfigVersion string `json:"configVersion,omitempty"`
}

// LineageOf is the record of snapshot id of app on volume generation k,
// if the list has one.
func LineageOf(list []SnapshotLineage, app, id string, k VolumeKey) (SnapshotLineage, bool) {
	for _, l := range list {
		if l.App == app && l.Snapshot == id && l.Volume == k {
			return l, true
		}
	}
	return SnapshotLineage{}, false
}
