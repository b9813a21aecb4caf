package foreman_test

import (
	"bufio"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// The transcripts' line language, shared by the single-plan transcripts
// (transcript_test.go) and the multi-step sessions (session_test.go):
//
//	plan [now=T] [grace=D] [free=N|unknown] [share=F] [allow-mass-delete] [cleanup] [store=containerd] [content-dir] [strategy=S] [json] [summary]
//	ds ID [http|https|oci]
//	tree ID [sha=HEX] [url=U] [format=F] [size=N] [ds=A,B] [gen=N] [name=S] [signed]
//	vol ID#GEN [ct=TREE|blank] [format=F] [max=N] [ro] [apps=A,B] [implicit app=A] [legacy-drive] [name=S]
//	protect|hold|purge KIND ID [reason=S]   withheld KIND ID   incomplete   error PATH MESSAGE...
//	last <any blueprint line>               (the journal's LastApplied)
//	file PATH [vsize=N] [alloc=N] [state=S] [reason=S] [dir]
//	blob HEX [store=S] [state=S] [size=N] [offset=N] [children=H,H] [sizes=N,N] [index|manifest] [owned] [reason=S]
//	image NAME target=HEX [blobs=H,H] [owned]
//	inflight ACTION KIND ID [at=T]   unref KIND ID since=T   latch TREE#GEN url=U digest=HEX
//	lineage APP SNAP ID#GEN [format=F] [type=T] [version=V] [at=T]   (the journal's record of a snapshot)
//	limit [action=A] [KIND ID] [reason=S]   fingerprint S | compute-fingerprint
//	survey-error PATH MESSAGE...           (an error diagnostic of the Floorplan)
//	app APP vols=ID#GEN,ID#GEN [rollback=N] [max=N] [rollback-withheld] [version=V]
//	strategy volume ID|ID#GEN space|performance [reason=S]   (a strategy Addition)
//	file ... [backing=HEX] [backing-missing]  (an overlay on blob HEX of the blob directory)
//	snap APP SNAP [type=immediate|app-update] [active]   (in config order)
//	file ... [snaps=SNAP@T,SNAP@T]          (snapshots on the file, taken at T; -1h when no @)
//	offer HEX ds=DS size=N chunks=N fetch=N fetch-chunks=N [seeds=H,H] [offset=N] [whole]   (a scout's chunk offer, Options.Offers)
//
// A snapshot id sN stands for the uuid 5a000000-0000-4000-8000-00000000000N
// (the craft and the foreman take only uuids) and is written back as sN.
// HEX is a short hex string repeated to 64 digits; sizes take K, M, G;
// times are RFC 3339 or relative to now (-2h). `file vault/NAME` and
// `file img/NAME` abbreviate persist/vault/volumes/ and persist/img/.

var testEpoch = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// planOptions reads the words after `plan` into opts (whose Now is the
// default time); asJSON and summary ask for the JSON form and the summary
// line.
func planOptions(words []string, opts *foreman.Options) (asJSON, summary bool, err error) {
	a := parseArgs(words)
	if v, ok := a.kv["now"]; ok {
		if opts.Now, err = time.Parse(time.RFC3339, v); err != nil {
			return false, false, err
		}
	}
	if v, ok := a.kv["grace"]; ok {
		if opts.GracePeriod, err = time.ParseDuration(v); err != nil {
			return false, false, err
		}
	}
	if v, ok := a.kv["free"]; ok {
		opts.Space = materials.Space{}
		if v != "unknown" {
			// A known free space needs a known file system: its total
			// only says so, admission reads the free bytes.
			opts.Space = materials.Space{FreeBytes: uint64(size(v)), TotalBytes: uint64(max(size(v), 1<<40))}
		}
	}
	if v, ok := a.kv["share"]; ok {
		if opts.MassDeleteShare, err = strconv.ParseFloat(v, 64); err != nil {
			return false, false, err
		}
	}
	opts.AllowMassDelete = a.flag["allow-mass-delete"]
	opts.CleanUp = a.flag["cleanup"]
	opts.ContentDirKnown = a.flag["content-dir"]
	if v, ok := a.kv["store"]; ok {
		opts.Store = materials.BlobStore(v)
	}
	if v, ok := a.kv["strategy"]; ok {
		if opts.Strategy, err = materials.ParseStrategy(v); err != nil {
			return false, false, err
		}
	}
	for _, w := range a.positional {
		switch w {
		case "allow-mass-delete", "cleanup", "content-dir", "json", "summary":
		default:
			return false, false, fmt.Errorf("unknown plan flag %q", w)
		}
	}
	return a.flag["json"], a.flag["summary"], nil
}

// parseLines adds the input lines to bp, fp and opts (limitations); times
// are relative to opts.Now. The slices are sorted as the architect and the
// inspector hand them over.
func parseLines(input []string, bp *materials.Blueprint, fp *materials.Floorplan, opts *foreman.Options) error {
	journal := func() *materials.JournalState {
		if fp.Journal == nil {
			fp.Journal = &materials.JournalState{}
		}
		return fp.Journal
	}
	for _, line := range input {
		w, err := tokens(line)
		if err != nil {
			return err
		}
		if len(w) == 0 {
			continue
		}
		target := bp
		if w[0] == "last" {
			j := journal()
			if j.LastApplied == nil {
				j.LastApplied = &materials.Blueprint{Complete: true}
			}
			target = j.LastApplied
			w = w[1:]
			if len(w) == 0 {
				continue
			}
		}
		a := parseArgs(w[1:])
		switch w[0] {
		case "ds":
			ds := materials.Datastore{ID: a.pos(0), Type: materials.DatastoreHTTP, FQDN: "http://ds.example"}
			switch {
			case a.flag["oci"]:
				ds.Type = materials.DatastoreContainerRegistry
			case a.flag["https"]:
				ds.Type = materials.DatastoreHTTPS
			}
			target.Datastores = append(target.Datastores, ds)
		case "tree":
			ct := materials.ContentTree{ID: a.pos(0), URL: a.get("url", a.pos(0)+".img"), Format: materials.Format(a.get("format", "qcow2")),
				DisplayName: a.kv["name"], MaxSizeBytes: uint64(size(a.get("size", "0")))}
			if s, ok := a.kv["sha"]; ok {
				ct.SHA256 = hex64(s)
			}
			if s, ok := a.kv["ds"]; ok {
				ct.Datastores = strings.Split(s, ",")
			}
			ct.Generation = int64(size(a.get("gen", "0")))
			if a.flag["signed"] {
				ct.Signature = &materials.Signature{SignerCertURL: "https://certs.example/signer.pem", Signature: []byte("sig")}
			}
			target.ContentTrees = append(target.ContentTrees, ct)
		case "vol":
			k, err := materials.ParseVolumeKey(a.pos(0))
			if err != nil {
				return err
			}
			v := materials.Volume{ID: k.ID, Generation: k.Generation, Origin: materials.OriginBlank, Format: materials.Format(a.get("format", "qcow2")),
				MaxSizeBytes: size(a.get("max", "0")), ReadOnly: a.flag["ro"], DisplayName: a.kv["name"], LegacyDrive: a.flag["legacy-drive"]}
			if ct, ok := a.kv["ct"]; ok {
				v.Origin, v.ContentTree = materials.OriginDownload, ct
			}
			if s, ok := a.kv["apps"]; ok {
				v.Apps = strings.Split(s, ",")
			}
			if a.flag["implicit"] {
				v.Implicit, v.App = true, a.kv["app"]
				v.Apps = []string{v.App}
			}
			v.RefCount = 1 + len(v.Apps)
			target.Volumes = append(target.Volumes, v)
		case "protect", "hold", "purge":
			target.Additions = append(target.Additions, materials.Addition{Kind: materials.AdditionKind(w[0]),
				Target: ref(a.pos(0), a.pos(1)), Reason: a.kv["reason"]})
		case "strategy":
			st, err := materials.ParseStrategy(a.pos(2))
			if err != nil {
				return err
			}
			target.Additions = append(target.Additions, materials.Addition{Kind: materials.AdditionStrategy,
				Target: ref(a.pos(0), a.pos(1)), Reason: a.kv["reason"], Strategy: st})
		case "withheld":
			target.Withheld = append(target.Withheld, ref(a.pos(0), a.pos(1)))
		case "incomplete":
			target.Complete = false
		case "error":
			target.Diagnostics = append(target.Diagnostics, materials.Diagnostic{Severity: materials.SeverityError, Path: a.pos(0), Message: strings.Join(a.positional[1:], " ")})
		case "file":
			fp.Volumes = append(fp.Volumes, volumeFile(a, opts.Now))
		case "blob":
			b := materials.BlobRecord{Digest: dg(a.pos(0)), Store: materials.BlobStore(a.get("store", "dir")),
				State: materials.State(a.get("state", "complete")), Size: size(a.get("size", "0")), Offset: size(a.get("offset", "0")), Reason: a.kv["reason"]}
			if s, ok := a.kv["children"]; ok {
				for _, c := range strings.Split(s, ",") {
					b.Children = append(b.Children, dg(c))
				}
			}
			// sizes=N,N gives what the manifest says of each child.
			if s, ok := a.kv["sizes"]; ok {
				for i, n := range strings.Split(s, ",") {
					b.ChildBlobs = append(b.ChildBlobs, materials.Blob{Digest: b.Children[i], Size: size(n),
						MediaType: "application/vnd.oci.image.layer.v1.tar+gzip"})
				}
			}
			switch {
			case a.flag["index"]:
				b.MediaType = "application/vnd.oci.image.index.v1+json"
			case a.flag["manifest"]:
				b.MediaType = "application/vnd.oci.image.manifest.v1+json"
			}
			if a.flag["owned"] {
				b.Labels = map[string]string{foreman.OwnerLabel: foreman.OwnerValue}
			}
			fp.Blobs = append(fp.Blobs, b)
		case "image":
			im := materials.ImageRecord{Name: a.pos(0), Target: dg(a.get("target", "00"))}
			if s, ok := a.kv["blobs"]; ok {
				for _, c := range strings.Split(s, ",") {
					im.Blobs = append(im.Blobs, dg(c))
				}
			}
			if a.flag["owned"] {
				im.Labels = map[string]string{foreman.OwnerLabel: foreman.OwnerValue}
			}
			fp.Images = append(fp.Images, im)
		case "inflight":
			r := ref(a.pos(1), a.pos(2))
			j := journal()
			j.InFlight = append(j.InFlight, materials.InFlight{RemodelID: a.pos(0) + ":" + r.String(), Action: a.pos(0), Target: r,
				StartedAt: when(a.get("at", "-1h"), opts.Now)})
		case "unref":
			j := journal()
			j.Unreferenced = append(j.Unreferenced, materials.Unreferenced{Target: ref(a.pos(0), a.pos(1)), Since: when(a.get("since", "0s"), opts.Now)})
		case "latch":
			k, err := materials.ParseVolumeKey(a.pos(0))
			if err != nil {
				return err
			}
			j := journal()
			j.Latches = append(j.Latches, materials.TagLatch{ContentTree: k.ID, Generation: k.Generation, URL: a.kv["url"], Digest: dg(a.kv["digest"]), ResolvedAt: opts.Now.Add(-time.Hour)})
		case "lineage":
			k, err := materials.ParseVolumeKey(a.pos(2))
			if err != nil {
				return err
			}
			j := journal()
			j.Lineage = append(j.Lineage, materials.SnapshotLineage{App: a.pos(0), Snapshot: snapID(a.pos(1)), Volume: k,
				Format: materials.Format(a.get("format", "qcow2")), Type: materials.SnapshotType(a.get("type", "immediate")),
				Taken: when(a.get("at", "-1h"), opts.Now), ConfigVersion: a.kv["version"]})
		case "limit":
			l := foreman.Limitation{Action: remodel.Action(a.kv["action"]), Reason: a.kv["reason"]}
			if len(a.positional) >= 2 {
				r := ref(a.pos(0), a.pos(1))
				l.Target = &r
			}
			opts.Limitations = append(opts.Limitations, l)
		case "app":
			app := materials.App{ID: a.pos(0), RollbackCounter: uint32(size(a.get("rollback", "0"))), MaxSnapshots: uint32(size(a.get("max", "0"))),
				RollbackWithheld: a.flag["rollback-withheld"], Version: a.kv["version"]}
			if s, ok := a.kv["vols"]; ok {
				for _, k := range strings.Split(s, ",") {
					vk, err := materials.ParseVolumeKey(k)
					if err != nil {
						return err
					}
					app.VolumeRefs = append(app.VolumeRefs, materials.VolumeRef{Volume: vk.ID, Generation: vk.Generation})
				}
			}
			target.Apps = append(target.Apps, app)
		case "snap":
			s := materials.Snapshot{App: a.pos(0), ID: snapID(a.pos(1)), Type: materials.SnapshotType(a.get("type", "immediate")), Active: a.flag["active"]}
			for _, o := range target.Snapshots {
				if o.App == s.App {
					s.Index++
				}
			}
			target.Snapshots = append(target.Snapshots, s)
		case "offer":
			o := materials.ChunkOffer{Blob: dg(a.pos(0)), Datastore: a.kv["ds"], Size: size(a.get("size", "0")), Chunks: int(size(a.get("chunks", "0"))),
				Offset: size(a.get("offset", "0")), FetchBytes: size(a.get("fetch", "0")), FetchChunks: int(size(a.get("fetch-chunks", "0"))), Whole: a.flag["whole"]}
			if s, ok := a.kv["seeds"]; ok {
				for _, h := range strings.Split(s, ",") {
					o.Seeds = append(o.Seeds, dg(h))
				}
			}
			opts.Offers = append(opts.Offers, o)
		case "survey-error":
			fp.Diagnostics = append(fp.Diagnostics, materials.Diagnostic{Severity: materials.SeverityError, Path: a.pos(0), Message: strings.Join(a.positional[1:], " ")})
		case "fingerprint":
			fp.Fingerprint = a.pos(0)
		case "compute-fingerprint":
			fp.Fingerprint = ""
		default:
			return fmt.Errorf("unknown line %q", line)
		}
	}
	snapshotsOfApps(bp)
	if fp.Journal != nil && fp.Journal.LastApplied != nil {
		snapshotsOfApps(fp.Journal.LastApplied)
	}
	// The architect and the inspector hand over sorted slices.
	sort.Slice(bp.Volumes, func(i, j int) bool { return bp.Volumes[i].Key().Less(bp.Volumes[j].Key()) })
	sort.Slice(bp.ContentTrees, func(i, j int) bool { return bp.ContentTrees[i].ID < bp.ContentTrees[j].ID })
	sort.Slice(fp.Volumes, func(i, j int) bool { return fp.Volumes[i].Path < fp.Volumes[j].Path })
	sort.Slice(fp.Blobs, func(i, j int) bool {
		if fp.Blobs[i].Digest != fp.Blobs[j].Digest {
			return fp.Blobs[i].Digest < fp.Blobs[j].Digest
		}
		return fp.Blobs[i].Store < fp.Blobs[j].Store
	})
	return nil
}

// snapshotsOfApps gives each snapshot its app's volume refs and each app
// its active snapshot, as the architect does, and sorts both.
func snapshotsOfApps(bp *materials.Blueprint) {
	sort.Slice(bp.Apps, func(i, j int) bool { return bp.Apps[i].ID < bp.Apps[j].ID })
	for i := range bp.Snapshots {
		s := &bp.Snapshots[i]
		for j := range bp.Apps {
			if app := &bp.Apps[j]; app.ID == s.App {
				s.Volumes = append([]materials.VolumeRef(nil), app.VolumeRefs...)
				if s.Active {
					app.ActiveSnapshot = s.ID
				}
			}
		}
	}
	sort.SliceStable(bp.Snapshots, func(i, j int) bool {
		a, b := bp.Snapshots[i], bp.Snapshots[j]
		if a.App != b.App {
			return a.App < b.App
		}
		return a.ID < b.ID
	})
}

var (
	shortSnap = regexp.MustCompile(`^s([0-9]{1,4})$`)
	longSnap  = regexp.MustCompile(`5a000000-0000-4000-8000-0{8}([0-9]{4})`)
)

// snapID is the uuid a short snapshot id sN stands for.
func snapID(s string) string {
	if m := shortSnap.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		return fmt.Sprintf("5a000000-0000-4000-8000-%012d", n)
	}
	return s
}

