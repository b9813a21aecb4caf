package architect

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

// ImplicitVolumeNamespace is the UUID namespace of the volumes edgewright
// makes for legacy drives. It is itself uuid.NewSHA1(uuid.NameSpaceURL,
// "https://github.com/edgewright/edgewright#implicit-volume"), fixed forever:
// changing it would rename every legacy volume on every device.
var ImplicitVolumeNamespace = uuid.MustParse("da14c808-e0a7-5bb6-aadb-981dc9f4bb7a")

// ImplicitVolumeID is the id of the volume made for the drive of app whose
// image is image (both canonical UUIDs): a name-based UUID, so the same
// (app, image) pair always gets the same volume.
func ImplicitVolumeID(app, image string) string {
	return uuid.NewSHA1(ImplicitVolumeNamespace, []byte(app+"/"+image)).String()
}

// Draw turns a decoded config into a Blueprint. Every problem is reported;
// an error withholds only the material it concerns (and those that need
// it), which are then listed in Blueprint.Withheld so that no later stage
// deletes them. Draw never panics on any config and its output is sorted,
// so equal configs give equal Blueprints.
func Draw(cfg *eve.EdgeDevConfig) *materials.Blueprint {
	bp := emptyBlueprint()
	if cfg == nil {
		bp.Diagnostics = append(bp.Diagnostics, materials.Diagnostic{
			Severity: materials.SeverityError, Path: "config", Message: "no config",
		})
		return bp
	}
	bp.Complete = true
	d := &drawer{
		withheld: map[materials.MaterialRef]bool{},
		ds:       map[string]*dsEntry{},
		trees:    map[string]*treeEntry{},
		vols:     make(map[string]*volEntry, len(cfg.GetVolumes())),
	}
	bp.Epoch = cfg.GetControllerEpoch()
	d.datastores(cfg.GetDatastores())
	d.contentTrees(cfg.GetContentInfo())
	d.volumes(cfg.GetVolumes())
	d.apps(cfg.GetApps())
	d.fill(bp)
	return bp
}

// addApp notes that app refers to the volume.
func (e *volEntry) addApp(app string) {
	if !slices.Contains(e.apps, app) {
		e.apps = append(e.apps, app)
	}
}

type dsEntry struct {
	ds materials.Datastore
	ok bool // false: withheld by an error
}

type treeEntry struct {
	tree     materials.ContentTree
	path     string // where it was defined
	ok       bool
	explicit bool // from contentInfo, not from a legacy drive
}

type volEntry struct {
	vol materials.Volume
	ok  bool
	// apps refer to the volume, each once (a handful: a slice, not a map).
	apps []string
	// purge is the sum of the purge counters of the apps whose first
	// volume ref this is, added to the generation in fill.
	purge int64
}

// appEntry is an app with volume refs, its refs in config order.
type appEntry struct {
	app   materials.App
	refs  []*volEntry
	dirs  []string
	snaps []materials.Snapshot
}

type drawer struct {
	diags    materials.Diagnostics
	withheld map[materials.MaterialRef]bool
	ds       map[string]*dsEntry
	trees    map[string]*treeEntry
	vols     map[string]*volEntry
	appList  []*appEntry
}

func (d *drawer) err(path, value, msg string) {
	d.diags = append(d.diags, materials.Diagnostic{Severity: materials.SeverityError, Path: path, Value: value, Message: msg})
}

func (d *drawer) warn(path, value, msg string) {
	d.diags = append(d.diags, materials.Diagnostic{Severity: materials.SeverityWarning, Path: path, Value: value, Message: msg})
}

func (d *drawer) withhold(kind materials.MaterialKind, id string) {
	if id != "" {
		d.withheld[materials.MaterialRef{Kind: kind, ID: id}] = true
	}
}

// duplicates maps each canonical id that occurs more than once to the index
// of its first occurrence.
func duplicates(n int, id func(i int) string) map[string]int {
	first := map[string]int{}
	dup := map[string]int{}
	for i := 0; i < n; i++ {
		c, p := canonicalUUID(id(i))
		if p != "" {
			continue
		}
		if f, seen := first[c]; seen {
			dup[c] = f
		} else {
			first[c] = i
		}
	}
	return dup
}

