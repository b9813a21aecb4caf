package foreman

import (
	"strings"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// volumes plans creates, purges, adopts and resizes of desired volumes,
// and the deletes of volume files no longer wanted, rule by rule: unknown
// files, each desired volume, the new-layout files nobody wants (the
// three-way rule), old-layout files, and work in progress.
func (p *planner) volumes() {
	for _, f := range p.facts.unknown {
		p.unknownFile(f)
	}
	for i := range p.facts.desired {
		if dv := &p.facts.desired[i]; !dv.twice { // asked for twice: the higher generation wins
			p.desiredVolume(dv)
		}
	}
	for _, id := range p.facts.fileIDs {
		p.unwantedFiles(id)
	}
	for _, f := range p.facts.legacy {
		p.oldLayoutFile(f)
	}
	for _, f := range p.facts.temps {
		p.leftover(f)
	}
}

// desiredVolume plans what one wanted volume generation needs. In place:
// only a resize, or a report of changes made without a generation bump.
// Broken: cleaned up first (with clean-up). Otherwise an old-layout file
// serves or is adopted, or the volume is made once its content is known:
// a purge of the older generation on disk, else a create.
func (p *planner) desiredVolume(dv *desiredVolume) {
	cur, older := p.filesAt(dv)
	var tree *materials.ContentTree
	if dv.v.Origin == materials.OriginDownload {
		tree = p.facts.tree(dv.v.ContentTree)
	}
	if cur != nil && cur.State == materials.StateComplete {
		p.accounted[cur] = true
		dv.present = true
		p.presentVolume(dv, cur, tree)
		return
	}
	var cleanDep remodel.ID
	if cur != nil {
		if cleanDep = p.brokenCurrent(dv, cur); cleanDep == "" {
			return
		}
	}
	if tree != nil && cleanDep == "" && older == nil && p.oldLayoutServes(dv, tree) {
		dv.present = true
		return
	}
	deps, bytes, ok := p.volumeContent(dv, tree)
	if !ok {
		return
	}
	var n *node
	if older != nil && cleanDep == "" {
		n = p.purge(dv, tree, older, bytes)
	} else {
		n = p.create(dv, tree, cleanDep, bytes)
	}
	p.after(n, deps...)
	p.after(n, cleanDep)
	dv.making = n.r.ID
}

// filesAt finds a desired volume's file at its generation (a whole one
// over a broken one) and the newest complete older generation.
func (p *planner) filesAt(dv *desiredVolume) (cur, older *materials.VolumeFile) {
	for _, f := range p.facts.filesOf(dv.v.ID) {
		switch {
		case f.Generation == dv.v.Generation:
			if cur == nil || cur.State == materials.StateBroken {
				cur = f
			}
		case f.Generation < dv.v.Generation && f.State == materials.StateComplete:
			if older == nil || f.Generation > older.Generation {
				older = f
			}
		}
	}
	return cur, older
}

// brokenCurrent handles a broken file at the desired generation: left
// alone and reported without clean-up (""), else deleted so that the
// volume is recreated after it (the delete's id).
func (p *planner) brokenCurrent(dv *desiredVolume, cur *materials.VolumeFile) remodel.ID {
	key := dv.v.Key()
	ref := volumeRef(key)
	why := "volume file " + cur.Path + " is broken"
	if cur.Reason != "" {
		why += " (" + cur.Reason + ")"
	}
	if !p.opts.CleanUp {
		p.diag(materials.SeverityWarning, cur.Path, key.String(), why+"; left alone (clean-up not enabled)")
		p.holdDirect(remodel.NewID(remodel.ActionCreate, ref), remodel.ActionCreate, ref, remodel.HoldNeedsCleanUp, why+"; left alone without clean-up")
		p.accounted[cur] = true
		return ""
	}
	fr := fileRef(cur.Path)
	n := p.add(remodel.Remodel{
		ID: remodel.NewID(remodel.ActionDelete, fr), Action: remodel.ActionDelete, Target: fr,
		Reason: why + ": deleted to be recreated (clean-up)", Payload: &remodel.DeletePayload{Path: cur.Path},
	})
	n.guards = append(n.guards, ref)
	return n.r.ID
}

// oldLayoutServes looks for an old-layout file of the volume's content and
// app. While the config still names it by a legacy drive, it serves the
// volume where it is (an old agent may read it after a downgrade); when
// the config names it only as a volume, it is adopted by rename.
func (p *planner) oldLayoutServes(dv *desiredVolume, tree *materials.ContentTree) bool {
	v := dv.v
	lf := p.legacyFor(dv, tree)
	if lf == nil {
		return false
	}
	p.claimed[lf] = true
	if v.Implicit || v.LegacyDrive {
		return true
	}
	ref := volumeRef(v.Key())
	vc := *v
	n := p.add(remodel.Remodel{
		ID: remodel.NewID(remodel.ActionAdopt, ref), Action: remodel.ActionAdopt, Target: ref,
		Reason: "old-layout file of app " + lf.Legacy.App + " holds content tree " + treeName(tree) +
			"; the config names it only as volume " + volumeName(v) + " now: move it by rename",
		Payload: &remodel.AdoptPayload{Volume: vc, From: lf.Path},
	})
	n.guards = append(n.guards, fileRef(lf.Path))
	dv.making = n.r.ID
	return true
}

// volumeContent says what a volume made from a content tree waits for:
// the tree's downloads and verifies (content first), and the bytes it
// takes. A volume whose tree is missing or unaddressable is held; one
// whose tree's blobs are not all known yet waits for the next round.
func (p *planner) volumeContent(dv *desiredVolume, tree *materials.ContentTree) ([]remodel.ID, int64, bool) {
	v := dv.v
	bytes := v.MaxSizeBytes
	var deps []remodel.ID
	if v.Origin == materials.OriginDownload {
		ref := volumeRef(v.Key())
		if tree == nil {
			p.holdDirect(remodel.NewID(remodel.ActionCreate, ref), remodel.ActionCreate, ref, remodel.HoldWithheld, p.missingTree(v.ContentTree))
			return nil, 0, false
		}
		ts := p.trees[tree.ID]
		p.want(ts)
		if why := ts.why; why != "" {
			p.holdDirect(remodel.NewID(remodel.ActionCreate, ref), remodel.ActionCreate, ref, remodel.HoldUnaddressable, why)
			return nil, 0, false
		}
		if ts.top == "" || !ts.ready {
			return nil, 0, false // the next round plans it, once the tree's blobs are known
		}
		deps = ts.deps
		bytes = max(bytes, int64(tree.MaxSizeBytes))
		if v.Format == materials.FormatContainer {
			bytes = max(bytes, ts.layerBytes)
		}
	}
	return deps, max(bytes, 0), true
}

// missingTree says why a volume's content tree is not in the Blueprint.
func (p *planner) missingTree(id string) string {
	why := "content tree " + id + " is not in the blueprint"
	for _, w := range p.withheld {
		if w.Kind == materials.KindContentTree && w.ID == id {
			why = "content tree " + id + " is withheld (the config names it but an error kept it out)"
		}
	}
	return why
}

// purge replaces the older generation on disk with the desired one (the
// strategy is chosen by disk admission).
func (p *planner) purge(dv *desiredVolume, tree *materials.ContentTree, older *materials.VolumeFile, bytes int64) *node {
	v := dv.v
	key, old := v.Key(), older.Key()
	ref := volumeRef(key)
	reason := "generation " + itoa(old.Generation) + " → " + itoa(key.Generation)
	switch {
	case dv.purged != nil:
		reason = "local purge (" + additionReason(dv.purged) + "): " + reason
	case v.Implicit:
		reason = "purge counter " + itoa(old.Generation) + " → " + itoa(key.Generation) + " of app " + v.App
	}
	build, vc := p.volumeBuild(v, tree)
	n := p.add(remodel.Remodel{
		ID: remodel.NewID(remodel.ActionPurge, ref), Action: remodel.ActionPurge, Target: ref,
		Reason:  "volume " + volumeName(v) + ": " + reason + " (" + madeOf(tree) + ")",
		Payload: &remodel.PurgePayload{Volume: vc, ContentTree: p.pinnedTree(tree), Replaces: old, OldPath: older.Path, Build: build}, Bytes: buildBytes(build, bytes),
	})
	n.frees = fileBytes(older)
	n.guards = append(n.guards, volumeRef(old))
	p.accounted[older] = true
	return n
}

// create makes a volume generation that is not present (or was cleaned up).
func (p *planner) create(dv *desiredVolume, tree *materials.ContentTree, cleanDep remodel.ID, bytes int64) *node {
	v := dv.v
	key := v.Key()
	ref := volumeRef(key)
	reason := "volume " + volumeName(v) + " generation " + itoa(key.Generation) + " not present (" + madeOf(tree) + ")"
	if cleanDep != "" {
		reason = "volume " + volumeName(v) + " generation " + itoa(key.Generation) + " recreated after clean-up (" + madeOf(tree) + ")"
	}
	build, vc := p.volumeBuild(v, tree)
	return p.add(remodel.Remodel{
		ID: remodel.NewID(remodel.ActionCreate, ref), Action: remodel.ActionCreate, Target: ref,
		Reason: reason, Payload: &remodel.CreatePayload{Volume: vc, ContentTree: p.pinnedTree(tree), Build: build}, Bytes: buildBytes(build, bytes),
	})
}

func madeOf(tree *materials.ContentTree) string {
	if tree == nil {
		return "blank"
	}
	return "from content tree " + treeName(tree)
}

// pinnedTree is a copy of a volume's content tree as its remodel carries
// it: pinned to its top blob (treeState.pinned).
func (p *planner) pinnedTree(t *materials.ContentTree) *materials.ContentTree {
	if t == nil {
		return nil
	}
	c := *t
	if ts := p.trees[t.ID]; ts != nil {
		c = ts.pinned()
	}
	return &c
}

// unwantedFiles plans the deletes of a volume id's new-layout files the
// Blueprint does not want, by the three-way rule: a file `<uuid>#<gen>` is
// deleted when the last applied Blueprint had that exact generation (the
// config dropped it, or moved to another generation), or when a newer
// generation of the same uuid is wanted now or was applied last (a
// superseded generation, e.g. left by an interrupted purge). Every other
// file is only reported: no config we know of ever named it.
func (p *planner) unwantedFiles(id string) {
	dv := p.facts.wantedVolume(id)
	for _, f := range p.facts.filesOf(id) {
		if p.accounted[f] || dv != nil && f.Generation == dv.v.Generation {
			continue // kept, replaced, or the broken file a clean-up create replaces
		}
		key := f.Key()
		ref := volumeRef(key)
		if f.State == materials.StateBroken {
			p.brokenFile(f, ref)
			continue
		}
		reason := p.whyUnwanted(key, dv)
		if reason == "" {
			p.diag(materials.SeverityWarning, f.Path, key.String(), "no config we know of named volume "+key.String()+"; left alone")
			continue
		}
		if dv != nil && dv.making == "" && !dv.present {
			// Make before break: the app keeps this generation until the
			// one it wants exists, whatever holds that one up.
			p.holdDirect(remodel.NewID(remodel.ActionDelete, ref), remodel.ActionDelete, ref, remodel.HoldWaitingForContent,
				reason+"; kept until generation "+itoa(dv.v.Generation)+" is made")
			continue
		}
		n := p.add(remodel.Remodel{
			ID: remodel.NewID(remodel.ActionDelete, ref), Action: remodel.ActionDelete, Target: ref,
			Reason: reason, Payload: &remodel.DeletePayload{Path: f.Path},
		})
		n.drop = dv == nil
		if dv != nil {
			p.after(n, dv.making)
		}
	}
}

// whyUnwanted is the three-way rule's reason to delete volume file key
// (dv is the id's desired volume, if any), or "" when none holds.
func (p *planner) whyUnwanted(key materials.VolumeKey, dv *desiredVolume) string {
	lv := p.facts.lastApplied(key)
	last := p.facts.lastGeneration(key.ID)
	gen := " generation " + itoa(key.Generation)
	switch {
	case dv != nil && dv.v.Generation > key.Generation:
		return "volume " + volumeName(dv.v) + gen + " superseded by generation " + itoa(dv.v.Generation)
	case lv != nil && dv == nil:
		return "volume " + volumeName(lv) + gen + " dropped from the config"
	case lv != nil:
		return "volume " + volumeName(lv) + gen + " no longer wanted (the config asks for generation " + itoa(dv.v.Generation) + ")"
	case last > key.Generation:
		return "volume " + key.ID + gen + " superseded by generation " + itoa(last) + " of the last applied config"
	}
	return ""
}

// oldLayoutFile plans the delete of an old-layout file nobody is served
// by: when the same app's drive moved to a newer purge counter (after the
// new generation exists), or when the last applied Blueprint named it and
// this one does not. Any other is reported and left alone.
func (p *planner) oldLayoutFile(f *materials.VolumeFile) {
	if p.claimed[f] {
		return
	}
	ref := fileRef(f.Path)
	if f.State == materials.StateBroken {
		p.brokenFile(f, ref)
		return
	}
	lk := legacyKey{f.Legacy.SHA256, f.Legacy.App}
	var reason string
	var dep remodel.ID
	drop := false
	if dv := p.implicitFor(lk); dv != nil {
		if f.Legacy.Purge >= dv.v.Generation {
			p.diag(materials.SeverityWarning, f.Path, dv.v.Key().String(), "old-layout file has purge counter "+itoa(f.Legacy.Purge)+", not below the volume's generation "+itoa(dv.v.Generation)+"; left alone")
			return
		}
		reason = "old-layout file of app " + f.Legacy.App + " superseded by purge counter " + itoa(dv.v.Generation)
		dep = dv.making
	} else if p.facts.lastNamedOldFile(lk) && !p.namedNow(lk) {
		reason = "old-layout file of app " + f.Legacy.App + " (sha256:" + f.Legacy.SHA256 + ") no longer named by the config"
		drop = true
	} else {
		p.diag(materials.SeverityWarning, f.Path, f.Legacy.App, "old-layout file no config we know of names; left alone")
		return
	}
	n := p.add(remodel.Remodel{
		ID: remodel.NewID(remodel.ActionDelete, ref), Action: remodel.ActionDelete, Target: ref,
		Reason: reason, Payload: &remodel.DeletePayload{Path: f.Path},
	})
	n.drop, n.app = drop, f.Legacy.App
	p.after(n, dep)
}

// leftover plans the delete of work in progress an interrupted create
// left, unless the create in this plan takes it over (then the create is
// charged net of it: it removes the leftover before writing).
func (p *planner) leftover(f *materials.VolumeFile) {
	if f.ID != "" {
		if dv := p.facts.wantedVolume(f.ID); dv != nil && dv.v.Generation == f.Generation && dv.making != "" {
			if n := p.byID[dv.making]; n != nil {
				n.reclaims += fileBytes(f)
			}
			return
		}
	}
	ref := fileRef(f.Path)
	n := p.add(remodel.Remodel{
		ID: remodel.NewID(remodel.ActionDelete, ref), Action: remodel.ActionDelete, Target: ref,
		Reason: "leftover of an interrupted create of volume " + f.Key().String(), Payload: &remodel.DeletePayload{Path: f.Path},
	})
	if f.ID != "" {
		n.guards = append(n.guards, volumeRef(f.Key()))
	}
}

// presentVolume checks a desired volume that exists: report changes made
// without a generation bump, then grow it when smaller than maxsizebytes.
func (p *planner) presentVolume(dv *desiredVolume, f *materials.VolumeFile, tree *materials.ContentTree) {
	var lv *materials.Volume
	if dv.purged == nil {
		lv = p.facts.lastApplied(dv.v.Key()) // unpurged: the config's generation
	}
	if lv != nil {
		p.changedWithoutBump(dv.v, lv, tree)
	}
	p.resize(dv.v, lv, f)
}

// changedWithoutBump reports (as a held purge) a present volume whose
// origin, content tree (or its content), readonly or lowered maxsizebytes
// changed since the last apply at the same generation. EVE's rule: such
// a volume is left alone until the generation is bumped.
func (p *planner) changedWithoutBump(v, lv *materials.Volume, tree *materials.ContentTree) {
	var changes []string
	if lv.Origin != v.Origin {
		changes = append(changes, "origin "+string(lv.Origin)+" → "+string(v.Origin))
	}
	if lv.ContentTree != v.ContentTree && lv.Origin == v.Origin {
		changes = append(changes, "content tree "+lv.ContentTree+" → "+v.ContentTree)
	} else if tree != nil {
		if lt := p.facts.lastTree(tree.ID); lt != nil && (lt.SHA256 != tree.SHA256 || lt.URL != tree.URL) {
			changes = append(changes, "content of tree "+treeName(tree)+" changed")
		}
	}
	if lv.ReadOnly != v.ReadOnly {
		changes = append(changes, "readonly "+boolStr(lv.ReadOnly)+" → "+boolStr(v.ReadOnly))
	}
	if v.MaxSizeBytes < lv.MaxSizeBytes {
		changes = append(changes, "maxSizeBytes "+remodel.Bytes(lv.MaxSizeBytes)+" → "+remodel.Bytes(v.MaxSizeBytes))
	}
	if len(changes) == 0 {
		return
	}
	reason := "volume " + volumeName(v) + ": " + strings.Join(changes, ", ") +
		" without a generation bump; left alone (EVE's rule: bump the generation to apply)"
	ref := volumeRef(v.Key())
	p.holdDirect(remodel.NewID(remodel.ActionPurge, ref), remodel.ActionPurge, ref, remodel.HoldEVERule, reason)
}

// resize grows a present volume file whose virtual size is below
// maxsizebytes (also after a raise without a generation bump: growing
// loses nothing) and refuses to shrink one above it.
func (p *planner) resize(v, lv *materials.Volume, f *materials.VolumeFile) {
	if f.Dir || v.Format == materials.FormatContainer || v.MaxSizeBytes <= 0 || f.VirtualSize <= 0 {
		return
	}
	ref := volumeRef(v.Key())
	switch {
	case f.VirtualSize < v.MaxSizeBytes:
		reason := "volume " + volumeName(v) + ": virtual size " + remodel.Bytes(f.VirtualSize) + " below maxSizeBytes " + remodel.Bytes(v.MaxSizeBytes) + ": grow"
		if lv != nil && lv.MaxSizeBytes < v.MaxSizeBytes {
			reason = "volume " + volumeName(v) + ": maxSizeBytes raised " + remodel.Bytes(lv.MaxSizeBytes) + " → " + remodel.Bytes(v.MaxSizeBytes) + " without a generation bump: grown in place (growing loses nothing; shrinking is refused)"
		}
		vc := *v
		if f.Format == materials.FormatQcow2 || f.Format == materials.FormatRaw {
			vc.Format = f.Format // an overlay of raw content is a qcow2 file
		}
		p.add(remodel.Remodel{
			ID: remodel.NewID(remodel.ActionResize, ref), Action: remodel.ActionResize, Target: ref,
			Reason: reason, Payload: &remodel.ResizePayload{Volume: vc, Path: f.Path},
		})
	case f.VirtualSize > v.MaxSizeBytes:
		p.holdDirect(remodel.NewID(remodel.ActionResize, ref), remodel.ActionResize, ref, remodel.HoldEVERule,
			"volume "+volumeName(v)+": virtual size "+remodel.Bytes(f.VirtualSize)+" above maxSizeBytes "+remodel.Bytes(v.MaxSizeBytes)+": shrinking is refused")
	}
}

// legacyFor finds the old-layout file a desired volume can be made of:
// same content sha and an app that refers to the volume (for an implicit
// volume, its app and a purge counter equal to its generation). The
// highest purge counter wins, then the path.
func (p *planner) legacyFor(dv *desiredVolume, tree *materials.ContentTree) *materials.VolumeFile {
	if tree.SHA256 == "" || len(p.facts.legacyBy) == 0 {
		return nil
	}
	v := dv.v
	apps := v.Apps
	if v.Implicit {
		apps = []string{v.App}
	}
	var best *materials.VolumeFile
	for _, app := range apps {
		for _, f := range p.facts.legacyBy[legacyKey{tree.SHA256, app}] {
			if p.claimed[f] || f.State != materials.StateComplete {
				continue
			}
			if v.Implicit && f.Legacy.Purge != v.Generation {
				continue
			}
			if best == nil || f.Legacy.Purge > best.Legacy.Purge || (f.Legacy.Purge == best.Legacy.Purge && f.Path < best.Path) {
				best = f
			}
		}
	}
	return best
}

// implicitFor is the desired implicit volume of that app and sha, if any.
func (p *planner) implicitFor(k legacyKey) *desiredVolume {
	for i := range p.facts.desired {
		dv := &p.facts.desired[i]
		if dv.v.Implicit && dv.v.App == k.app {
			if t := p.facts.tree(dv.v.ContentTree); t != nil && t.SHA256 == k.sha {
				return dv
			}
		}
	}
	return nil
}

// namedNow reports whether the Blueprint still names (sha, app) by a
// legacy drive, or refers that app to a volume of that content.
func (p *planner) namedNow(k legacyKey) bool {
	for i := range p.facts.desired {
		v := p.facts.desired[i].v
		t := p.facts.tree(v.ContentTree)
		if t == nil || t.SHA256 != k.sha {
			continue
		}
		if v.Implicit && v.App == k.app {
			return true
		}
		for _, a := range v.Apps {
			if a == k.app && v.LegacyDrive {
				return true
			}
		}
	}
	return false
}

func (p *planner) unknownFile(f *materials.VolumeFile) {
	p.cleanUpFile(f, fileRef(f.Path), "unknown file")
}

func (p *planner) brokenFile(f *materials.VolumeFile, ref materials.MaterialRef) {
	p.cleanUpFile(f, ref, "broken volume file")
}

// cleanUpFile reports a file edgewright cannot use, and plans its delete
// only when clean-up is asked for.
func (p *planner) cleanUpFile(f *materials.VolumeFile, ref materials.MaterialRef, what string) {
	why := what
	if f.Reason != "" {
		why += " (" + f.Reason + ")"
	}
	if !p.opts.CleanUp {
		p.diag(materials.SeverityWarning, f.Path, string(f.State), why+"; left alone (clean-up not enabled)")
		return
	}
	p.add(remodel.Remodel{
		ID: remodel.NewID(remodel.ActionDelete, ref), Action: remodel.ActionDelete, Target: ref,
		Reason: why + ": deleted by clean-up", Payload: &remodel.DeletePayload{Path: f.Path},
	})
}

func fileBytes(f *materials.VolumeFile) int64 {
	if f.AllocatedSize > 0 {
		return f.AllocatedSize
	}
	return f.ApparentSize
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func additionReason(a *materials.Addition) string {
	if a.Reason != "" {
		return a.Reason
	}
	return "local addition"
}