// shortSnapIDs writes the snapshot uuids back as sN.
func shortSnapIDs(out string) string {
	return longSnap.ReplaceAllStringFunc(out, func(m string) string {
		n, _ := strconv.Atoi(longSnap.FindStringSubmatch(m)[1])
		return "s" + strconv.Itoa(n)
	})
}

func volumeFile(a args, now time.Time) materials.VolumeFile {
	path := a.pos(0)
	switch {
	case strings.HasPrefix(path, "vault/"):
		path = "persist/vault/volumes/" + strings.TrimPrefix(path, "vault/")
	case strings.HasPrefix(path, "clear/"):
		path = "persist/clear/volumes/" + strings.TrimPrefix(path, "clear/")
	case strings.HasPrefix(path, "img/"):
		path = "persist/img/" + strings.TrimPrefix(path, "img/")
	}
	f := materials.VolumeFile{Path: path, State: materials.State(a.get("state", "complete")), Reason: a.kv["reason"],
		VirtualSize: size(a.get("vsize", "0")), AllocatedSize: size(a.get("alloc", "0")), Dir: a.flag["dir"]}
	name := path[strings.LastIndexByte(path, '/')+1:]
	if strings.HasSuffix(name, ".tmp") {
		f.Temp = true
		name = strings.TrimSuffix(name, ".tmp")
		if f.State == materials.StateComplete {
			f.State = materials.StatePartial
		}
	}
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	f.Format = materials.Format(ext)
	if f.Dir || ext == "container" {
		f.Format, f.Dir = materials.FormatContainer, true
	}
	switch {
	case strings.HasPrefix(path, "persist/img/"):
		sha, rest, _ := strings.Cut(base, "-")
		app, purge, _ := strings.Cut(rest, "#")
		n, _ := strconv.ParseInt(purge, 10, 64)
		f.Legacy = &materials.LegacyName{SHA256: hex64(sha), App: app, Purge: n}
	case strings.Contains(path, "/volumes/"):
		if k, err := materials.ParseVolumeKey(base); err == nil {
			f.ID, f.Generation = k.ID, k.Generation
		} else if f.State == materials.StateComplete {
			f.State = materials.StateUnknown
		}
	}
	if h, ok := a.kv["backing"]; ok {
		l := materials.BackingLink{Name: "../../blobs/sha256/" + hex64(h), Blob: dg(h), Format: materials.FormatQcow2, Missing: a.flag["backing-missing"]}
		if l.Missing {
			l.Format = ""
		}
		f.BackingFile = l.Name
		f.Backing = []materials.BackingLink{l}
	}
	if s, ok := a.kv["snaps"]; ok {
		dir := path[:strings.LastIndexByte(path, '/')+1]
		for _, sn := range strings.Split(s, ",") {
			id, at, _ := strings.Cut(sn, "@")
			if at == "" {
				at = "-1h"
			}
			si := materials.SnapshotInfo{Name: snapID(id), Created: when(at, now), State: materials.StateComplete}
			if f.Format != materials.FormatQcow2 {
				si.Path = dir + strings.TrimSuffix(name, "."+ext) + "@" + si.Name + "." + string(f.Format)
			}
			f.Snapshots = append(f.Snapshots, si)
		}
	}
	return f
}

