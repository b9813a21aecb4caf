package foreman

import (
	"sort"
	"strings"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Marks on floorplan volume files while planning.
const (
	flagCurrent  uint8 = 1 << iota // the desired generation, present
	flagReplaced                   // the old generation a purge replaces
)

// desiredVolume is a Blueprint volume at its effective generation: the
// config's, plus one when a local purge Addition asks for a recreate.
type desiredVolume struct {
	v      *materials.Volume // Generation is the effective one (a copy when a purge changed it)
	purged *materials.Addition
	// asked twice: the next desired volume has the same id (and a higher
	// generation, which wins).
	twice bool
	// making is the create, purge or adopt of this volume in the plan.
	making string
}

type legacyKey struct{ sha, app string }

// volumes plans creates, purges, adopts and resizes of desired volumes,
// and the deletes of volume files no longer wanted.
//
// Which files are deleted (the three-way rule): a new-layout volume file
// `<uuid>#<gen>` that the Blueprint does not want is deleted when
//   - the last applied Blueprint had that exact generation (the config
//     dropped it, or moved to another generation), or
//   - a newer generation of the same uuid is wanted now or was applied last
//     (a superseded generation, e.g. left by an interrupted purge).
//
// Every other file is only reported: no config we know of ever named it.
// An old-layout file is deleted when the last applied Blueprint named it
// (an implicit volume of that app and sha, or a volume adopted from it)
// and this one does not, or when the same app's drive moved to a newer
// purge counter. `.tmp` leftovers go unless their volume is being created
// in this plan; unknown and broken files only with Options.CleanUp.
func (p *planner) volumes() {
	fp, bp := p.fp, p.bp

	// Index the floorplan.
	// New-layout files (complete or broken): their indexes in fp.Volumes,
	// ordered by volume id (path order already is, for one directory), so
	// that the files of one id are a run found by binary search.
	files := make([]int32, 0, len(fp.Volumes))
	flags := make([]uint8, len(fp.Volumes))
	var temps, legacy []*materials.VolumeFile
	legacyBy := map[legacyKey][]*materials.VolumeFile{}
	// runs are the positions in files where a volume id's run starts (and
	// len(files) at the end), found while classifying: once the input
	// outgrows the cache every extra pass of id compares is a cache miss
	// per file.
	runs := make([]int32, 0, len(fp.Volumes)+1)
	// runIDs is each run's volume id: the searches below compare these
	// strings without a load of the file record for each.
	runIDs := make([]string, 0, len(fp.Volumes))
	filesSorted := true
	for i := range fp.Volumes {
		f := &fp.Volumes[i]
		switch {
		case f.State == materials.StateUnknown || (f.ID == "" && f.Legacy == nil):
			p.unknownFile(f)
		case f.Legacy != nil && !f.Temp && f.State != materials.StatePartial:
			legacy = append(legacy, f)
			k := legacyKey{f.Legacy.SHA256, f.Legacy.App}
			legacyBy[k] = append(legacyBy[k], f)
		case f.Temp || f.State == materials.StatePartial:
			temps = append(temps, f)
		default:
			if len(files) == 0 {
				runs = append(runs, 0)
				runIDs = append(runIDs, f.ID)
			} else if c := strings.Compare(f.ID, runIDs[len(runIDs)-1]); c > 0 {
				runs = append(runs, int32(len(files)))
				runIDs = append(runIDs, f.ID)
			} else if c < 0 {
				filesSorted = false
			}
			files = append(files, int32(i))
		}
	}
	if !filesSorted {
		// Path order is id order within one directory; files from both
		// (vault and clear) directories need sorting.
		byFileID := func(a, b int32) bool { return fp.Volumes[a].ID < fp.Volumes[b].ID }
		sort.SliceStable(files, func(i, j int) bool { return byFileID(files[i], files[j]) })
		runs, runIDs = runs[:0], runIDs[:0]
		for i, f := range files {
			if i == 0 || fp.Volumes[f].ID != fp.Volumes[files[i-1]].ID {
				runs = append(runs, int32(i))
				runIDs = append(runIDs, fp.Volumes[f].ID)
			}
		}
	}
	ids := len(runs)
	runs = append(runs, int32(len(files)))
	// filesOf returns the run of files of one volume id, and the run's
	// number (-1 when there is none).
	var filesFinger finger
	filesOf := func(id string) ([]int32, int) {
		k := filesFinger.search(ids, func(k int) bool { return runIDs[k] < id })
		if k == ids || runIDs[k] != id {
			return nil, -1
		}
		return files[runs[k]:runs[k+1]], k
	}
	// runDesired is, per run, the desired volume of its id (set by the
	// walk over desired volumes, which meets them in the same order), so
	// the pass over unwanted files compares no ids again.
	runDesired := make([]int32, ids)
	for k := range runDesired {
		runDesired[k] = -1
	}
	p.presentVolumes = ids + len(legacy)

	// Desired volumes, with local purges applied.
	purges := map[string]*materials.Addition{}
	for i := range bp.Additions {
		a := &bp.Additions[i]
		if a.Kind == materials.AdditionPurge && a.Target.Kind == materials.KindVolume {
			purges[a.Target.ID] = a
		}
	}
	desired := make([]desiredVolume, 0, len(bp.Volumes))
	for i := range bp.Volumes {
		v := &bp.Volumes[i]
		dv := desiredVolume{v: v}
		if len(purges) > 0 {
			if a := purges[v.ID]; a != nil {
				dv.purged = a
			} else if a := purges[v.Key().String()]; a != nil {
				dv.purged = a
			}
		}
		if dv.purged != nil {
			c := *v
			c.Generation++
			dv.v = &c
		}
		desired = append(desired, dv)
	}
	for k, a := range purges {
		if _, err := materials.ParseVolumeKey(k); err != nil {
			continue
		}
		matched := false
		for i := range desired {
			if desired[i].purged == a {
				matched = true
			}
		}
		if !matched {
			p.diag(materials.SeverityWarning, "additions/purge", k, "local purge names a generation the config does not ask for; ignored")
		}
	}
	// One pass of compares finds both whether the volumes need sorting and
	// which ids are asked for twice.
	for i := 1; i < len(desired); i++ {
		old, dv := &desired[i-1], &desired[i]
		c := strings.Compare(old.v.ID, dv.v.ID)
		if c > 0 || c == 0 && old.v.Generation > dv.v.Generation {
			byKey(desired, func(dv desiredVolume) string { return dv.v.ID }, func(a, b desiredVolume) int { return byGeneration(a.v, b.v) })
			for j := range desired {
				desired[j].twice = j+1 < len(desired) && desired[j].v.ID == desired[j+1].v.ID
			}
			break
		}
		old.twice = c == 0
	}
	for i := 1; i < len(desired); i++ {
		if old, dv := &desired[i-1], &desired[i]; old.twice {
			p.diag(materials.SeverityWarning, "volumes/"+dv.v.ID, dv.v.Key().String(), "volume asked for at two generations; the higher one ("+itoa(dv.v.Generation)+") wins over "+itoa(old.v.Generation))
		}
	}
	// desiredOf is the desired volume of an id (the highest generation
	// when it is asked for twice), or nil.
	var desiredFinger finger
	desiredOf := func(id string) *desiredVolume {
		i := desiredFinger.search(len(desired), func(i int) bool { return desired[i].v.ID < id })
		if i == len(desired) || desired[i].v.ID != id {
			return nil
		}
		for i+1 < len(desired) && desired[i+1].v.ID == id {
			i++
		}
		return &desired[i]
	}

	// What the last applied Blueprint named.
	var lastMax map[string]int64 // built on first use
	lastMaxOf := func(id string) int64 {
		if lastMax == nil {
			lastMax = map[string]int64{}
			if p.last != nil {
				for i := range p.last.Volumes {
					v := &p.last.Volumes[i]
					if g, ok := lastMax[v.ID]; !ok || v.Generation > g {
						lastMax[v.ID] = v.Generation
					}
				}
			}
		}
		return lastMax[id]
	}
	lastLegacy := map[legacyKey]bool{}
	if p.last != nil && len(legacy) > 0 {
		for i := range p.last.Volumes {
			v := &p.last.Volumes[i]
			if t := p.lastTreeByID(v.ContentTree); t != nil && t.SHA256 != "" {
				if v.Implicit {
					lastLegacy[legacyKey{t.SHA256, v.App}] = true
				}
				for _, app := range v.Apps {
					lastLegacy[legacyKey{t.SHA256, app}] = true
				}
			}
		}
	}

	// The tree of each desired volume that is made from one.
	treeOf := p.joinTrees(len(desired), func(i int) (string, bool) {
		v := desired[i].v
		return v.ContentTree, v.Origin == materials.OriginDownload
	})
	// The trees some desired volume is made from, for standaloneTrees.
	p.referenced = make([]bool, len(p.trees))
	for _, ti := range treeOf {
		if ti >= 0 {
			p.referenced[ti] = true
		}
	}

	claimed := map[*materials.VolumeFile]bool{} // legacy files adopted or serving in place

	for i := range desired {
		dv := &desired[i]
		if dv.twice {
			continue // asked for twice: the higher generation wins
		}
		v := dv.v
		key := v.Key()
		var cur, older *materials.VolumeFile
		var curI, olderI int32 = -1, -1
		run, k := filesOf(v.ID)
		if k >= 0 {
			runDesired[k] = int32(i)
		}
		for _, j := range run {
			f := &fp.Volumes[j]
			switch {
			case f.Generation == v.Generation:
				if cur == nil || cur.State == materials.StateBroken {
					cur, curI = f, j
				}
			case f.Generation < v.Generation && f.State == materials.StateComplete:
				if older == nil || f.Generation > older.Generation {
					older, olderI = f, j
				}
			}
		}
		var tree *materials.ContentTree
		ti := treeOf[i]
		if ti >= 0 {
			tree = p.trees[ti]
		}
		var cleanDep string
		if cur != nil {
			if cur.State == materials.StateComplete {
				flags[curI] |= flagCurrent
				p.presentVolume(dv, cur, tree, ti)
				continue
			}
		}
		ref := volumeRef(key) // a volume in place needs none: spare the string
		if cur != nil {
			why := "volume file " + cur.Path + " is broken"
			if cur.Reason != "" {
				why += " (" + cur.Reason + ")"
			}
			if !p.opts.CleanUp {
				p.diag(materials.SeverityWarning, cur.Path, key.String(), why+"; left alone (clean-up not enabled)")
				p.holdDirect(remodelID(remodel.ActionCreate, ref), remodel.ActionCreate, ref, why+"; left alone without clean-up")
				flags[curI] |= flagCurrent
				continue
			}
			fr := fileRef(cur.Path)
			n := p.add(remodel.Remodel{
				ID: remodelID(remodel.ActionDelete, fr), Action: remodel.ActionDelete, Target: fr,
				Reason: why + ": deleted to be recreated (clean-up)", Path: cur.Path,
			})
			n.guards = append(n.guards, ref)
			cleanDep = n.r.ID
		}

		// An old-layout file of the same content and app.
		if tree != nil && cleanDep == "" && older == nil {
			if lf := p.legacyFor(dv, tree, legacyBy, claimed); lf != nil {
				if v.Implicit || v.LegacyDrive {
					// The config still names the file by a legacy drive: an
					// old agent may read it after a downgrade. It serves
					// the volume where it is.
					claimed[lf] = true
					continue
				}
				claimed[lf] = true
				vc := *v
				n := p.add(remodel.Remodel{
					ID: remodelID(remodel.ActionAdopt, ref), Action: remodel.ActionAdopt, Target: ref,
					Reason: "old-layout file of app " + lf.Legacy.App + " holds content tree " + treeName(tree) +
						"; the config names it only as volume " + volumeName(v) + " now: move it by rename",
					Volume: &vc, Path: lf.Path,
				})
				n.guards = append(n.guards, fileRef(lf.Path))
				dv.making = n.r.ID
				continue
			}
		}

		// Content first.
		var deps []string
		bytes := v.MaxSizeBytes
		if v.Origin == materials.OriginDownload {
			if tree == nil {
				why := "content tree " + v.ContentTree + " is not in the blueprint"
				for _, w := range p.withheld {
					if w.Kind == materials.KindContentTree && w.ID == v.ContentTree {
						why = "content tree " + v.ContentTree + " is withheld (the config names it but an error kept it out)"
					}
				}
				p.holdDirect(remodelID(remodel.ActionCreate, ref), remodel.ActionCreate, ref, why)
				continue
			}
			ts := &p.stateArr[ti]
			p.want(ts)
			if why := ts.why(); why != "" {
				p.holdDirect(remodelID(remodel.ActionCreate, ref), remodel.ActionCreate, ref, why)
				continue
			}
			if ts.top == "" || !ts.ready {
				continue // the next round plans it, once the tree's blobs are known
			}
			deps = ts.deps()
			if int64(tree.MaxSizeBytes) > bytes {
				bytes = int64(tree.MaxSizeBytes)
			}
		}
		if bytes < 0 {
			bytes = 0
		}
		vc := *v
		var ct *materials.ContentTree
		if tree != nil {
			c := *tree
			ct = &c
		}
		from := "blank"
		if tree != nil {
			from = "from content tree " + treeName(tree)
		}
		var n *node
		if older != nil && cleanDep == "" {
			old := older.Key()
			reason := "generation " + itoa(old.Generation) + " → " + itoa(key.Generation)
			switch {
			case dv.purged != nil:
				reason = "local purge (" + additionReason(dv.purged) + "): " + reason
			case v.Implicit:
				reason = "purge counter " + itoa(old.Generation) + " → " + itoa(key.Generation) + " of app " + v.App
			}
			n = p.add(remodel.Remodel{
				ID: remodelID(remodel.ActionPurge, ref), Action: remodel.ActionPurge, Target: ref,
				Reason: "volume " + volumeName(v) + ": " + reason + " (" + from + ")",
				Volume: &vc, ContentTree: ct, Replaces: &old, Path: older.Path, Bytes: bytes,
			})
			n.frees = fileBytes(older)
			n.guards = append(n.guards, volumeRef(old))
			flags[olderI] |= flagReplaced
		} else {
			reason := "volume " + volumeName(v) + " generation " + itoa(key.Generation) + " not present (" + from + ")"
			if cleanDep != "" {
				reason = "volume " + volumeName(v) + " generation " + itoa(key.Generation) + " recreated after clean-up (" + from + ")"
			}
			n = p.add(remodel.Remodel{
				ID: remodelID(remodel.ActionCreate, ref), Action: remodel.ActionCreate, Target: ref,
				Reason: reason, Volume: &vc, ContentTree: ct, Bytes: bytes,
			})
		}
		p.after(n, deps...)
		if cleanDep != "" {
			p.after(n, cleanDep)
		}
		dv.making = n.r.ID
	}

	// New-layout files nobody wants.
	for k := 0; k < ids; k++ {
		group := files[runs[k]:runs[k+1]]
		id := runIDs[k]
		var dv *desiredVolume
		if i := runDesired[k]; i >= 0 {
			dv = &desired[i]
		}
		for _, j := range group {
			f := &fp.Volumes[j]
			if flags[j]&(flagCurrent|flagReplaced) != 0 {
				continue
			}
			key := f.Key()
			if dv != nil && f.Generation == dv.v.Generation {
				continue // the broken file a clean-up create replaces
			}
			ref := volumeRef(key)
			if f.State == materials.StateBroken {
				p.brokenFile(f, ref)
				continue
			}
			var reason string
			lv := p.lastVolume(key)
			switch {
			case dv != nil && dv.v.Generation > key.Generation:
				reason = "volume " + volumeName(dv.v) + " generation " + itoa(key.Generation) + " superseded by generation " + itoa(dv.v.Generation)
			case lv != nil && dv == nil:
				reason = "volume " + volumeName(lv) + " generation " + itoa(key.Generation) + " dropped from the config"
			case lv != nil:
				reason = "volume " + volumeName(lv) + " generation " + itoa(key.Generation) + " no longer wanted (the config asks for generation " + itoa(dv.v.Generation) + ")"
			case lastMaxOf(id) > key.Generation:
				reason = "volume " + id + " generation " + itoa(key.Generation) + " superseded by generation " + itoa(lastMaxOf(id)) + " of the last applied config"
			default:
				p.diag(materials.SeverityWarning, f.Path, key.String(), "no config we know of named volume "+key.String()+"; left alone")
				continue
			}
			n := p.add(remodel.Remodel{
				ID: remodelID(remodel.ActionDelete, ref), Action: remodel.ActionDelete, Target: ref,
				Reason: reason, Path: f.Path,
			})
			n.drop = dv == nil
			if dv != nil {
				p.after(n, dv.making)
			}
		}
	}

	// Old-layout files.
	for _, f := range legacy {
		if claimed[f] {
			continue
		}
		ref := fileRef(f.Path)
		if f.State == materials.StateBroken {
			p.brokenFile(f, ref)
			continue
		}
		lk := legacyKey{f.Legacy.SHA256, f.Legacy.App}
		var reason, dep string
		drop := false
		if dv := p.implicitFor(lk, desired); dv != nil {
			if f.Legacy.Purge >= dv.v.Generation {
				p.diag(materials.SeverityWarning, f.Path, dv.v.Key().String(), "old-layout file has purge counter "+itoa(f.Legacy.Purge)+", not below the volume's generation "+itoa(dv.v.Generation)+"; left alone")
				continue
			}
			reason = "old-layout file of app " + f.Legacy.App + " superseded by purge counter " + itoa(dv.v.Generation)
			dep = dv.making
		} else if lastLegacy[lk] && !p.namedNow(lk, desired) {
			reason = "old-layout file of app " + f.Legacy.App + " (sha256:" + f.Legacy.SHA256 + ") no longer named by the config"
			drop = true
		} else {
			p.diag(materials.SeverityWarning, f.Path, f.Legacy.App, "old-layout file no config we know of names; left alone")
			continue
		}
		n := p.add(remodel.Remodel{
			ID: remodelID(remodel.ActionDelete, ref), Action: remodel.ActionDelete, Target: ref,
			Reason: reason, Path: f.Path,
		})
		n.drop, n.app = drop, f.Legacy.App
		p.after(n, dep)
	}

	// Work in progress left by an interrupted create.
	for _, f := range temps {
		if f.ID != "" {
			if dv := desiredOf(f.ID); dv != nil && dv.v.Generation == f.Generation && dv.making != "" {
				if n := p.byID[dv.making]; n != nil {
					n.reclaims += fileBytes(f)
				}
				continue // the create in this plan takes it over
			}
		}
		ref := fileRef(f.Path)
		n := p.add(remodel.Remodel{
			ID: remodelID(remodel.ActionDelete, ref), Action: remodel.ActionDelete, Target: ref,
			Reason: "leftover of an interrupted create of volume " + f.Key().String(), Path: f.Path,
		})
		if f.ID != "" {
			n.guards = append(n.guards, volumeRef(f.Key()))
		}
	}
}

// presentVolume checks a desired volume that exists: grow it when smaller than
// maxsizebytes, refuse to shrink it, and report changes made without a
// generation bump (EVE's rule: they are left alone).
func (p *planner) presentVolume(dv *desiredVolume, f *materials.VolumeFile, tree *materials.ContentTree, ti int32) {
	v := dv.v
	var lv *materials.Volume
	if dv.purged == nil {
		lv = p.lastVolume(v.Key()) // unpurged: the config's generation
	}
	if lv != nil {
		var changes []string
		if lv.Origin != v.Origin {
			changes = append(changes, "origin "+string(lv.Origin)+" → "+string(v.Origin))
		}
		if lv.ContentTree != v.ContentTree && lv.Origin == v.Origin {
			changes = append(changes, "content tree "+lv.ContentTree+" → "+v.ContentTree)
		} else if tree != nil {
			if lt := p.lastOf[ti]; lt != nil && (lt.SHA256 != tree.SHA256 || lt.URL != tree.URL) {
				changes = append(changes, "content of tree "+treeName(tree)+" changed")
			}
		}
		if lv.ReadOnly != v.ReadOnly {
			changes = append(changes, "readonly "+boolStr(lv.ReadOnly)+" → "+boolStr(v.ReadOnly))
		}
		if v.MaxSizeBytes < lv.MaxSizeBytes {
			changes = append(changes, "maxSizeBytes "+remodel.Bytes(lv.MaxSizeBytes)+" → "+remodel.Bytes(v.MaxSizeBytes))
		}
		if len(changes) > 0 {
			reason := "volume " + volumeName(v) + ": "
			for i, c := range changes {
				if i > 0 {
					reason += ", "
				}
				reason += c
			}
			reason += " without a generation bump; left alone (EVE's rule: bump the generation to apply)"
			ref := volumeRef(v.Key())
			p.holdDirect(remodelID(remodel.ActionPurge, ref), remodel.ActionPurge, ref, reason)
		}
	}
	if f.Dir || v.Format == materials.FormatContainer || v.MaxSizeBytes <= 0 || f.VirtualSize <= 0 {
		return
	}
	switch {
	case f.VirtualSize < v.MaxSizeBytes:
		reason := "volume " + volumeName(v) + ": virtual size " + remodel.Bytes(f.VirtualSize) + " below maxSizeBytes " + remodel.Bytes(v.MaxSizeBytes) + ": grow"
		if lv != nil && lv.MaxSizeBytes < v.MaxSizeBytes {
			reason = "volume " + volumeName(v) + ": maxSizeBytes raised " + remodel.Bytes(lv.MaxSizeBytes) + " → " + remodel.Bytes(v.MaxSizeBytes) + " without a generation bump: grown in place (growing loses nothing; shrinking is refused)"
		}
		vc := *v
		ref := volumeRef(v.Key())
		p.add(remodel.Remodel{
			ID: remodelID(remodel.ActionResize, ref), Action: remodel.ActionResize, Target: ref,
			Reason: reason, Volume: &vc, Path: f.Path,
		})
	case f.VirtualSize > v.MaxSizeBytes:
		ref := volumeRef(v.Key())
		p.holdDirect(remodelID(remodel.ActionResize, ref), remodel.ActionResize, ref,
			"volume "+volumeName(v)+": virtual size "+remodel.Bytes(f.VirtualSize)+" above maxSizeBytes "+remodel.Bytes(v.MaxSizeBytes)+": shrinking is refused")
	}
}

// legacyFor finds the old-layout file a desired volume can be made of:
// same content sha and an app that refers to the volume (for an implicit
// volume, its app and a purge counter equal to its generation). The
// highest purge counter wins, then the path.
func (p *planner) legacyFor(dv *desiredVolume, tree *materials.ContentTree, by map[legacyKey][]*materials.VolumeFile, claimed map[*materials.VolumeFile]bool) *materials.VolumeFile {
	if tree.SHA256 == "" || len(by) == 0 {
		return nil
	}
	v := dv.v
	apps := v.Apps
	if v.Implicit {
		apps = []string{v.App}
	}
	var best *materials.VolumeFile
	for _, app := range apps {
		for _, f := range by[legacyKey{tree.SHA256, app}] {
			if claimed[f] || f.State != materials.StateComplete {
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
func (p *planner) implicitFor(k legacyKey, desired []desiredVolume) *desiredVolume {
	for i := range desired {
		dv := &desired[i]
		if dv.v.Implicit && dv.v.App == k.app {
			if t := p.tree(dv.v.ContentTree); t != nil && t.SHA256 == k.sha {
				return dv
			}
		}
	}
	return nil
}

// namedNow reports whether the Blueprint still names (sha, app) by a
// legacy drive, or refers that app to a volume of that content.
func (p *planner) namedNow(k legacyKey, desired []desiredVolume) bool {
	for i := range desired {
		v := desired[i].v
		t := p.tree(v.ContentTree)
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
		ID: remodelID(remodel.ActionDelete, ref), Action: remodel.ActionDelete, Target: ref,
		Reason: why + ": deleted by clean-up", Path: f.Path,
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