func (d *drawer) datastores(list []*eve.DatastoreConfig) {
	dup := duplicates(len(list), func(i int) string { return list[i].GetId() })
	for i, c := range list {
		path := fmt.Sprintf("datastores[%d]", i)
		id, p := canonicalUUID(c.GetId())
		ok := p == ""
		if !ok {
			d.err(path+".id", c.GetId(), p)
			d.withhold(materials.KindDatastore, c.GetId())
		} else if f, isDup := dup[id]; isDup {
			ok = false
			if f != i {
				d.err(path+".id", c.GetId(), fmt.Sprintf("duplicate datastore id (also at datastores[%d]); every definition is withheld", f))
			}
		}
		typ, p := datastoreType(c.GetDType())
		if p != "" {
			ok = false
			d.err(path+".dType", c.GetDType().String(), p)
		}
		if c.GetFqdn() == "" {
			ok = false
			d.err(path+".fqdn", "", "empty fqdn")
		} else if p := textProblem(c.GetFqdn()); p != "" {
			ok = false
			d.err(path+".fqdn", c.GetFqdn(), "fqdn "+p)
		}
		if p := textProblem(c.GetDpath()); p != "" {
			ok = false
			d.err(path+".dpath", c.GetDpath(), "dpath "+p)
		} else if field, value, p := datastoreShape(typ, c); p != "" {
			ok = false
			d.err(path+"."+field, value, p)
		}
		if id == "" {
			continue
		}
		if e, seen := d.ds[id]; seen {
			e.ok = false
			continue
		}
		var certs [][]byte
		for _, pem := range c.GetDsCertPEM() {
			certs = append(certs, append([]byte(nil), pem...))
		}
		d.ds[id] = &dsEntry{ok: ok, ds: materials.Datastore{
			ID:             id,
			Type:           typ,
			FQDN:           c.GetFqdn(),
			Path:           c.GetDpath(),
			Region:         c.GetRegion(),
			HasCredentials: c.GetApiKey() != "" || c.GetPassword() != "" || c.GetCipherData() != nil,
			APIKey:         c.GetApiKey(),
			Password:       c.GetPassword(),
			CertPEM:        certs,
		}}
	}
	for id, e := range d.ds {
		if !e.ok {
			d.withhold(materials.KindDatastore, id)
		}
	}
}

// dsRef is one datastore reference of a content tree, with its field path.
type dsRef struct{ path, value string }

// treeSpec is a content tree to check, from contentInfo or from a legacy
// drive's image; the field paths differ, the rules do not.
type treeSpec struct {
	path                         string
	urlField, shaField, fmtField string
	url, sha                     string
	format                       eve.Format
	dsRefs                       []dsRef
	noDSPath                     string
	sizeField                    string
	size                         int64
	sizeProblem                  string
	sig                          *eve.SignatureInfo
}

