package check

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Transcript tests (cockroachdb/datadriven, as the foreman's): each case
// in testdata/*.txt is a `fix` directive (which fixes to plan, the
// device's strategy), a Floorplan in the line language below, `----`,
// and what Check reports and PlanFixes plans of it. Regenerate with
//
//	go test ./check -run TestTranscripts -rewrite
//
// The line language, one item a line (N is a digit naming a uuid made
// of it; H a hex digit naming a digest made of it; ages count back from
// the check's time):
//
//	vol N#G fmt=F [tmp] [state=S] [reason=R] [alloc=B] [apparent=B] [age=D]
//	    [backing=blob:H|blob:H!|ctrblob:H[!]|path:FILE,...] [backingfile=NAME] [check=leaks:K|corrupt:K|errors:K] [file=NAME]
//	blob H [store=dir|containerd] [size=B] [partial offset=B] [ref=R] [age=D]
//	last-vol N#G origin=download|blank [tree=T] fmt=F [max=B]
//	last-tree T sha=H [fmt=F] [url=U] [ds=D]
//	clock H age=D                  (an Unreferenced grace clock)
//	image NAME target=H [owned] [age=D]   (a containerd image record;
//	                               age starts its grace clock)
//	inflight KIND/ID               (a journal intent; ID may be N#G)
//	dense N#G fmt=F [size=B] [age=D]  (what a sparsify left of the
//	                               volume file; defaults as vol's)
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			datadriven.RunTest(t, file, func(t *testing.T, d *datadriven.TestData) string {
				if d.Cmd != "fix" {
					d.Fatalf(t, "unknown command %q", d.Cmd)
				}
				return runFix(t, d)
			})
		})
	}
}

var tnow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

const vaultDir = "persist/vault/volumes/"

func tuuid(n string) string {
	r := strings.Repeat
	return r(n, 8) + "-" + r(n, 4) + "-4" + r(n, 3) + "-8" + r(n, 3) + "-" + r(n, 12)
}

func thex(h string) string { return strings.Repeat(h, 64) }

func tkey(t *testing.T, s string) materials.VolumeKey {
	n, g, ok := strings.Cut(s, "#")
	gen, err := strconv.ParseInt(g, 10, 64)
	if !ok || err != nil || len(n) != 1 {
		t.Fatalf("volume key %q: want N#G", s)
	}
	return materials.VolumeKey{ID: tuuid(n), Generation: gen}
}

func tage(t *testing.T, s string) time.Time {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("age %q: %v", s, err)
	}
	return tnow.Add(-d)
}

func tint(t *testing.T, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return n
}

