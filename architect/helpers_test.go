package architect_test

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

// tHelper is what both *testing.T and GinkgoT() offer.
type tHelper interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// samplePath is the README's main-job input; the bad-input table mutates it.
const samplePath = "../examples/configs/sample.json"

func mustRead(tb tHelper, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	return data
}

func mustDecode(tb tHelper, path string) *eve.EdgeDevConfig {
	tb.Helper()
	cfg, err := architect.Decode(mustRead(tb, path))
	if err != nil {
		tb.Fatalf("decode %s: %v", path, err)
	}
	return cfg
}

// configFiles are every config under testdata and examples/configs.
func configFiles(tb tHelper) []string {
	tb.Helper()
	var out []string
	for _, pat := range []string{"testdata/eden/*.json", "../examples/configs/*.json"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, m...)
	}
	sort.Strings(out)
	if len(out) < 6 {
		tb.Fatalf("only %d config files found: %v", len(out), out)
	}
	return out
}

// errorLines renders the error diagnostics as "path: message".
func errorLines(ds materials.Diagnostics) []string {
	out := []string{}
	for _, d := range ds.Errors() {
		out = append(out, d.Path+": "+d.Message)
	}
	return out
}

// checkSorted reports the first way bp is not sorted, or "".
func checkSorted(bp *materials.Blueprint) string {
	if !sort.SliceIsSorted(bp.Volumes, func(i, j int) bool { return bp.Volumes[i].Key().Less(bp.Volumes[j].Key()) }) {
		return "volumes not sorted"
	}
	if !sort.SliceIsSorted(bp.ContentTrees, func(i, j int) bool { return bp.ContentTrees[i].ID < bp.ContentTrees[j].ID }) {
		return "content trees not sorted"
	}
	if !sort.SliceIsSorted(bp.Datastores, func(i, j int) bool { return bp.Datastores[i].ID < bp.Datastores[j].ID }) {
		return "datastores not sorted"
	}
	if !sort.SliceIsSorted(bp.Apps, func(i, j int) bool { return bp.Apps[i].ID < bp.Apps[j].ID }) {
		return "apps not sorted"
	}
	if !sort.SliceIsSorted(bp.Snapshots, func(i, j int) bool {
		a, b := bp.Snapshots[i], bp.Snapshots[j]
		return a.App < b.App || (a.App == b.App && a.ID < b.ID)
	}) {
		return "snapshots not sorted"
	}
	if !sort.SliceIsSorted(bp.Withheld, func(i, j int) bool {
		a, b := bp.Withheld[i], bp.Withheld[j]
		return a.Kind < b.Kind || (a.Kind == b.Kind && a.ID < b.ID)
	}) {
		return "withheld not sorted"
	}
	sorted := append(materials.Diagnostics(nil), bp.Diagnostics...)
	architect.SortDiagnostics(sorted)
	for i := range sorted {
		if sorted[i] != bp.Diagnostics[i] {
			return "diagnostics not sorted"
		}
	}
	for _, v := range bp.Volumes {
		if !sort.StringsAreSorted(v.Apps) {
			return "apps of volume " + v.ID + " not sorted"
		}
	}
	return ""
}

// checkConsistent reports the first broken reference inside bp, or "":
// every volume's content tree, every tree's datastores must stand, nothing
// withheld may also stand, and refcounts must be apps+1.
func checkConsistent(bp *materials.Blueprint) string {
	ds := map[string]bool{}
	for _, d := range bp.Datastores {
		ds[d.ID] = true
	}
	trees := map[string]bool{}
	for _, t := range bp.ContentTrees {
		trees[t.ID] = true
		if len(t.Datastores) == 0 {
			return "content tree " + t.ID + " has no datastore"
		}
		for _, d := range t.Datastores {
			if !ds[d] {
				return "content tree " + t.ID + " names absent datastore " + d
			}
		}
	}
	vols := map[string]bool{}
	for _, v := range bp.Volumes {
		vols[v.ID] = true
		switch v.Origin {
		case materials.OriginDownload:
			if !trees[v.ContentTree] {
				return "volume " + v.ID + " names absent content tree " + v.ContentTree
			}
		case materials.OriginBlank:
			if v.MaxSizeBytes <= 0 {
				return "blank volume " + v.ID + " has no size"
			}
		default:
			return "volume " + v.ID + " has no origin"
		}
		if v.RefCount != len(v.Apps)+1 {
			return "volume " + v.ID + " refcount is not apps+1"
		}
		if v.Generation < 0 || v.MaxSizeBytes < 0 {
			return "volume " + v.ID + " has a negative number"
		}
	}
	gens := map[string]int64{}
	for _, v := range bp.Volumes {
		gens[v.ID] = v.Generation
	}
	for _, a := range bp.Apps {
		for _, r := range a.VolumeRefs {
			if g, ok := gens[r.Volume]; !ok || g != r.Generation {
				return "app " + a.ID + " refers to a volume that does not stand at its generation: " + r.Volume
			}
		}
	}
	apps := map[string]*materials.App{}
	for i := range bp.Apps {
		apps[bp.Apps[i].ID] = &bp.Apps[i]
	}
	snaps := map[string]bool{}
	for _, s := range bp.Snapshots {
		a := apps[s.App]
		if a == nil {
			return "snapshot " + s.ID + " of an app that does not stand: " + s.App
		}
		if !reflect.DeepEqual(s.Volumes, a.VolumeRefs) {
			return "snapshot " + s.ID + " does not cover its app's volume refs"
		}
		if s.Active != (a.ActiveSnapshot == s.ID) {
			return "snapshot " + s.ID + " active flag disagrees with its app"
		}
		if snaps[s.Ref().ID] {
			return "snapshot " + s.ID + " drawn twice"
		}
		snaps[s.Ref().ID] = true
	}
	for _, a := range bp.Apps {
		if a.ActiveSnapshot != "" && !snaps[materials.SnapshotRefID(a.ID, a.ActiveSnapshot)] {
			return "app " + a.ID + " has an active snapshot that does not stand"
		}
	}
	for _, w := range bp.Withheld {
		present := (w.Kind == materials.KindDatastore && ds[w.ID]) ||
			(w.Kind == materials.KindContentTree && trees[w.ID]) ||
			(w.Kind == materials.KindVolume && vols[w.ID]) ||
			(w.Kind == materials.KindSnapshot && snaps[w.ID])
		if present {
			return "withheld " + w.String() + " also stands"
		}
	}
	if !bp.Complete && !bp.Diagnostics.HasErrors() {
		return "incomplete without an error"
	}
	return ""
}