// buildTree checks everything about a content tree but its id, reporting
// each problem, and returns the tree and whether it may stand.
func (d *drawer) buildTree(s treeSpec) (materials.ContentTree, bool) {
	ok := true
	t := materials.ContentTree{URL: s.url, Datastores: []string{}}
	// Datastores, in order of preference.
	var withheldRefs []dsRef
	registry := false
	seen := map[string]bool{}
	for _, r := range s.dsRefs {
		id, p := canonicalUUID(r.value)
		if p != "" {
			ok = false
			d.err(r.path, r.value, p)
			continue
		}
		e := d.ds[id]
		switch {
		case e == nil:
			ok = false
			d.err(r.path, r.value, "no datastore with this id")
		case seen[id]:
			d.warn(r.path, r.value, "datastore listed twice")
		case !e.ok:
			withheldRefs = append(withheldRefs, r)
		default:
			t.Datastores = append(t.Datastores, id)
			registry = registry || e.ds.Type == materials.DatastoreContainerRegistry
		}
		seen[id] = true
	}
	if len(s.dsRefs) == 0 {
		ok = false
		d.err(s.noDSPath, "", "content tree names no datastore")
	}
	for _, r := range withheldRefs {
		if len(t.Datastores) == 0 {
			ok = false
			d.err(r.path, r.value, msgWithheldDS)
		} else {
			d.warn(r.path, r.value, msgWithheldDS+"; the content tree uses its other datastores")
		}
	}
	// URL.
	var pinned string
	if p := urlProblem(s.url); p != "" {
		ok = false
		d.err(s.path+"."+s.urlField, s.url, p)
	} else if registry {
		dig, p := registryRef(s.url)
		if p != "" {
			ok = false
			d.err(s.path+"."+s.urlField, s.url, p)
		}
		pinned = dig
	}
	// Digest.
	if s.sha != "" {
		sha, p := checkSHA256(s.sha)
		if p != "" {
			ok = false
			d.err(s.path+"."+s.shaField, s.sha, p)
		} else if pinned != "" && sha != pinned {
			ok = false
			d.err(s.path+"."+s.shaField, s.sha, "sha256 differs from the digest in URL")
		}
		t.SHA256 = sha
	} else {
		t.SHA256 = pinned
	}
	f, p := format(s.format)
	if s.sha == "" && pinned == "" && !registry && f != materials.FormatContainer && p == "" {
		// Only a registry can resolve a tag to a digest; anything else
		// downloaded without one cannot be verified.
		d.warn(s.path+"."+s.shaField, "", "no sha256: the download cannot be verified")
	}
	if p != "" {
		ok = false
		d.err(s.path+"."+s.fmtField, s.format.String(), p)
	}
	t.Format = f
	if s.sizeProblem != "" {
		ok = false
		d.err(s.path+"."+s.sizeField, strconv.FormatInt(s.size, 10), s.sizeProblem)
	} else {
		t.MaxSizeBytes = uint64(s.size)
	}
	if sig := s.sig; sig != nil && (sig.GetIntercertsurl() != "" || sig.GetSignercerturl() != "" || len(sig.GetSignature()) > 0) {
		t.Signature = &materials.Signature{
			IntermediateCertsURL: sig.GetIntercertsurl(),
			SignerCertURL:        sig.GetSignercerturl(),
			Signature:            append([]byte(nil), sig.GetSignature()...),
		}
		d.warn(s.path+".siginfo", "", "signature is not checked by edgewright (only the sha256 is); the caller must verify it if required")
	}
	return t, ok
}

func (d *drawer) contentTrees(list []*eve.ContentTree) {
	dup := duplicates(len(list), func(i int) string { return list[i].GetUuid() })
	for i, c := range list {
		path := fmt.Sprintf("contentInfo[%d]", i)
		id, p := canonicalUUID(c.GetUuid())
		ok := p == ""
		if !ok {
			d.err(path+".uuid", c.GetUuid(), p)
			d.withhold(materials.KindContentTree, c.GetUuid())
		} else if f, isDup := dup[id]; isDup {
			ok = false
			if f != i {
				d.err(path+".uuid", c.GetUuid(), fmt.Sprintf("duplicate content tree id (also at contentInfo[%d]); every definition is withheld", f))
			}
		}
		spec := treeSpec{
			path: path, urlField: "URL", shaField: "sha256", fmtField: "iformat",
			url: c.GetURL(), sha: c.GetSha256(), format: c.GetIformat(),
			noDSPath: path + ".dsId", sizeField: "maxSizeBytes", sig: c.GetSiginfo(),
		}
		spec.size, spec.sizeProblem = uint64Size(c.GetMaxSizeBytes())
		if list := c.GetDsIdsList(); len(list) > 0 {
			for j, ds := range list {
				spec.dsRefs = append(spec.dsRefs, dsRef{fmt.Sprintf("%s.ds_ids_list[%d]", path, j), ds})
			}
		} else if c.GetDsId() != "" {
			spec.dsRefs = []dsRef{{path + ".dsId", c.GetDsId()}}
		}
		t, tok := d.buildTree(spec)
		ok = ok && tok
		if g := c.GetGenerationCount(); g < 0 {
			ok = false
			d.err(path+".generation_count", strconv.FormatInt(g, 10), msgNegativeGen)
		} else {
			t.Generation = g
		}
		if id == "" {
			continue
		}
		if e, seen := d.trees[id]; seen {
			e.ok = false
			d.withhold(materials.KindContentTree, id)
			continue
		}
		t.ID = id
		t.DisplayName = c.GetDisplayName()
		t.CustomMetaData = c.GetCustomMetaData()
		d.trees[id] = &treeEntry{tree: t, path: path, ok: ok, explicit: true}
		if !ok {
			d.withhold(materials.KindContentTree, id)
		}
	}
}

