package check

import (
	"fmt"
	"strconv"

	"github.com/edgewright/edgewright/materials"
)

// staleTemp: `.tmp` work left by an apply that stopped, old enough and
// not in flight.
func staleTemp(c *checker, v *materials.VolumeFile) (Fix, bool) {
	if !v.Temp || c.volumeInFlight(v) {
		return Fix{}, false
	}
	old, age := c.stale(v.ModTime)
	if !old {
		return Fix{}, false
	}
	return newFix(TypeClean, fileRef(v.Path), v.AllocatedSize, RemedyDelete,
		"stale work in progress (.tmp), "+age+"; "+c.journalWords()), true
}

// unknownVolumeFile: a name under a volume directory that is not ours.
func unknownVolumeFile(c *checker, v *materials.VolumeFile) (Fix, bool) {
	if v.State != materials.StateUnknown || v.Temp {
		return Fix{}, false
	}
	return newFix(TypeClean, fileRef(v.Path), v.AllocatedSize, RemedyReport,
		"unknown file ("+v.Reason+"); listed for a person, never deleted automatically"), true
}

// unknownBlobFile: a name in the blob directory that is not a blob.
func unknownBlobFile(c *checker, b *materials.BlobRecord) (Fix, bool) {
	if b.State != materials.StateUnknown || b.Path == "" {
		return Fix{}, false
	}
	return newFix(TypeClean, fileRef(b.Path), b.Size, RemedyReport,
		"unknown file ("+b.Reason+"); listed for a person, never deleted automatically"), true
}

// leakedIngest: a partial download or containerd ingest that nothing is
// writing to any more.
func leakedIngest(c *checker, b *materials.BlobRecord) (Fix, bool) {
	if b.State != materials.StatePartial || c.blobInFlight(b) {
		return Fix{}, false
	}
	old, age := c.stale(b.UpdatedAt)
	if !old {
		return Fix{}, false
	}
	reason := "leaked partial ingest of " + string(b.Digest) + " (" + bytesWords(b.Offset) + " written), " + age + "; " + c.journalWords()
	if b.Path != "" {
		return newFix(TypeClean, fileRef(b.Path), b.Offset, RemedyDelete, reason), true
	}
	if b.Ref == "" {
		return Fix{}, false // a partial blob with no file and no ref cannot be named to remove
	}
	t := materials.MaterialRef{Kind: materials.KindBlob, ID: string(b.Digest)}
	f := newFix(TypeClean, t, b.Offset, RemedyDelete, "containerd ingest "+strconv.Quote(b.Ref)+": "+reason)
	f.ID += "/ingest/" + b.Ref
	return f, true
}

// brokenVolume: a volume whose header is damaged or names another file.
func brokenVolume(c *checker, v *materials.VolumeFile) (Fix, bool) {
	if v.State != materials.StateBroken || v.Temp || missingLink(v) != nil {
		return Fix{}, false // a missing link is missingBacking's
	}
	what := "damaged: " + v.Reason
	if v.BackingFile != "" {
		what = "names backing file " + strconv.Quote(v.BackingFile) + ", which is never opened: " + v.Reason
	}
	return c.recreateOrReport(v, what), true
}

// corruptQcow2: a deep check found corrupted clusters, or could not read
// the metadata at all.
func corruptQcow2(c *checker, v *materials.VolumeFile) (Fix, bool) {
	k := v.Check
	if k == nil || k.Error != "" || v.State != materials.StateComplete || (k.Corruptions == 0 && k.CheckErrors == 0) {
		return Fix{}, false
	}
	what := fmt.Sprintf("qemu-img check finds %d corruptions, %d leaks, %d check errors", k.Corruptions, k.Leaks, k.CheckErrors)
	return c.recreateOrReport(v, what+"; repairing corruptions in place (-r all) may lose data"), true
}

// leakedClusters: only leaked clusters, which a repair frees safely.
func leakedClusters(c *checker, v *materials.VolumeFile) (Fix, bool) {
	k := v.Check
	if k == nil || k.Error != "" || v.State != materials.StateComplete || k.Corruptions != 0 || k.CheckErrors != 0 || k.Leaks == 0 {
		return Fix{}, false
	}
	return newFix(TypeMend, c.volumeTarget(v), 0, RemedyRepairLeaks,
		fmt.Sprintf("qemu-img check finds %d leaked clusters and no corruption: repair with qemu-img check -r leaks, safe (no data cluster is touched); the file does not shrink, the space is reused", k.Leaks)), true
}

// fullyAllocatedRaw: a raw volume with every block allocated, unless a
// sparsify left it so and it has not changed since (the journal's
// record of its size and mtime matches): it holds no zero block, and
// listing it again would ask for the same read of the whole file.
func fullyAllocatedRaw(c *checker, v *materials.VolumeFile) (Fix, bool) {
	if v.Format != materials.FormatRaw || v.Dir || v.Temp || v.State != materials.StateComplete ||
		v.ApparentSize == 0 || v.AllocatedSize < v.ApparentSize {
		return Fix{}, false
	}
	if d, ok := c.dense[v.Path]; ok && d.Size == v.ApparentSize && d.ModTime.Equal(v.ModTime) {
		return Fix{}, false
	}
	return newFix(TypeOptimize, c.volumeTarget(v), 0, RemedySparsify,
		"raw volume fully allocated ("+bytesWords(v.AllocatedSize)+" for "+bytesWords(v.ApparentSize)+
			"): make it sparse (punch holes where it holds zeros); what that frees takes reading its data, so bytes is 0"), true
}

// recreateOrReport is the mend of a broken volume: re-created from its
// content when the last applied Blueprint knows the generation's content
// tree, else reported.
func (c *checker) recreateOrReport(v *materials.VolumeFile, what string) Fix {
	t := c.volumeTarget(v)
	ct := c.content(v)
	if ct == nil {
		why := "the last applied config does not say what content this generation was made from"
		switch lv := c.lastVols[v.Key()]; {
		case v.ID == "":
			why = "a legacy file, whose content no config names by this file"
		case lv != nil && lv.Origin == materials.OriginBlank:
			why = "a blank volume: its data is in this file alone, re-creating it would lose it"
		}
		return newFix(TypeMend, t, 0, RemedyReport, what+"; report only: "+why)
	}
	// Re-creating frees the damaged file and writes about the content's
	// size again (known when its blob is here).
	bytes := int64(0)
	cost := "cost unknown (the content's blob is not here)"
	if size, ok := c.blobSize[string(ct.Digest())]; ok {
		bytes = v.AllocatedSize - size
		cost = "frees " + bytesWords(v.AllocatedSize) + ", writes about " + bytesWords(size)
	}
	return newFix(TypeMend, t, bytes, RemedyRecreate,
		what+"; re-create generation "+strconv.FormatInt(v.Generation, 10)+" from content tree "+ct.ID+" ("+cost+")")
}
