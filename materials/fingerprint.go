package materials

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"
)

// Fingerprint is a digest of what a Floorplan says exists: volumes, blobs,
// images and in-flight journal items. Free space, times of the survey and
// diagnostics are left out, so two surveys of an unchanged disk agree and a
// plan made from one can be checked against the other before it is applied.
func Fingerprint(fp *Floorplan) string {
	if fp == nil {
		return ""
	}
	h := sha256.New()
	f := fingerprinter{h: h, w: bufio.NewWriterSize(h, 32<<10)}
	f.str("edgewright-floorplan-v1")
	f.num(int64(len(fp.Volumes)))
	for i := range fp.Volumes {
		v := &fp.Volumes[i]
		f.str(v.Path)
		f.str(v.ID)
		f.num(v.Generation)
		f.str(string(v.Format))
		f.str(string(v.State))
		f.num(v.VirtualSize)
		f.num(v.ApparentSize)
		f.num(v.ModTime.UnixNano())
		f.str(v.BackingFile)
	}
	f.num(int64(len(fp.Blobs)))
	for i := range fp.Blobs {
		b := &fp.Blobs[i]
		f.str(string(b.Digest))
		f.str(string(b.Store))
		f.str(string(b.State))
		f.num(b.Size)
		f.num(b.Offset)
		f.num(int64(len(b.Children)))
		for _, c := range b.Children {
			f.str(string(c))
		}
	}
	f.num(int64(len(fp.Images)))
	for i := range fp.Images {
		f.str(fp.Images[i].Name)
		f.str(string(fp.Images[i].Target))
	}
	if fp.Journal != nil {
		ids := make([]string, 0, len(fp.Journal.InFlight))
		for _, in := range fp.Journal.InFlight {
			ids = append(ids, in.RemodelID)
		}
		sort.Strings(ids)
		f.num(int64(len(ids)))
		for _, id := range ids {
			f.str(id)
		}
	}
	f.w.Flush()
	return "sha256:" + hex.EncodeToString(f.h.Sum(nil))
}

type fingerprinter struct {
	h hash.Hash
	// w batches the many small fields into few hash writes; a Floorplan of
	// 100k volumes has a million of them.
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
}

func (f *fingerprinter) num(n int64) {
	f.w.Write(f.buf[:binary.PutVarint(f.buf[:], n)])
}

// str writes a length prefix first so that ("ab","c") and ("a","bc") differ.
func (f *fingerprinter) str(s string) {
	f.num(int64(len(s)))
	f.w.WriteString(s)
}