func (d *drawer) volumes(list []*eve.Volume) {
	dup := duplicates(len(list), func(i int) string { return list[i].GetUuid() })
	for i, c := range list {
		path := fmt.Sprintf("volumes[%d]", i)
		id, p := canonicalUUID(c.GetUuid())
		ok := p == ""
		if !ok {
			d.err(path+".uuid", c.GetUuid(), p)
			d.withhold(materials.KindVolume, c.GetUuid())
		} else if f, isDup := dup[id]; isDup {
			ok = false
			if f != i {
				d.err(path+".uuid", c.GetUuid(), fmt.Sprintf("duplicate volume id (also at volumes[%d]); every definition is withheld", f))
			}
		}
		v := materials.Volume{
			ID:           id,
			Generation:   c.GetGenerationCount(),
			DisplayName:  c.GetDisplayName(),
			MaxSizeBytes: c.GetMaxsizebytes(),
			ReadOnly:     c.GetReadonly(),
			ClearText:    c.GetClearText(),
		}
		if c.GetTarget() != eve.Target_TgtUnknown {
			v.Target = c.GetTarget().String()
		}
		if v.Generation < 0 {
			ok = false
			d.err(path+".generationCount", strconv.FormatInt(v.Generation, 10), msgNegativeGen)
		}
		if v.MaxSizeBytes < 0 {
			ok = false
			d.err(path+".maxsizebytes", strconv.FormatInt(v.MaxSizeBytes, 10), msgNegativeSize)
		}
		o := c.GetOrigin()
		switch t := o.GetType(); {
		case o == nil:
			ok = false
			d.err(path+".origin", "", "volume has no origin")
		case t == eve.VolumeContentOriginType_VCOT_BLANK:
			v.Origin, v.Format = materials.OriginBlank, materials.FormatQcow2
			if v.MaxSizeBytes == 0 {
				ok = false
				d.err(path+".maxsizebytes", "0", "blank volume needs maxsizebytes > 0")
			}
			if o.GetDownloadContentTreeID() != "" {
				d.warn(path+".origin.downloadContentTreeID", o.GetDownloadContentTreeID(), "ignored for a blank volume")
			}
		case t == eve.VolumeContentOriginType_VCOT_DOWNLOAD:
			v.Origin = materials.OriginDownload
			tp := path + ".origin.downloadContentTreeID"
			raw := o.GetDownloadContentTreeID()
			tid, p := canonicalUUID(raw)
			te := d.trees[tid]
			switch {
			case p != "":
				ok = false
				d.err(tp, raw, p)
			case te == nil:
				ok = false
				d.err(tp, raw, "no content tree with this id")
			case !te.ok:
				ok = false
				d.err(tp, raw, msgWithheldTree)
			default:
				v.ContentTree = tid
				v.Format = volumeFormat(te.tree.Format)
			}
		case t == eve.VolumeContentOriginType_VCOT_UNKNOWN:
			ok = false
			d.err(path+".origin.type", t.String(), "volume origin type is not set (VCOT_UNKNOWN)")
		default:
			ok = false
			d.err(path+".origin.type", t.String(), "unknown volume origin type "+strconv.Itoa(int(t)))
		}
		if id == "" {
			continue
		}
		if e, seen := d.vols[id]; seen {
			e.ok = false
			d.withhold(materials.KindVolume, id)
			continue
		}
		d.vols[id] = &volEntry{vol: v, ok: ok}
		if !ok {
			d.withhold(materials.KindVolume, id)
		}
	}
}

