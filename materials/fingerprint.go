package materials

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"
	"sync"
)

// Fingerprint is a digest of what a Floorplan says exists: volumes, blobs,
// images and in-flight journal items. Free space, times of the survey and
// diagnostics are left out, so two surveys of an unchanged disk agree and a
// plan made from one can be checked against the other before it is applied.
func Fingerprint(fp *Floorplan) string {
	if fp == nil {
		return ""
	}
	buf := fingerprintBufs.Get().(*[]byte)
	defer fingerprintBufs.Put(buf)
	f := fingerprinter{h: sha256.New(), buf: (*buf)[:0]}
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
		if len(v.Backing) > 0 {
			// The chain is what the foreman keeps a backing blob for; only
			// then, so a volume without one fingerprints as before.
			f.str("backing")
			f.num(int64(len(v.Backing)))
			for j := range v.Backing {
				l := &v.Backing[j]
				f.str(l.Name)
				f.str(string(l.Blob))
				f.str(l.Path)
				f.str(string(l.Format))
				if l.Missing {
					f.num(1)
				} else {
					f.num(0)
				}
			}
		}
		if len(v.Snapshots) > 0 {
			// Only then, so that the fingerprint of a volume without
			// snapshots is what it was before they existed.
			f.str("snapshots")
			f.num(int64(len(v.Snapshots)))
			for j := range v.Snapshots {
				sn := &v.Snapshots[j]
				f.str(sn.Name)
				f.str(sn.Path)
				f.str(string(sn.State))
				f.num(sn.Created.UnixNano())
				f.num(sn.Size)
			}
		}
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
	f.h.Write(f.buf)
	*buf = f.buf[:0]
	return "sha256:" + hex.EncodeToString(f.h.Sum(nil))
}

// fingerprintBufs keep the gathering buffers between calls: a simulator
// fingerprints every simulated device's survey, several times a round.
var fingerprintBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, fingerprintChunk+1024)
	return &b
}}

// fingerprintChunk is how many bytes are gathered before a hash write: the
// many small fields are appended to one buffer rather than written one by
// one (a Floorplan of 100k volumes has a million of them).
const fingerprintChunk = 32 << 10

type fingerprinter struct {
	h   hash.Hash
	buf []byte
}

func (f *fingerprinter) num(n int64) {
	f.buf = binary.AppendVarint(f.buf, n)
}

// str writes a length prefix first so that ("ab","c") and ("a","bc") differ.
func (f *fingerprinter) str(s string) {
	f.buf = binary.AppendVarint(f.buf, int64(len(s)))
	if len(f.buf)+len(s) > fingerprintChunk {
		f.h.Write(f.buf)
		f.buf = f.buf[:0]
		if len(s) > fingerprintChunk {
			f.h.Write([]byte(s))
			return
		}
	}
	f.buf = append(f.buf, s...)
}
