package foreman

import (
	"path"
	"slices"
	"strings"
	"time"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// App snapshots (an app's SnapshotConfig, Blueprint.Snapshots), rule by
// rule, after the volumes' rules so an app's update is known:
//
//   - an immediate snapshot the config lists and that is not on every
//     volume of the app (on some generation of it) is taken now, of the
//     generation the app uses;
//     while one of those volumes is not on disk yet it waits
//     (waiting-for-content);
//
//   - an app-update snapshot is taken of the generations on disk just
//     before a remodel that changes one of the app's volumes (a purge, a
//     resize): those remodels depend on it. While the app is not being
//     updated it is simply not planned (nothing is held: there is no
//     update to wait for);
//
//   - a listed snapshot that was listed in the last applied Blueprint too,
//     is gone from the disk, and has a later-listed snapshot present is
//     not taken again: it was deleted as the oldest beyond max_snapshots
//     (or by someone else), and taking it again would trade it for the
//     next oldest forever;
//
//   - a snapshot present on one of the app's volumes that no app of the
//     config lists is deleted (only names edgewright makes: uuids);
//
//   - beyond max_snapshots, the oldest present ones (by their date on
//     disk) are deleted, even the active one;
//
//   - a rollback_cmd.counter above the last applied one restores the
//     volumes to the active snapshot, when it is on every volume at the
//     generation the app uses or, for a volume an update gave a new
//     generation since, on an older generation of it (an app-update
//     snapshot): that one's snapshot is restored into the generation the
//     app uses (not when that is a qcow2 holding internal snapshots of its
//     own, or one the same plan snapshots first, which the restore would
//     drop). Else a diagnostic and no
//     rollback. Until a rollback is done the checkpoint keeps the last
//     applied counter;
//
//   - such a restore of a qcow2 from an older qcow2 generation in the same
//     directory moves the older file instead of copying the snapshot's
//     data (RollbackPayload.Move): it is reverted in place and renamed
//     over the generation the app uses, and every internal snapshot it
//     holds moves with it (their lineage too; later rollbacks are in
//     place, and as any in-place revert set the snapshot's virtual size,
//     which the resize rule grows back to maxsizebytes). Only when no other remodel of the plan acts on either
//     generation: then nothing but its snapshots keeps the older file.
//     Else, or for raw and directory volumes, the snapshot is copied;
//     a journal record on either generation of a move is not dropped as
//     stale (the move writes the records on the new one again);
//
//   - a volume file holding a listed snapshot is not deleted: a purge of
//     that generation becomes a create of the new one (the old one is
//     kept with its snapshot) and a delete of it is held (holds-snapshot).
//
//   - a journal lineage record of a snapshot its volume generation does
//     not hold (a crash between the record and the snapshot, or between a
//     delete and the record) is dropped by a delete-snapshot that finds
//     nothing to delete, unless this plan takes or deletes that snapshot.
//
// Rollback and delete-snapshot are destructive: the guards of
// order.go (an invalid Blueprint above all) hold them as any delete.
type snapPlan struct {
	app    *materials.App
	listed []*materials.Snapshot // the app's, in config order
	// files are the new-layout files of the app's volume ids.
	files []*materials.VolumeFile
	// taking are the snapshots this plan takes, by id.
	taking map[string]*node
	// deleting are the snapshots this plan deletes, by id.
	deleting map[string]*node
}

// snapshots plans every app's snapshot remodels.
func (p *planner) snapshots(bp *materials.Blueprint) {
	if bp == nil {
		return
	}
	p.snapDeletes = map[string][]remodel.ID{}
	listedAnywhere := map[string]bool{}
	for i := range bp.Snapshots {
		listedAnywhere[bp.Snapshots[i].ID] = true
	}
	p.snapHolders = map[string][]string{}
	if len(bp.Snapshots) == 0 && !p.anySnapshotOnDisk() && !p.anyRollbackCounter(bp) && len(p.lineage()) == 0 {
		return // the common case: nothing to plan, nothing to keep
	}
	byApp := map[string][]*materials.Snapshot{}
	for i := range bp.Snapshots {
		s := &bp.Snapshots[i]
		byApp[s.App] = append(byApp[s.App], s)
	}
	p.lastCounters = map[string]uint32{}
	if p.facts.last != nil {
		for _, a := range p.facts.last.Apps {
			p.lastCounters[a.ID] = a.RollbackCounter
		}
	}
	seen := map[string]bool{}
	for i := range bp.Apps {
		sp := p.snapPlanOf(byApp, &bp.Apps[i])
		for _, s := range sp.listed {
			p.takeSnapshot(sp, s)
		}
		p.deleteUnlisted(sp, listedAnywhere, seen)
		p.trimToMax(sp)
		p.rollbackApp(sp)
		p.noteHolders(sp)
	}
	p.dropStaleLineage()
	p.keepSnapshotHolders()
	p.settleMoves()
}

// lineage is the journal's record of the snapshots taken.
func (p *planner) lineage() []materials.SnapshotLineage {
	if p.fp.Journal == nil {
		return nil
	}
	return p.fp.Journal.Lineage
}

// dropStaleLineage plans a delete-snapshot for each journal record of a
// snapshot its volume generation does not hold and this plan neither
// takes nor deletes: a crash came between the record and the taking, or
// between the delete and dropping the record (or someone else deleted
// it). The craft finds nothing to delete and the executor drops the
// records, so the lineage converges on what the disk holds.
func (p *planner) dropStaleLineage() {
	type stale struct {
		app, snap string
		vols      []materials.Volume
	}
	var list []*stale
	byRef := map[string]*stale{}
	for _, l := range p.lineage() {
		if p.lineageHeld(l) {
			continue
		}
		ref := materials.MaterialRef{Kind: materials.KindSnapshot, ID: materials.SnapshotRefID(l.App, l.Snapshot)}
		if p.byID[remodel.NewID(remodel.ActionSnapshot, ref)] != nil || p.byID[remodel.NewID(remodel.ActionDeleteSnapshot, ref)] != nil || p.moving(l.Volume) {
			continue
		}
		st := byRef[ref.ID]
		if st == nil {
			st = &stale{app: l.App, snap: l.Snapshot}
			byRef[ref.ID] = st
			list = append(list, st)
		}
		st.vols = append(st.vols, materials.Volume{ID: l.Volume.ID, Generation: l.Volume.Generation, Format: l.Format})
	}
	for _, st := range list {
		ref := materials.MaterialRef{Kind: materials.KindSnapshot, ID: materials.SnapshotRefID(st.app, st.snap)}
		n := p.add(remodel.Remodel{ID: remodel.NewID(remodel.ActionDeleteSnapshot, ref), Action: remodel.ActionDeleteSnapshot, Target: ref,
			Reason:  "the journal records snapshot " + st.snap + " of app " + st.app + " on volumes the disk shows without it (a crash between the record and the snapshot, or between a delete and the record): its records are dropped",
			Payload: &remodel.DeleteSnapshotPayload{SnapshotOf: remodel.SnapshotOf{App: st.app, Snapshot: st.snap, Volumes: st.vols}}})
		n.app = st.app
	}
}

// lineageHeld reports whether record l must stay: its volume file holds
// the snapshot, or the survey could not say (the file is there but not
// read whole, or a temp), or the file is gone and the snapshot may be a
// raw or directory copy beside it (which a delete would remove). Only a
// complete file without the snapshot, or a qcow2 that is gone with its
// internal snapshots, makes the record stale: a delete then loses nothing.
func (p *planner) lineageHeld(l materials.SnapshotLineage) bool {
	found := false
	for i := range p.fp.Volumes {
		f := &p.fp.Volumes[i]
		if f.ID != l.Volume.ID || f.Generation != l.Volume.Generation || f.Legacy != nil {
			continue
		}
		found = true
		if _, ok := holds(f, l.Snapshot); ok || f.State != materials.StateComplete || f.Temp {
			return true
		}
	}
	return !found && l.Format != materials.FormatQcow2
}

// anySnapshotOnDisk reports whether some volume file holds a snapshot.
func (p *planner) anySnapshotOnDisk() bool {
	for i := range p.fp.Volumes {
		if len(p.fp.Volumes[i].Snapshots) > 0 {
			return true
		}
	}
	return false
}

// anyRollbackCounter reports whether some app has a rollback counter.
func (p *planner) anyRollbackCounter(bp *materials.Blueprint) bool {
	for i := range bp.Apps {
		if bp.Apps[i].RollbackCounter > 0 {
			return true
		}
	}
	return false
}

func (p *planner) snapPlanOf(byApp map[string][]*materials.Snapshot, app *materials.App) *snapPlan {
	sp := &snapPlan{app: app, taking: map[string]*node{}, deleting: map[string]*node{}}
	sp.listed = slices.Clone(byApp[app.ID])
	slices.SortStableFunc(sp.listed, func(a, b *materials.Snapshot) int { return a.Index - b.Index })
	for _, r := range app.VolumeRefs {
		sp.files = append(sp.files, p.facts.filesOf(r.Volume)...)
	}
	return sp
}

// holds reports whether file f holds snapshot id (whole or not: a
// damaged copy is still ours to delete or to keep).
func holds(f *materials.VolumeFile, id string) (materials.SnapshotInfo, bool) {
	for _, s := range f.Snapshots {
		if s.Name == id {
			return s, true
		}
	}
	return materials.SnapshotInfo{}, false
}

// present reports whether snapshot id is on any of the app's files.
func (sp *snapPlan) present(id string) bool {
	for _, f := range sp.files {
		if _, ok := holds(f, id); ok {
			return true
		}
	}
	return false
}

// current is the complete file of each of the app's volumes at the
// generation the app uses; the reason when one is not on disk.
func (p *planner) current(sp *snapPlan) ([]*materials.VolumeFile, string) {
	var out []*materials.VolumeFile
	for _, r := range sp.app.VolumeRefs {
		gen := r.Generation
		if dv := p.facts.wantedVolume(r.Volume); dv != nil {
			gen = dv.v.Generation
		}
		var cur *materials.VolumeFile
		for _, f := range p.facts.filesOf(r.Volume) {
			if f.Generation == gen && f.State == materials.StateComplete {
				cur = f
			}
		}
		if cur == nil {
			return nil, "volume " + r.Volume + " generation " + itoa(gen) + " is not on disk yet"
		}
		out = append(out, cur)
	}
	return out, ""
}

// onDisk is the newest complete file of each of the app's volumes at or
// below the generation the app asks for: what an app-update snapshot is
// of (volumes not on disk at all have nothing to snapshot).
func (p *planner) onDisk(sp *snapPlan) []*materials.VolumeFile {
	var out []*materials.VolumeFile
	for _, r := range sp.app.VolumeRefs {
		gen := r.Generation
		if dv := p.facts.wantedVolume(r.Volume); dv != nil {
			gen = dv.v.Generation
		}
		var best *materials.VolumeFile
		for _, f := range p.facts.filesOf(r.Volume) {
			if f.Generation <= gen && f.State == materials.StateComplete && (best == nil || f.Generation > best.Generation) {
				best = f
			}
		}
		if best != nil {
			out = append(out, best)
		}
	}
	return out
}

// updating are the remodels of this plan that change the app's volumes
// on disk: purges and resizes.
func (p *planner) updating(sp *snapPlan) []*node {
	var out []*node
	for _, r := range sp.app.VolumeRefs {
		for _, n := range p.nodes {
			if n.r.Action != remodel.ActionPurge && n.r.Action != remodel.ActionResize {
				continue
			}
			if k, err := materials.ParseVolumeKey(n.r.Target.ID); err == nil && k.ID == r.Volume {
				out = append(out, n)
			}
		}
	}
	return out
}

// takeSnapshot plans snapshot s of the app, by its type.
func (p *planner) takeSnapshot(sp *snapPlan, s *materials.Snapshot) {
	ref := s.Ref()
	id := remodel.NewID(remodel.ActionSnapshot, ref)
	if p.takenBefore(sp, s) {
		p.diag(materials.SeverityWarning, "apps/"+s.App+"/snapshots/"+s.ID, s.ID,
			"snapshot was taken before and is gone (deleted as the oldest beyond max_snapshots, or by someone else); not taken again")
		return
	}
	var files []*materials.VolumeFile
	var reason string
	var before []*node
	switch s.Type {
	case materials.SnapshotAppUpdate:
		if before = p.updating(sp); len(before) == 0 {
			return // taken at the app's next update
		}
		files = p.onDisk(sp)
		reason = "app-update snapshot " + s.ID + " of app " + s.App + ": taken of the generations on disk before the update changes them"
	default:
		var why string
		if files, why = p.current(sp); why != "" {
			p.holdDirect(id, remodel.ActionSnapshot, ref, remodel.HoldWaitingForContent, "immediate snapshot "+s.ID+" of app "+s.App+": "+why+"; taken once it is made")
			return
		}
		reason = "immediate snapshot " + s.ID + " of app " + s.App + " not on every volume: taken now"
	}
	var vols []materials.Volume
	var bytes int64
	for _, f := range files {
		if !p.volumeHolds(f.ID, s.ID) {
			vols = append(vols, p.volumeOf(f))
			bytes += snapCost(f)
		}
	}
	if len(vols) == 0 {
		return
	}
	n := p.add(remodel.Remodel{ID: id, Action: remodel.ActionSnapshot, Target: ref, Reason: reason, Bytes: bytes,
		Payload: &remodel.SnapshotPayload{SnapshotOf: remodel.SnapshotOf{App: s.App, Snapshot: s.ID, Volumes: vols},
			Type: s.Type, ConfigVersion: p.versionOf(sp.app, s.Type)}})
	n.app = s.App
	sp.taking[s.ID] = n
	for _, b := range before {
		p.after(b, id)
	}
	for _, f := range files {
		p.holder(f.Path, s.ID)
	}
}

// versionOf is the config version a snapshot of type typ is of: an
// app-update snapshot keeps the app as it was before the update, so the
// version the last applied Blueprint had; an immediate one the version
// asked for now.
func (p *planner) versionOf(app *materials.App, typ materials.SnapshotType) string {
	if typ == materials.SnapshotAppUpdate && p.facts.last != nil {
		for _, a := range p.facts.last.Apps {
			if a.ID == app.ID {
				return a.Version
			}
		}
	}
	return app.Version
}

// holder notes that the file at path holds (or is to hold) listed
// snapshot id.
func (p *planner) holder(path, id string) {
	if !slices.Contains(p.snapHolders[path], id) {
		p.snapHolders[path] = append(p.snapHolders[path], id)
	}
}

// volumeHolds reports whether some generation of volume id holds
// snapshot snap: a snapshot is of the app's volumes when it was taken, and
// an update that makes a new generation does not ask for it again (the
// generation holding it is kept).
func (p *planner) volumeHolds(id, snap string) bool {
	for _, f := range p.facts.filesOf(id) {
		if _, ok := holds(f, snap); ok {
			return true
		}
	}
	return false
}

// takenBefore: s is not on disk, the last applied Blueprint listed it
// and a snapshot listed after it is present, so it was taken and is gone.
func (p *planner) takenBefore(sp *snapPlan, s *materials.Snapshot) bool {
	if sp.present(s.ID) || p.facts.last == nil {
		return false
	}
	if !slices.ContainsFunc(p.facts.last.Snapshots, func(l materials.Snapshot) bool { return l.App == s.App && l.ID == s.ID }) {
		return false
	}
	for _, o := range sp.listed {
		if o.Index > s.Index && sp.present(o.ID) {
			return true
		}
	}
	return false
}

// snapCost is the disk a snapshot of f takes: a raw or directory copy
// takes the volume's allocated size, a qcow2 internal one next to nothing.
func snapCost(f *materials.VolumeFile) int64 {
	if f.Format == materials.FormatQcow2 && !f.Dir {
		return 0
	}
	return fileBytes(f)
}

// volumeOf is the volume a file is a generation of, as the craft names it.
func (p *planner) volumeOf(f *materials.VolumeFile) materials.Volume {
	v := materials.Volume{ID: f.ID, Generation: f.Generation, Format: f.Format, ClearText: f.ClearText}
	if f.Dir {
		v.Format = materials.FormatContainer
	}
	if dv := p.facts.wantedVolume(f.ID); dv != nil {
		v.DisplayName = dv.v.DisplayName
	}
	return v
}

// deleteSnapshot plans the delete of snapshot id of the app from every
// file of the app that holds it.
func (p *planner) deleteSnapshot(sp *snapPlan, id, reason string) *node {
	ref := materials.MaterialRef{Kind: materials.KindSnapshot, ID: materials.SnapshotRefID(sp.app.ID, id)}
	var vols []materials.Volume
	for _, f := range sp.files {
		if _, ok := holds(f, id); ok {
			vols = append(vols, p.volumeOf(f))
		}
	}
	n := p.add(remodel.Remodel{ID: remodel.NewID(remodel.ActionDeleteSnapshot, ref), Action: remodel.ActionDeleteSnapshot, Target: ref, Reason: reason,
		Payload: &remodel.DeleteSnapshotPayload{SnapshotOf: remodel.SnapshotOf{App: sp.app.ID, Snapshot: id, Volumes: vols}}})
	n.app = sp.app.ID
	sp.deleting[id] = n
	for _, f := range sp.files {
		if _, ok := holds(f, id); ok {
			p.snapDeletes[f.Path] = append(p.snapDeletes[f.Path], n.r.ID)
		}
	}
	return n
}

// deleteUnlisted deletes the snapshots of the app's volumes no app lists.
func (p *planner) deleteUnlisted(sp *snapPlan, listed, seen map[string]bool) {
	var names []string
	for _, f := range sp.files {
		for _, s := range f.Snapshots {
			if !listed[s.Name] && !seen[s.Name] && isUUID(s.Name) {
				seen[s.Name] = true
				names = append(names, s.Name)
			}
		}
	}
	slices.Sort(names)
	for _, id := range names {
		p.deleteSnapshot(sp, id, "snapshot "+id+" of app "+sp.app.ID+" is no longer in the config: deleted")
	}
}

// trimToMax deletes the oldest present snapshots while more than
// max_snapshots would exist after this plan.
func (p *planner) trimToMax(sp *snapPlan) {
	max := int(sp.app.MaxSnapshots)
	if max <= 0 {
		return
	}
	type aged struct {
		id      string
		created time.Time
	}
	var present []aged
	for _, s := range sp.listed {
		if created, ok := sp.created(s.ID); ok {
			present = append(present, aged{s.ID, created})
		}
	}
	count := len(present)
	for id := range sp.taking {
		if !sp.present(id) {
			count++
		}
	}
	if count <= max {
		return
	}
	slices.SortStableFunc(present, func(a, b aged) int { return a.created.Compare(b.created) })
	for _, a := range present[:min(count-max, len(present))] {
		p.deleteSnapshot(sp, a.id, "app "+sp.app.ID+" would have "+itoa(int64(count))+" snapshots, more than max_snapshots "+itoa(int64(max))+
			": the oldest, "+a.id+" (taken "+fmtTime(a.created)+"), is deleted")
	}
}

// created is when snapshot id was taken: the earliest date of its copies.
func (sp *snapPlan) created(id string) (time.Time, bool) {
	var t time.Time
	ok := false
	for _, f := range sp.files {
		if s, has := holds(f, id); has && (!ok || s.Created.Before(t)) {
			t, ok = s.Created, true
		}
	}
	return t, ok
}

// rollbackApp restores the app's volumes to its active snapshot when its
// rollback counter went up since the last apply.
func (p *planner) rollbackApp(sp *snapPlan) {
	app := sp.app
	last, ok := p.lastCounter(app.ID)
	if !ok || app.RollbackCounter <= last {
		return
	}
	path := "apps/" + app.ID + "/snapshot/rollbackCmd/counter"
	p.rollbackPending[app.ID] = last
	if app.RollbackWithheld || app.ActiveSnapshot == "" {
		p.diag(materials.SeverityWarning, path, itoa(int64(app.RollbackCounter)), "rollback asked for with no active snapshot that stands: no rollback")
		return
	}
	src, why := p.rollbackSources(sp)
	if why != "" {
		p.diag(materials.SeverityWarning, path, itoa(int64(app.RollbackCounter)), "rollback to active snapshot "+app.ActiveSnapshot+": "+why+"; no rollback")
		return
	}
	reason := "app " + app.ID + ": rollback counter " + itoa(int64(last)) + " → " + itoa(int64(app.RollbackCounter)) + ": volumes restored to active snapshot " + app.ActiveSnapshot
	if src.from != nil {
		reason += " (an update made new generations since: restored from the generation that holds it)"
	}
	ref := materials.MaterialRef{Kind: materials.KindSnapshot, ID: materials.SnapshotRefID(app.ID, app.ActiveSnapshot)}
	n := p.add(remodel.Remodel{ID: remodel.NewID(remodel.ActionRollback, ref), Action: remodel.ActionRollback, Target: ref, Bytes: src.bytes,
		Reason: reason,
		Payload: &remodel.RollbackPayload{SnapshotOf: remodel.SnapshotOf{App: app.ID, Snapshot: app.ActiveSnapshot, Volumes: src.vols},
			Counter: app.RollbackCounter, LastCounter: last, From: src.from, Move: src.move}})
	n.app = app.ID
	p.rollbacks = append(p.rollbacks, n)
	// Snapshots taken in this plan are of the volumes before the rollback;
	// a delete of the snapshot restored waits for the restore.
	for _, t := range sp.taking {
		p.after(n, t.r.ID)
	}
	if d := sp.deleting[app.ActiveSnapshot]; d != nil {
		p.after(d, n.r.ID)
	}
}

// rollbackSource is where a rollback restores each volume from.
type rollbackSource struct {
	vols []materials.Volume // the generations the app uses
	// from is, per volume, the older generation holding the snapshot, or
	// the zero Volume when the volume holds it itself; nil when every
	// volume does (an in-place rollback).
	from []materials.Volume
	// move, parallel to from (nil when no entry is true), marks the older
	// files that can be moved rather than copied, until settleMoves says.
	move  []bool
	bytes int64 // disk the restores charge
}

// rollbackSources finds, for every volume the app uses, the file holding
// the active snapshot: the volume itself, or the newest older generation
// an update replaced. why says what stands in the way, "" when nothing.
func (p *planner) rollbackSources(sp *snapPlan) (rollbackSource, string) {
	var src rollbackSource
	files, why := p.current(sp)
	if why != "" {
		return src, why
	}
	active, across := sp.app.ActiveSnapshot, false
	for _, f := range files {
		src.vols = append(src.vols, p.volumeOf(f))
		if _, has := holds(f, active); has {
			src.from = append(src.from, materials.Volume{})
			src.move = append(src.move, false)
			src.bytes += snapCost(f)
			continue
		}
		o := p.olderHolder(f, active)
		switch {
		case o == nil:
			return src, "volume " + f.Key().String() + " does not hold it"
		case f.Format == materials.FormatQcow2 && !f.Dir && len(f.Snapshots) > 0:
			// The restore converts the old generation's snapshot into a
			// fresh image: the internal snapshots of this one would go.
			return src, "volume " + f.Key().String() + " does not hold it and generation " + itoa(o.Generation) +
				" does, but a restore from there would drop the internal snapshots " + f.Key().String() + " holds (" + snapNames(f) + ")"
		case f.Format == materials.FormatQcow2 && !f.Dir && len(takingOn(sp, f.Key())) > 0:
			// This plan takes those snapshots first (takes come before
			// the rollback): the restore would drop them the same way.
			return src, "volume " + f.Key().String() + " does not hold it and generation " + itoa(o.Generation) +
				" does, but a restore from there would drop the snapshots this plan takes of " + f.Key().String() + " first (" + strings.Join(takingOn(sp, f.Key()), ", ") + ")"
		}
		across = true
		src.from = append(src.from, p.volumeOf(o))
		src.move = append(src.move, movable(o, f))
		if !movable(o, f) {
			src.bytes += fileBytes(o)
		}
	}
	if !across {
		src.from = nil
	}
	if !slices.Contains(src.move, true) {
		src.move = nil
	}
	return src, ""
}

// takingOn is the ids of the snapshots this plan takes of volume k, sorted.
func takingOn(sp *snapPlan, k materials.VolumeKey) []string {
	var ids []string
	for id, n := range sp.taking {
		if pl, ok := n.r.Payload.(*remodel.SnapshotPayload); ok && slices.ContainsFunc(pl.Volumes, func(v materials.Volume) bool { return v.Key() == k }) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// movable reports whether older generation o's file can be moved over f
// (see settleMoves): two qcow2 files (a qcow2's snapshots live inside it)
// in one directory (a rename within it; an overlay's relative backing
// name stays valid), f holding no internal snapshot of its own.
func movable(o, f *materials.VolumeFile) bool {
	return o.Format == materials.FormatQcow2 && f.Format == materials.FormatQcow2 && !o.Dir && !f.Dir &&
		o.Legacy == nil && f.Legacy == nil && len(f.Snapshots) == 0 && path.Dir(o.Path) == path.Dir(f.Path)
}

// moving reports whether a planned rollback moves a file from or onto
// volume generation k.
func (p *planner) moving(k materials.VolumeKey) bool {
	for _, n := range p.rollbacks {
		pl := n.r.Payload.(*remodel.RollbackPayload)
		for i, v := range pl.Volumes {
			if pl.Moves(i) && (v.Key() == k || pl.From[i].Key() == k) {
				return true
			}
		}
	}
	return false
}

// settleMoves keeps a rollback's move of an older generation's file only
// when no other remodel of the plan acts on either generation (a snapshot
// taken, deleted or dropped as stale, a resize, a fix, a delete): the
// file is then kept for its snapshots alone, and its active state, which
// the move reverts, is nobody's. Else the snapshot is copied, as before,
// and charged the older file's size. A kept move carries the lineage of
// the snapshots the file holds.
func (p *planner) settleMoves() {
	for _, n := range p.rollbacks {
		pl := n.r.Payload.(*remodel.RollbackPayload)
		var moved []string
		for i, v := range pl.Volumes {
			if !pl.Moves(i) {
				continue
			}
			from := pl.From[i]
			o := p.fileAt(from.Key())
			if o == nil || p.touched(n, v.Key()) || p.touched(n, from.Key()) {
				pl.Move[i] = false
				if o != nil {
					n.r.Bytes += fileBytes(o)
				}
				continue
			}
			for _, l := range p.lineage() {
				if l.Volume == from.Key() {
					pl.Lineage = append(pl.Lineage, l)
				}
			}
			moved = append(moved, "generation "+itoa(from.Generation)+"'s file, reverted in place, replaces "+v.Key().String()+" with the snapshots it holds ("+snapNames(o)+")")
		}
		if len(moved) == 0 {
			pl.Move = nil
			continue
		}
		n.r.Reason += "; no copy: " + strings.Join(moved, "; ")
	}
}

// fileAt is the complete new-layout file of volume generation k.
func (p *planner) fileAt(k materials.VolumeKey) *materials.VolumeFile {
	for _, f := range p.facts.filesOf(k.ID) {
		if f.Generation == k.Generation && f.State == materials.StateComplete {
			return f
		}
	}
	return nil
}

// touched reports whether a remodel of the plan other than n acts on
// volume generation k.
func (p *planner) touched(n *node, k materials.VolumeKey) bool {
	for _, o := range p.nodes {
		if o == n {
			continue
		}
		if o.r.Target.Kind == materials.KindVolume {
			if vk, err := materials.ParseVolumeKey(o.r.Target.ID); err == nil && vk == k {
				return true
			}
		}
		var vols []materials.Volume
		switch pl := o.r.Payload.(type) {
		case *remodel.SnapshotPayload:
			vols = pl.Volumes
		case *remodel.DeleteSnapshotPayload:
			vols = pl.Volumes
		case *remodel.RollbackPayload:
			vols = append(slices.Clone(pl.Volumes), pl.From...)
		}
		for _, v := range vols {
			if v.ID != "" && v.Key() == k {
				return true
			}
		}
	}
	return false
}

// olderHolder is the newest complete generation of f's volume below f's
// that holds snapshot id (an app-update snapshot lives on the generation
// the update replaced), nil when none does.
func (p *planner) olderHolder(f *materials.VolumeFile, id string) *materials.VolumeFile {
	var best *materials.VolumeFile
	for _, o := range p.facts.filesOf(f.ID) {
		if o.Generation >= f.Generation || o.State != materials.StateComplete || o.Dir != f.Dir {
			continue
		}
		if s, ok := holds(o, id); ok && s.State != materials.StateBroken && (best == nil || o.Generation > best.Generation) {
			best = o
		}
	}
	return best
}

// snapNames lists the names of f's snapshots.
func snapNames(f *materials.VolumeFile) string {
	names := make([]string, 0, len(f.Snapshots))
	for _, s := range f.Snapshots {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// lastCounter is the app's rollback counter in the last applied
// Blueprint; false when there is none (the counter is then where it
// starts: only an increase asks for a rollback).
func (p *planner) lastCounter(app string) (uint32, bool) {
	c, ok := p.lastCounters[app]
	return c, ok
}

// noteHolders records which files hold which of the app's listed
// snapshots.
func (p *planner) noteHolders(sp *snapPlan) {
	for _, s := range sp.listed {
		if sp.deleting[s.ID] != nil {
			continue
		}
		for _, f := range sp.files {
			if _, ok := holds(f, s.ID); ok {
				p.holder(f.Path, s.ID)
			}
		}
	}
}

// keepSnapshotHolders keeps every volume file that holds a listed
// snapshot: its purge becomes a create of the new generation, its delete
// is held.
func (p *planner) keepSnapshotHolders() {
	if len(p.snapHolders) == 0 && len(p.snapDeletes) == 0 {
		return
	}
	kept := p.nodes[:0]
	for _, n := range p.nodes {
		switch pl := n.r.Payload.(type) {
		case *remodel.PurgePayload:
			if ids := p.snapHolders[pl.OldPath]; len(ids) > 0 {
				p.purgeToCreate(n, pl, ids)
			} else {
				// Its snapshots go first, as themselves: the report says
				// each was deleted, not lost with its volume.
				p.after(n, p.snapDeletes[pl.OldPath]...)
			}
		case *remodel.DeletePayload:
			if ids := p.snapHolders[pl.Path]; len(ids) > 0 && n.r.Target.Kind == materials.KindVolume {
				p.holdDirect(n.r.ID, n.r.Action, n.r.Target, remodel.HoldSnapshot,
					n.r.Reason+"; kept: it holds snapshot "+strings.Join(ids, ", ")+" the config lists")
				delete(p.byID, n.r.ID)
				continue
			}
			p.after(n, p.snapDeletes[pl.Path]...)
		}
		kept = append(kept, n)
	}
	p.nodes = kept
}

// purgeToCreate turns a purge into the create of its new generation: the
// old one holds listed snapshots and stays.
func (p *planner) purgeToCreate(n *node, pl *remodel.PurgePayload, ids []string) {
	delete(p.byID, n.r.ID)
	old := n.r.ID
	n.r.Action = remodel.ActionCreate
	n.r.ID = remodel.NewID(remodel.ActionCreate, n.r.Target)
	n.r.Payload = &remodel.CreatePayload{Volume: pl.Volume, ContentTree: pl.ContentTree}
	n.r.Reason += "; generation " + itoa(pl.Replaces.Generation) + " is kept: it holds snapshot " + strings.Join(ids, ", ") + " the config lists"
	n.frees = 0
	n.guards = slices.DeleteFunc(n.guards, func(g materials.MaterialRef) bool { return g == volumeRef(pl.Replaces) })
	p.byID[n.r.ID] = n
	if dv := p.facts.wantedVolume(pl.Volume.ID); dv != nil && dv.making == old {
		dv.making = n.r.ID
	}
}

// isUUID accepts the lower-case dashed uuid form edgewright names its
// snapshots by; anything else on a volume is someone else's.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