func (d *drawer) apps(list []*eve.AppInstanceConfig) {
	dup := duplicates(len(list), func(i int) string { return list[i].GetUuidandversion().GetUuid() })
	for i, a := range list {
		path := fmt.Sprintf("apps[%d]", i)
		raw := a.GetUuidandversion().GetUuid()
		appID, p := canonicalUUID(raw)
		appOK := p == ""
		if !appOK {
			d.err(path+".uuidandversion.uuid", raw, p)
			d.withhold(materials.KindApp, raw)
		} else if f, isDup := dup[appID]; isDup {
			appOK = false
			d.withhold(materials.KindApp, appID)
			if f != i {
				d.err(path+".uuidandversion.uuid", raw, fmt.Sprintf("duplicate app id (also at apps[%d]); every definition is withheld", f))
			}
		}
		refs, drives := a.GetVolumeRefList(), a.GetDrives()
		switch {
		case len(refs) > 0:
			// New style, or transition phase 1: the volume refs win and
			// the drives are only cross-checked.
			used, dirs, refsOK := d.volumeRefs(path, appID, appOK, refs)
			if len(drives) > 0 {
				d.crossCheck(path, drives, used)
			}
			d.firstRefPurge(path, a, appOK, used)
			owner := appID
			if !appOK {
				owner = raw
			}
			sn := d.snapshots(path, owner, appOK && refsOK, a.GetSnapshot())
			if appOK && refsOK {
				d.appList = append(d.appList, &appEntry{refs: used, dirs: dirs, snaps: sn.snaps, app: materials.App{
					ID:               appID,
					Version:          a.GetUuidandversion().GetVersion(),
					DisplayName:      a.GetDisplayname(),
					PurgeCounter:     a.GetPurge().GetCounter(),
					ActiveSnapshot:   sn.active,
					RollbackCounter:  sn.counter,
					MaxSnapshots:     sn.max,
					RollbackWithheld: sn.rollbackWithheld,
				}})
			}
		case len(drives) > 0:
			d.legacyDrives(path, a, appID, appOK)
			if len(a.GetSnapshot().GetSnapshots()) > 0 || a.GetSnapshot().GetRollbackCmd().GetCounter() > 0 {
				d.warn(path+".snapshot", "", "snapshots of an app with legacy drives (no volume refs) are not supported: ignored")
			}
		}
	}
}

// volumeRefs checks an app's volume refs and counts the app on each volume
// it validly refers to. It returns, per ref, the volume or nil and the
// mount dir, and whether no ref was kept out by an error.
func (d *drawer) volumeRefs(path, appID string, appOK bool, refs []*eve.VolumeRef) ([]*volEntry, []string, bool) {
	out := make([]*volEntry, len(refs))
	dirs := make([]string, len(refs))
	seen := map[string]bool{}
	ok := true
	for j, r := range refs {
		rp := fmt.Sprintf("%s.volumeRefList[%d]", path, j)
		id, p := canonicalUUID(r.GetUuid())
		if p != "" {
			ok = false
			d.err(rp+".uuid", r.GetUuid(), p)
			continue
		}
		e := d.vols[id]
		switch {
		case e == nil:
			ok = false
			d.err(rp+".uuid", r.GetUuid(), "no volume with this id")
			continue
		case !e.ok:
			ok = false
			continue // the volume's own diagnostic says why
		case r.GetGenerationCount() != e.vol.Generation:
			ok = false
			d.err(rp+".generationCount", strconv.FormatInt(r.GetGenerationCount(), 10),
				fmt.Sprintf("generation differs from the volume's generationCount %d", e.vol.Generation))
			continue
		case seen[id]:
			d.warn(rp+".uuid", r.GetUuid(), "volume referred to twice by this app")
			continue
		}
		if p := textProblem(r.GetMountDir()); p != "" {
			// The agent would mount at this path: the app is left out, the
			// volume stands.
			ok = false
			d.err(rp+".mount_dir", r.GetMountDir(), "mount_dir "+p)
		}
		seen[id] = true
		out[j] = e
		dirs[j] = r.GetMountDir()
		if appOK {
			e.addApp(appID)
		}
	}
	return out, dirs, ok
}

// firstRefPurge follows upstream: an app's purge counter re-creates the
// content of its first volume ref. The counter is added to that volume's
// generation (in fill), so the rule is level-triggered from the config
// alone. A withheld app's counter is unknown, so a volume it would purge
// is withheld too rather than drawn at a generation that may be wrong.
func (d *drawer) firstRefPurge(path string, a *eve.AppInstanceConfig, appOK bool, used []*volEntry) {
	c := a.GetPurge().GetCounter()
	if c == 0 || len(used) == 0 || used[0] == nil {
		return
	}
	e := used[0]
	if !appOK {
		e.ok = false
		d.withhold(materials.KindVolume, e.vol.ID)
		d.err(path+".purge.counter", strconv.FormatUint(uint64(c), 10),
			"the app is withheld, so its purge of the first volume ref "+e.vol.ID+" is unknown: the volume is withheld")
		return
	}
	e.purge += int64(c)
}