// parseFloorplan reads the line language.
func parseFloorplan(t *testing.T, input string) *materials.Floorplan {
	fp := &materials.Floorplan{Journal: &materials.JournalState{LastApplied: &materials.Blueprint{Complete: true}}}
	last := fp.Journal.LastApplied
	for _, line := range strings.Split(input, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w := strings.Fields(line)
		kv := map[string]string{}
		flags := map[string]bool{}
		for _, a := range w[2:] {
			if k, v, ok := strings.Cut(a, "="); ok {
				kv[k] = strings.ReplaceAll(v, "_", " ")
			} else {
				flags[a] = true
			}
		}
		switch w[0] {
		case "vol":
			k := tkey(t, w[1])
			v := materials.VolumeFile{ID: k.ID, Generation: k.Generation, Format: materials.Format(kv["fmt"]),
				VirtualSize: 1 << 30, ApparentSize: 1 << 20, AllocatedSize: 1 << 20, ModTime: tnow.Add(-24 * time.Hour),
				State: materials.StateComplete, Temp: flags["tmp"], Reason: kv["reason"]}
			v.Path = vaultDir + k.String() + "." + string(v.Format)
			if f := kv["file"]; f != "" {
				v.Path, v.ID, v.Generation = vaultDir+f, "", 0
			}
			if v.Temp {
				v.Path += ".tmp"
				v.State = materials.StatePartial
			}
			if s := kv["state"]; s != "" {
				v.State = materials.State(s)
			}
			if a := kv["alloc"]; a != "" {
				v.AllocatedSize = tint(t, a)
			}
			if a := kv["apparent"]; a != "" {
				v.ApparentSize = tint(t, a)
			}
			if a := kv["age"]; a != "" {
				v.ModTime = tage(t, a)
			}
			if b := kv["backing"]; b != "" {
				for _, l := range strings.Split(b, ",") {
					kind, name, _ := strings.Cut(l, ":")
					switch kind {
					case "blob", "ctrblob":
						missing := strings.HasSuffix(name, "!")
						h := thex(strings.TrimSuffix(name, "!"))
						prefix := "../../blobs/sha256/"
						if kind == "ctrblob" {
							prefix = "/var/lib/containerd/io.containerd.content.v1.content/blobs/sha256/"
						}
						v.Backing = append(v.Backing, materials.BackingLink{Name: prefix + h,
							Blob: digest.Digest("sha256:" + h), Format: materials.FormatRaw, Missing: missing})
					case "path":
						v.Backing = append(v.Backing, materials.BackingLink{Name: name, Path: vaultDir + name, Format: materials.FormatQcow2})
					default:
						t.Fatalf("backing link %q: want blob:H or path:FILE", l)
					}
				}
				v.BackingFile = v.Backing[0].Name
			}
			if f := kv["backingfile"]; f != "" {
				v.BackingFile = f // a name the inspector did not follow
			}
			if c := kv["check"]; c != "" {
				what, n, _ := strings.Cut(c, ":")
				k := int(tint(t, n))
				v.Check = &materials.ImageCheck{}
				switch what {
				case "leaks":
					v.Check.Leaks = k
				case "corrupt":
					v.Check.Corruptions = k
				case "errors":
					v.Check.CheckErrors = k
				}
			}
			fp.Volumes = append(fp.Volumes, v)
		case "blob":
			h := thex(w[1])
			b := materials.BlobRecord{Digest: digest.Digest("sha256:" + h), Store: materials.BlobStoreDir, Size: 1 << 20,
				State: materials.StateComplete, UpdatedAt: tnow.Add(-24 * time.Hour), Ref: kv["ref"]}
			if s := kv["store"]; s != "" {
				b.Store = materials.BlobStore(s)
			}
			if s := kv["size"]; s != "" {
				b.Size = tint(t, s)
			}
			if a := kv["age"]; a != "" {
				b.UpdatedAt = tage(t, a)
			}
			if flags["partial"] {
				b.State, b.Offset = materials.StatePartial, tint(t, kv["offset"])
			}
			if b.Store == materials.BlobStoreDir {
				b.Path = "persist/blobs/sha256/" + h
				if b.State == materials.StatePartial {
					b.Path = "persist/blobs/ingest/" + h
				}
			}
			fp.Blobs = append(fp.Blobs, b)
		case "last-vol":
			k := tkey(t, w[1])
			lv := materials.Volume{ID: k.ID, Generation: k.Generation, Origin: materials.Origin(kv["origin"]), ContentTree: kv["tree"],
				Format: materials.Format(kv["fmt"]), RefCount: 1}
			if m := kv["max"]; m != "" {
				lv.MaxSizeBytes = tint(t, m)
			}
			last.Volumes = append(last.Volumes, lv)
		case "last-tree":
			ct := materials.ContentTree{ID: w[1], SHA256: thex(kv["sha"]), Format: materials.Format(kv["fmt"]), URL: kv["url"]}
			if ds := kv["ds"]; ds != "" {
				ct.Datastores = []string{ds}
			}
			last.ContentTrees = append(last.ContentTrees, ct)
		case "clock":
			fp.Journal.Unreferenced = append(fp.Journal.Unreferenced, materials.Unreferenced{
				Target: materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:" + thex(w[1])}, Since: tage(t, kv["age"])})
		case "image":
			im := materials.ImageRecord{Name: w[1], Target: digest.Digest("sha256:" + thex(kv["target"]))}
			if flags["owned"] {
				im.Labels = map[string]string{"io.edgewright.owner": "edgewright"}
				if tr := kv["tree"]; tr != "" {
					im.Labels["io.edgewright.content-tree"] = tr
				}
			}
			fp.Images = append(fp.Images, im)
			if a := kv["age"]; a != "" {
				fp.Journal.Unreferenced = append(fp.Journal.Unreferenced, materials.Unreferenced{
					Target: materials.MaterialRef{Kind: materials.KindImage, ID: im.Name}, Since: tage(t, a)})
			}
		case "lease":
			l := materials.LeaseRecord{ID: "edgewright-" + w[1], CreatedAt: tage(t, kv["age"])}
			if flags["owned"] {
				l.Labels = map[string]string{"io.edgewright.owner": "edgewright", "io.edgewright.content-tree": w[1]}
			}
			for _, b := range strings.Split(kv["blobs"], ",") {
				if b != "" {
					l.Blobs = append(l.Blobs, digest.Digest("sha256:"+thex(b)))
				}
			}
			fp.Leases = append(fp.Leases, l)
		case "dense":
			k := tkey(t, w[1])
			d := materials.DenseFile{Path: vaultDir + k.String() + "." + kv["fmt"], Size: 1 << 20, ModTime: tnow.Add(-24 * time.Hour)}
			if s := kv["size"]; s != "" {
				d.Size = tint(t, s)
			}
			if a := kv["age"]; a != "" {
				d.ModTime = tage(t, a)
			}
			fp.Journal.Dense = append(fp.Journal.Dense, d)
		case "inflight":
			kind, id, _ := strings.Cut(w[1], "/")
			if strings.Contains(id, "#") && len(id) < 8 {
				id = tkey(t, id).String()
			}
			fp.Journal.InFlight = append(fp.Journal.InFlight, materials.InFlight{RemodelID: "r", Action: "create",
				Target: materials.MaterialRef{Kind: materials.MaterialKind(kind), ID: id}})
		default:
			t.Fatalf("line %q: unknown item %q", line, w[0])
		}
	}
	fp.Fingerprint = materials.Fingerprint(fp)
	return fp
}

func runFix(t *testing.T, d *datadriven.TestData) string {
	var sel Selection
	opts := Options{Now: tnow, GracePeriod: time.Hour}
	for _, a := range d.CmdArgs {
		switch a.Key {
		case "all":
			sel.All = true
		case "type":
			sel.Type = Type(a.Vals[0])
		case "ids":
			sel.IDs = a.Vals
		case "strategy":
			opts.Strategy = a.Vals[0]
		case "store":
			opts.Store = materials.BlobStore(a.Vals[0])
		case "pervol":
			opts.VolumeStrategy = map[materials.VolumeKey]string{}
			for _, v := range a.Vals {
				k, s, _ := strings.Cut(v, ":")
				opts.VolumeStrategy[tkey(t, k)] = s
			}
		default:
			d.Fatalf(t, "unknown argument %q", a.Key)
		}
	}
	fp := parseFloorplan(t, d.Input)
	before, _ := json.Marshal(fp)
	rep := Check(fp, opts)
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("check")
	if len(rep.Fixes) == 0 {
		line("  (no fixes)")
	}
	for _, f := range rep.Fixes {
		line("  %s %s bytes=%d remedy=%s", f.ID, f.Type, f.Bytes, f.Remedy)
		line("      %s", f.Reason)
	}
	for _, v := range rep.Volumes {
		line("  volume %s %s", v.ID, v.Status)
	}
	fplan, err := PlanFixes(fp, rep, sel, tnow)
	if after, _ := json.Marshal(fp); string(after) != string(before) {
		t.Errorf("Check or PlanFixes modified the Floorplan")
	}
	if err != nil {
		line("error: %v", err)
		return remodel.ShortenDigests(b.String())
	}
	again, _ := PlanFixes(fp, rep, sel, tnow)
	if j1, _ := json.Marshal(fplan); true {
		if j2, _ := json.Marshal(again); string(j1) != string(j2) {
			t.Errorf("PlanFixes is not deterministic")
		}
	}
	for _, f := range fplan.Fixes {
		ids := make([]string, len(f.Remodels))
		for i, id := range f.Remodels {
			ids[i] = string(id)
		}
		line("run %s: %s", f.Fix.ID, strings.Join(ids, " then "))
	}
	for _, s := range fplan.Reported {
		line("not run %s: %s", s.Fix.ID, s.Why)
	}
	for _, s := range fplan.Refused {
		line("refused %s: %s", s.Fix.ID, s.Why)
	}
	for i := range fplan.Plan.Remodels {
		// The text of a plan does not say a download's store.
		r := &fplan.Plan.Remodels[i]
		if pl, ok := remodel.PayloadOf[*remodel.DownloadPayload](r); ok && pl.Store != materials.BlobStoreDir {
			line("%s into store %q", r.ID, pl.Store)
		}
	}
	fplan.Plan.Fingerprint = "(floorplan)"
	var pb strings.Builder
	if err := remodel.RenderText(&pb, fplan.Plan); err != nil {
		t.Fatal(err)
	}
	b.WriteString(pb.String())
	return remodel.ShortenDigests(b.String())
}