type args struct {
	positional []string
	kv         map[string]string
	flag       map[string]bool
}

func parseArgs(w []string) args {
	a := args{kv: map[string]string{}, flag: map[string]bool{}}
	for _, s := range w {
		if k, v, ok := strings.Cut(s, "="); ok {
			a.kv[k] = v
		} else {
			a.positional = append(a.positional, s)
			a.flag[s] = true
		}
	}
	return a
}

func (a args) pos(i int) string {
	if i < len(a.positional) {
		return a.positional[i]
	}
	return ""
}

func (a args) get(k, def string) string {
	if v, ok := a.kv[k]; ok {
		return v
	}
	return def
}

// tokens splits on spaces, keeping "quoted strings" (after key=) whole.
func tokens(line string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(line))
	sc.Split(bufio.ScanRunes)
	var cur strings.Builder
	inQuote, have := false, false
	for sc.Scan() {
		r := sc.Text()
		switch {
		case r == `"`:
			inQuote, have = !inQuote, true
		case r == " " && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteString(r)
			have = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}

func hex64(s string) string {
	if len(s) >= 64 || s == "" {
		return s
	}
	return strings.Repeat(s, 64/len(s)+1)[:64]
}

func dg(s string) digest.Digest { return digest.Digest("sha256:" + hex64(s)) }

func ref(kind, id string) materials.MaterialRef {
	k := materials.MaterialKind(kind)
	if k == materials.KindBlob {
		id = string(dg(id))
	}
	return materials.MaterialRef{Kind: k, ID: id}
}

func size(s string) int64 {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("bad size %q", s))
	}
	return n * mult
}

func when(s string, now time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(fmt.Sprintf("bad time %q", s))
	}
	return now.Add(d)
}