// crossCheck compares drive i with volume ref i of a phase-1 app; the
// volume refs win, so disagreements are warnings. A volume paired with a
// drive of its kind is marked LegacyDrive.
func (d *drawer) crossCheck(path string, drives []*eve.Drive, used []*volEntry) {
	if len(drives) != len(used) {
		d.warn(path+".drives", strconv.Itoa(len(drives)),
			fmt.Sprintf("%d drives but %d volume refs; the volume refs win", len(drives), len(used)))
	}
	for k := 0; k < len(drives) && k < len(used); k++ {
		e := used[k]
		if e == nil {
			continue
		}
		dp := fmt.Sprintf("%s.drives[%d]", path, k)
		dr, v := drives[k], e.vol
		img := dr.GetImage()
		switch {
		case dr.GetDrvtype() == eve.DriveType_HDD_EMPTY:
			if v.Origin != materials.OriginBlank {
				d.warn(dp+".drvtype", dr.GetDrvtype().String(), "drive is HDD_EMPTY but the referenced volume is not blank")
			} else {
				e.vol.LegacyDrive = true
			}
		case v.Origin == materials.OriginBlank:
			d.warn(dp+".drvtype", dr.GetDrvtype().String(), "drive has an image but the referenced volume is blank")
		default:
			// An old agent given this config after a downgrade would use the
			// drive: the foreman keeps its old-layout file.
			e.vol.LegacyDrive = true
			te := d.trees[v.ContentTree]
			if te == nil {
				break
			}
			t := te.tree
			if img.GetName() != t.URL {
				d.warn(dp+".image.name", img.GetName(), fmt.Sprintf("drive image name differs from the referenced volume's content tree URL %q", t.URL))
			}
			if f, p := format(img.GetIformat()); p != "" {
				d.warn(dp+".image.iformat", img.GetIformat().String(), "drive image "+p)
			} else if f != t.Format {
				d.warn(dp+".image.iformat", img.GetIformat().String(), fmt.Sprintf("drive image format differs from the referenced volume's content tree format %s", t.Format))
			}
			if sha := img.GetSha256(); sha != "" && t.SHA256 != "" && !strings.EqualFold(sha, t.SHA256) {
				d.warn(dp+".image.sha256", sha, "drive image sha256 differs from the referenced volume's content tree sha256 "+t.SHA256)
			}
		}
		if dr.GetReadonly() != v.ReadOnly {
			d.warn(dp+".readonly", strconv.FormatBool(dr.GetReadonly()), fmt.Sprintf("drive readonly differs from the referenced volume's readonly %t", v.ReadOnly))
		}
	}
}

// legacyDrives makes one implicit volume per drive of an app that has no
// volume refs: id from (app, image), generation from the purge counter,
// content tree from the image (or blank for HDD_EMPTY).
func (d *drawer) legacyDrives(path string, a *eve.AppInstanceConfig, appID string, appOK bool) {
	gen := int64(a.GetPurge().GetCounter())
	seenImg := map[string]int{}
	for k, dr := range a.GetDrives() {
		dp := fmt.Sprintf("%s.drives[%d]", path, k)
		ok := appOK
		img := dr.GetImage()
		if img == nil {
			d.err(dp+".image", "", "drive has no image")
			d.withhold(materials.KindApp, appID)
			continue
		}
		imgRaw := img.GetUuidandversion().GetUuid()
		imgID, p := canonicalUUID(imgRaw)
		if p != "" {
			ok = false
			d.err(dp+".image.uuidandversion.uuid", imgRaw, p)
			d.withhold(materials.KindApp, appID)
		} else if m, dupImg := seenImg[imgID]; dupImg {
			ok = false
			d.err(dp+".image.uuidandversion.uuid", imgRaw, fmt.Sprintf("image used by two drives of this app (also drives[%d])", m))
		} else {
			seenImg[imgID] = k
		}
		v := materials.Volume{
			Generation:   gen,
			DisplayName:  a.GetDisplayname(),
			MaxSizeBytes: dr.GetMaxsizebytes(),
			ReadOnly:     dr.GetReadonly(),
			Implicit:     true,
			App:          appID,
			Image:        imgID,
		}
		if v.MaxSizeBytes < 0 {
			ok = false
			d.err(dp+".maxsizebytes", strconv.FormatInt(v.MaxSizeBytes, 10), msgNegativeSize)
		}
		if dr.GetDrvtype() == eve.DriveType_HDD_EMPTY {
			v.Origin, v.Format = materials.OriginBlank, materials.FormatQcow2
			if v.MaxSizeBytes == 0 {
				ok = false
				d.err(dp+".maxsizebytes", "0", "HDD_EMPTY drive needs maxsizebytes > 0")
			}
		} else {
			t, tok := d.implicitTree(dp, img, imgID, appOK)
			ok = ok && tok
			v.Origin, v.ContentTree, v.Format = materials.OriginDownload, imgID, volumeFormat(t.Format)
		}
		if appID == "" || imgID == "" {
			continue
		}
		v.ID = ImplicitVolumeID(appID, imgID)
		if e, seen := d.vols[v.ID]; seen {
			e.ok = false
			d.withhold(materials.KindVolume, v.ID)
			continue
		}
		e := &volEntry{vol: v, ok: ok}
		if appOK {
			e.addApp(appID)
		}
		d.vols[v.ID] = e
		if !ok {
			d.withhold(materials.KindVolume, v.ID)
		}
	}
}

