package check

import (
	"strconv"

	"github.com/edgewright/edgewright/materials"
)

// missingLink is the first link of v's backing chain whose file is not
// there, or nil.
func missingLink(v *materials.VolumeFile) *materials.BackingLink {
	for i := range v.Backing {
		if v.Backing[i].Missing {
			return &v.Backing[i]
		}
	}
	return nil
}

// missingBacking: an overlay whose backing content blob is gone from
// the stores. The blob is verified, immutable content: downloading it
// again from the content tree the last applied config names for it
// restores the volume without touching its own data.
func missingBacking(c *checker, v *materials.VolumeFile) (Fix, bool) {
	l := missingLink(v)
	if l == nil || v.Temp || v.State == materials.StateUnknown {
		return Fix{}, false
	}
	t := c.volumeTarget(v)
	if l.Blob == "" {
		return c.recreateOrReport(v, "backing file "+strconv.Quote(l.Name)+" (another file of the volume) is missing"), true
	}
	ct := c.treeOf(string(l.Blob))
	if ct == nil {
		return newFix(TypeMend, t, 0, RemedyReport,
			"backing blob "+string(l.Blob)+" is missing; report only: the last applied config names no content tree with it, so no datastore is known to fetch it from"), true
	}
	return newFix(TypeMend, t, -int64(ct.MaxSizeBytes), RemedyRefetch,
		"backing blob "+string(l.Blob)+" is missing: download it again from content tree "+ct.ID+
			" (the volume's own data is untouched)"), true
}

// performanceOverlay: an overlay on a device (or volume) now set to the
// performance strategy: flattening copies its chain's data in, so reads
// no longer go through the blob, and the blob is no longer pinned by it.
func performanceOverlay(c *checker, v *materials.VolumeFile) (Fix, bool) {
	// A file another overlay reads through (a snapshot's) is that
	// overlay's chain: flattening the top is what the strategy asks.
	if !c.overlay(v) || c.strategy(v) != StrategyPerformance || c.linked[v.Path] {
		return Fix{}, false
	}
	cost := c.chainBytes(v.Backing)
	return newFix(TypeOptimize, c.volumeTarget(v), -cost, RemedyFlatten,
		"qcow2 overlay on "+chainWords(v.Backing)+" under the performance strategy: flatten it into a standalone image (writes about "+
			bytesWords(cost)+")"), true
}

// longChain: an overlay reading through more than one link (overlay ->
// overlay -> blob) under the space strategy (or none known): every read
// of an unwritten cluster walks the chain. Merging rewrites it as one
// overlay on the blob, the middle links' data copied in; the middle
// files stay (a snapshot's file is the snapshot).
func longChain(c *checker, v *materials.VolumeFile) (Fix, bool) {
	if !c.overlay(v) || len(v.Backing) < 2 || c.strategy(v) == StrategyPerformance || c.linked[v.Path] {
		return Fix{}, false
	}
	last := v.Backing[len(v.Backing)-1]
	if last.Blob == "" {
		return Fix{}, false // not a chain on content: nothing to merge onto
	}
	cost := c.chainBytes(v.Backing[:len(v.Backing)-1])
	return newFix(TypeMerge, c.volumeTarget(v), -cost, RemedyMerge,
		"overlay chain of "+strconv.Itoa(len(v.Backing)+1)+" images ("+chainWords(v.Backing)+
			"): merge into one overlay on blob "+string(last.Blob)+" (copies about "+bytesWords(cost)+" in)"), true
}

// overlay says whether v is a sound overlay: complete, every link of its
// chain inside the stores and present.
func (c *checker) overlay(v *materials.VolumeFile) bool {
	return len(v.Backing) > 0 && !v.Temp && v.State == materials.StateComplete && missingLink(v) == nil
}

// strategy is v's strategy: the per-volume override, else the device's.
func (c *checker) strategy(v *materials.VolumeFile) string {
	if s := c.opts.VolumeStrategy[v.Key()]; s != "" && v.ID != "" {
		return s
	}
	return c.opts.Strategy
}

// chainBytes is what the links hold on disk, as far as the survey knows.
func (c *checker) chainBytes(links []materials.BackingLink) int64 {
	var n int64
	for _, l := range links {
		if l.Blob != "" {
			n += c.blobSize[string(l.Blob)]
		} else if f := c.fileAt[l.Path]; f != nil {
			n += f.AllocatedSize
		}
	}
	return n
}

// treeOf is the last applied content tree whose top blob is d.
func (c *checker) treeOf(d string) *materials.ContentTree {
	for _, id := range c.treeIDs {
		if t := c.lastTrees[id]; string(t.Digest()) == d {
			return t
		}
	}
	return nil
}

func chainWords(links []materials.BackingLink) string {
	s := ""
	for i, l := range links {
		if i > 0 {
			s += " -> "
		}
		switch {
		case l.Blob != "":
			s += "blob " + string(l.Blob)
		case l.Path != "":
			s += l.Path
		default:
			s += strconv.Quote(l.Name)
		}
	}
	return s
}

// VolumeStrategies is what a Blueprint's strategy Additions ask of each of
// its volume generations (one naming the generation's key wins over one
// naming the uuid), for Options.VolumeStrategy: the last applied config's
// per-volume choice. The device's own default is not in a Blueprint.
func VolumeStrategies(bp *materials.Blueprint) map[materials.VolumeKey]string {
	out := map[materials.VolumeKey]string{}
	if bp == nil {
		return out
	}
	for _, v := range bp.Volumes {
		for _, a := range bp.Additions {
			if a.Kind != materials.AdditionStrategy || a.Target.Kind != materials.KindVolume || a.Strategy == "" {
				continue
			}
			switch a.Target.ID {
			case v.Key().String():
				out[v.Key()] = string(a.Strategy)
			case v.ID:
				if _, set := out[v.Key()]; !set {
					out[v.Key()] = string(a.Strategy)
				}
			}
		}
	}
	return out
}
