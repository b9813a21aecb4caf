package check

import (
	"sort"
	"strconv"
	"time"

	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// checker holds one check's indexes of the Floorplan and its journal.
type checker struct {
	fp   *materials.Floorplan
	opts Options
	// inflight are the journal's in-flight targets.
	inflight map[materials.MaterialRef]bool
	// keyFiles counts volume files per key: a key in both layouts is
	// named by path so that its two files get two fixes.
	keyFiles map[materials.VolumeKey]int
	// lastVols and lastTrees index the last applied Blueprint.
	lastVols  map[materials.VolumeKey]*materials.Volume
	lastTrees map[string]*materials.ContentTree
	// blobSize is the size of each complete blob, by digest.
	blobSize map[string]int64
	// treeIDs are lastTrees' keys in the Blueprint's order.
	treeIDs []string
	// fileAt is each volume file by path.
	fileAt map[string]*materials.VolumeFile
	// backing are the blobs some overlay's chain names: never cleaned;
	// linked the volume files some overlay's chain names.
	backing map[string]bool
	linked  map[string]bool
	// dense are the journal's records of what a sparsify left, by path.
	dense map[string]materials.DenseFile
	// imageHeld are the blobs some image record keeps from containerd's
	// collector; sealedTrees the trees an image record of ours names.
	imageHeld   map[string]bool
	sealedTrees map[string]bool
}

func newChecker(fp *materials.Floorplan, opts Options) *checker {
	c := &checker{
		fp: fp, opts: opts,
		inflight:  map[materials.MaterialRef]bool{},
		keyFiles:  map[materials.VolumeKey]int{},
		lastVols:  map[materials.VolumeKey]*materials.Volume{},
		lastTrees: map[string]*materials.ContentTree{},
		blobSize:  map[string]int64{},
		fileAt:    map[string]*materials.VolumeFile{},
		backing:   map[string]bool{},
		linked:    map[string]bool{},
		dense:     map[string]materials.DenseFile{},
		imageHeld: map[string]bool{}, sealedTrees: map[string]bool{},
	}
	for i := range fp.Images {
		im := &fp.Images[i]
		c.imageHeld[string(im.Target)] = true
		for _, d := range im.Blobs {
			c.imageHeld[string(d)] = true
		}
		if t := im.Labels[layout.ContentTreeLabel]; t != "" && im.Labels[layout.OwnerLabel] == layout.OwnerValue {
			c.sealedTrees[t] = true
		}
	}
	for i := range fp.Volumes {
		v := &fp.Volumes[i]
		if v.ID != "" && !v.Temp {
			c.keyFiles[v.Key()]++
		}
		c.fileAt[v.Path] = v
		for _, l := range v.Backing {
			if l.Blob != "" {
				c.backing[string(l.Blob)] = true
			}
			if l.Path != "" {
				c.linked[l.Path] = true
			}
		}
	}
	for i := range fp.Blobs {
		if b := &fp.Blobs[i]; b.State == materials.StateComplete && b.Digest != "" {
			c.blobSize[string(b.Digest)] = b.Size
		}
	}
	if js := fp.Journal; js != nil {
		for _, in := range js.InFlight {
			c.inflight[in.Target] = true
		}
		for _, d := range js.Dense {
			c.dense[d.Path] = d
		}
		if last := js.LastApplied; last != nil {
			for i := range last.Volumes {
				if v := &last.Volumes[i]; c.lastVols[v.Key()] == nil {
					c.lastVols[v.Key()] = v
				}
			}
			for i := range last.ContentTrees {
				if t := &last.ContentTrees[i]; c.lastTrees[t.ID] == nil {
					c.lastTrees[t.ID] = t
					c.treeIDs = append(c.treeIDs, t.ID)
				}
			}
		}
	}
	return c
}

// volumeInFlight says whether the journal lists v (its key, its uuid or
// its path) as being worked on.
func (c *checker) volumeInFlight(v *materials.VolumeFile) bool {
	if c.inflight[fileRef(v.Path)] {
		return true
	}
	return v.ID != "" && (c.inflight[volumeRef(v.ID)] || c.inflight[volumeRef(v.Key().String())])
}

func (c *checker) blobInFlight(b *materials.BlobRecord) bool {
	return (b.Path != "" && c.inflight[fileRef(b.Path)]) ||
		(b.Digest != "" && c.inflight[materials.MaterialRef{Kind: materials.KindBlob, ID: string(b.Digest)}])
}

// stale says whether work last touched at t is older than the bound, and
// the words for it.
func (c *checker) stale(t time.Time) (bool, string) {
	age := c.opts.Now.Sub(t)
	if t.IsZero() || age < c.opts.StaleAfter {
		return false, ""
	}
	return true, "untouched for " + age.Round(time.Second).String() + " (stale after " + c.opts.StaleAfter.String() + ")"
}

// journalWords says on what strength "not in flight" is said.
func (c *checker) journalWords() string {
	if c.fp.Journal == nil {
		return "no journal was read, so only its age says it is not in progress"
	}
	return "the journal lists it as not in flight"
}

// volumeTarget names a volume file's material: its key when the key is
// in one file only, else its path.
func (c *checker) volumeTarget(v *materials.VolumeFile) materials.MaterialRef {
	if v.ID == "" || c.keyFiles[v.Key()] != 1 {
		return fileRef(v.Path)
	}
	return volumeRef(v.Key().String())
}

// content is the content tree the last applied Blueprint made v's
// generation from, or nil (blank, legacy, or not known).
func (c *checker) content(v *materials.VolumeFile) *materials.ContentTree {
	if v.ID == "" {
		return nil
	}
	lv := c.lastVols[v.Key()]
	if lv == nil || lv.Origin != materials.OriginDownload || lv.ContentTree == "" {
		return nil
	}
	return c.lastTrees[lv.ContentTree]
}

// pastGrace is the clean rule for blobs whose grace clock ran out: one
// fix per digest, freeing its copies in every store.
func (c *checker) pastGrace() []Fix {
	if c.fp.Journal == nil {
		return nil
	}
	named := map[string]bool{}
	for _, t := range c.lastTrees {
		if d := t.Digest(); d != "" {
			named[string(d)] = true
		}
	}
	var out []Fix
	for _, u := range c.fp.Journal.Unreferenced {
		// A blob an overlay reads through is needed whatever its clock
		// says (the clock may predate the overlay).
		if u.Target.Kind != materials.KindBlob || named[u.Target.ID] || c.backing[u.Target.ID] || c.inflight[u.Target] {
			continue
		}
		until := u.Since.Add(c.opts.GracePeriod)
		if c.opts.Now.Before(until) {
			continue
		}
		var bytes int64
		var stores []string
		for i := range c.fp.Blobs {
			if b := &c.fp.Blobs[i]; string(b.Digest) == u.Target.ID && b.State == materials.StateComplete {
				bytes += b.Size
				stores = append(stores, string(b.Store))
			}
		}
		if len(stores) == 0 {
			continue // already gone: the clock is the foreman's to drop
		}
		sort.Strings(stores)
		out = append(out, newFix(TypeClean, u.Target, bytes, RemedyDelete,
			"blob unreferenced since "+u.Since.UTC().Format(time.RFC3339)+", grace period of "+
				c.opts.GracePeriod.String()+" over at "+until.UTC().Format(time.RFC3339)+
				" (in "+joinWords(stores)+")"))
	}
	return out
}

// statuses rates each volume file that is a volume by the fixes that
// target it.
func (c *checker) statuses(fixes []Fix) []VolumeStatus {
	worst := map[materials.MaterialRef]Status{}
	for _, f := range fixes {
		s := StatusDegraded
		if f.Type == TypeMend && f.Remedy != RemedyRepairLeaks {
			s = StatusBroken
		}
		if worst[f.Target] != StatusBroken {
			worst[f.Target] = s
		}
	}
	out := []VolumeStatus{}
	for i := range c.fp.Volumes {
		v := &c.fp.Volumes[i]
		if v.Temp || v.State == materials.StateUnknown || (v.ID == "" && v.Legacy == nil) {
			continue
		}
		t := c.volumeTarget(v)
		s, ok := worst[t]
		switch {
		case v.State == materials.StateBroken:
			s = StatusBroken
		case !ok && v.State == materials.StatePartial:
			s = StatusDegraded
		case !ok:
			s = StatusOptimized
		}
		out = append(out, VolumeStatus{ID: t.ID, Status: s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func fileRef(p string) materials.MaterialRef {
	return materials.MaterialRef{Kind: materials.KindFile, ID: p}
}

func volumeRef(id string) materials.MaterialRef {
	return materials.MaterialRef{Kind: materials.KindVolume, ID: id}
}

func joinWords(ws []string) string {
	s := ""
	for i, w := range ws {
		if i > 0 {
			s += " and "
		}
		s += w
	}
	return s
}

func bytesWords(n int64) string { return strconv.FormatInt(n, 10) + " bytes" }