// implicitTree finds or makes the content tree of a legacy drive's image,
// identified by the image uuid. Apps sharing an image share one tree; an
// explicit content tree with the same id wins over the image.
func (d *drawer) implicitTree(dp string, img *eve.Image, imgID string, appOK bool) (materials.ContentTree, bool) {
	ip := dp + ".image"
	if e := d.trees[imgID]; imgID != "" && e != nil && e.explicit {
		if !e.ok {
			d.err(ip+".uuidandversion.uuid", imgID, msgWithheldTree)
			return e.tree, false
		}
		if img.GetName() != e.tree.URL {
			d.warn(ip+".name", img.GetName(), "image uuid names the content tree at "+e.path+" whose URL differs; the content tree wins")
		}
		return e.tree, true
	}
	spec := treeSpec{
		path: ip, urlField: "name", shaField: "sha256", fmtField: "iformat",
		url: img.GetName(), sha: img.GetSha256(), format: img.GetIformat(),
		noDSPath: ip + ".dsId", sizeField: "sizeBytes", size: img.GetSizeBytes(), sig: img.GetSiginfo(),
	}
	if spec.size < 0 {
		spec.sizeProblem = msgNegativeSize
	}
	if img.GetDsId() != "" {
		spec.dsRefs = []dsRef{{ip + ".dsId", img.GetDsId()}}
	}
	t, ok := d.buildTree(spec)
	if imgID == "" {
		return t, false
	}
	t.ID, t.DisplayName, t.Implicit = imgID, img.GetName(), true
	if !appOK {
		d.withhold(materials.KindContentTree, imgID)
		return t, false
	}
	if e := d.trees[imgID]; e != nil {
		switch {
		case !ok:
			return t, false
		case !e.ok:
			d.err(ip+".uuidandversion.uuid", imgID, msgWithheldTree)
			return t, false
		case !sameTree(e.tree, t):
			d.err(ip, imgID, "image differs from its first use at "+e.path)
			return t, false
		}
		return e.tree, true
	}
	d.trees[imgID] = &treeEntry{tree: t, path: ip, ok: ok}
	if !ok {
		d.withhold(materials.KindContentTree, imgID)
	}
	return t, ok
}

func sameTree(a, b materials.ContentTree) bool {
	if a.URL != b.URL || a.SHA256 != b.SHA256 || a.Format != b.Format || a.MaxSizeBytes != b.MaxSizeBytes ||
		len(a.Datastores) != len(b.Datastores) {
		return false
	}
	for i := range a.Datastores {
		if a.Datastores[i] != b.Datastores[i] {
			return false
		}
	}
	return true
}

// fill copies the materials that stand into bp and sorts everything.
func (d *drawer) fill(bp *materials.Blueprint) {
	// Sized once: a device keeps its last Blueprint (the journal's
	// checkpoint), so the slack of a doubling append stays with it.
	present := make(map[materials.MaterialRef]bool, len(d.ds)+len(d.trees)+len(d.vols))
	bp.Volumes = slices.Grow(bp.Volumes, len(d.vols))
	for id, e := range d.ds {
		if e.ok {
			bp.Datastores = append(bp.Datastores, e.ds)
			present[materials.MaterialRef{Kind: materials.KindDatastore, ID: id}] = true
		}
	}
	for id, e := range d.trees {
		if e.ok {
			bp.ContentTrees = append(bp.ContentTrees, e.tree)
			present[materials.MaterialRef{Kind: materials.KindContentTree, ID: id}] = true
		}
	}
	for id, e := range d.vols {
		if !e.ok || e.purge == 0 {
			continue
		}
		if e.vol.Generation > math.MaxInt64-e.purge {
			e.ok = false
			d.withhold(materials.KindVolume, id)
			d.err("volumes/"+id, strconv.FormatInt(e.vol.Generation, 10),
				fmt.Sprintf("generationCount plus the apps' purge counters (%d) overflows", e.purge))
			continue
		}
		e.vol.Generation += e.purge
		e.vol.AppPurges = e.purge
	}
	// Every volume's app list in one array: a device keeps its last
	// Blueprint, as one object rather than one per volume.
	n := 0
	for _, e := range d.vols {
		n += len(e.apps)
	}
	apps := make([]string, 0, n)
	for id, e := range d.vols {
		if !e.ok {
			continue
		}
		v := e.vol
		if len(e.apps) > 0 {
			start := len(apps)
			apps = append(apps, e.apps...)
			v.Apps = apps[start:len(apps):len(apps)]
			slices.Sort(v.Apps)
		}
		v.RefCount = len(v.Apps) + 1
		bp.Volumes = append(bp.Volumes, v)
		present[materials.MaterialRef{Kind: materials.KindVolume, ID: id}] = true
	}
apps:
	for _, a := range d.appList {
		app := a.app
		app.VolumeRefs = make([]materials.VolumeRef, 0, len(a.refs))
		for j, e := range a.refs {
			if e == nil {
				continue // referred to twice: the first ref stands
			}
			if !e.ok {
				// Withheld since: the app is incomplete, and so are the
				// volume lists of its snapshots.
				for _, s := range a.snaps {
					d.withhold(materials.KindSnapshot, materials.SnapshotRefID(app.ID, s.ID))
				}
				continue apps
			}
			app.VolumeRefs = append(app.VolumeRefs, materials.VolumeRef{Volume: e.vol.ID, Generation: e.vol.Generation, MountDir: a.dirs[j]})
		}
		bp.Apps = append(bp.Apps, app)
		for _, s := range a.snaps {
			s.App = app.ID
			s.Volumes = append([]materials.VolumeRef(nil), app.VolumeRefs...)
			bp.Snapshots = append(bp.Snapshots, s)
			present[s.Ref()] = true
		}
	}
	for ref := range d.withheld {
		if !present[ref] {
			bp.Withheld = append(bp.Withheld, ref)
		}
	}
	sort.Slice(bp.Datastores, func(i, j int) bool { return bp.Datastores[i].ID < bp.Datastores[j].ID })
	sort.Slice(bp.ContentTrees, func(i, j int) bool { return bp.ContentTrees[i].ID < bp.ContentTrees[j].ID })
	sort.Slice(bp.Apps, func(i, j int) bool { return bp.Apps[i].ID < bp.Apps[j].ID })
	sort.Slice(bp.Snapshots, func(i, j int) bool {
		if bp.Snapshots[i].App != bp.Snapshots[j].App {
			return bp.Snapshots[i].App < bp.Snapshots[j].App
		}
		return bp.Snapshots[i].ID < bp.Snapshots[j].ID
	})
	sort.Slice(bp.Volumes, func(i, j int) bool { return bp.Volumes[i].Key().Less(bp.Volumes[j].Key()) })
	sort.Slice(bp.Withheld, func(i, j int) bool { return refLess(bp.Withheld[i], bp.Withheld[j]) })
	bp.Diagnostics = append(bp.Diagnostics, d.diags...)
	SortDiagnostics(bp.Diagnostics)
}

func refLess(a, b materials.MaterialRef) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	return a.ID < b.ID
}

// SortDiagnostics orders diagnostics by path, then message, value and
// severity: a total order, so equal inputs print equal reports.
func SortDiagnostics(ds materials.Diagnostics) {
	sort.Slice(ds, func(i, j int) bool { return diagLess(ds[i], ds[j]) })
}

func diagLess(a, b materials.Diagnostic) bool {
	if a.Path != b.Path {
		return a.Path < b.Path
	}
	if a.Message != b.Message {
		return a.Message < b.Message
	}
	if a.Value != b.Value {
		return a.Value < b.Value
	}
	return a.Severity < b.Severity
}
