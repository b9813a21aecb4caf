package foreman

import (
	"math/bits"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// blobIndex finds a Floorplan's blob records by digest without a hash map
// of strings: a 64-bit hash of each digest, and compact entries (the
// hash's low half and the record's index) grouped by the hash's top bits
// with a counting sort. At half a million blobs this is several times
// cheaper than filling a map, and a lookup reads a bucket of about four
// entries (one cache line) and then the one record that matches. Only the
// hash decides the bucket, so any digest strings (structured test
// digests too) spread evenly.
//
// What a lookup needs besides the digest (the record's state and store,
// and which desired tree needs it) lives in small arrays by record, read
// once from the record while hashing: building the index reads each
// record once, in order, and writes nothing as large as the records.
type blobIndex struct {
	recs  []materials.BlobRecord
	ents  []blobEntry // grouped by bucket
	start []int32     // bucket → its first entry; one more than buckets
	shift uint
	state []slotState
	store []slotStore
	// needed is, by record, 1 + the index of the first desired tree that
	// needs it; 0 when none does.
	needed []int32
	// sink keeps warm's loads from being optimised away.
	sink uint64
}

// blobEntry is one record's place in the index: the low half of its
// digest's hash (the top bits chose the bucket) and its index in recs.
type blobEntry struct {
	hash uint32
	rec  int32
}

type slotState uint8

const (
	slotOther slotState = iota
	slotComplete
	slotBroken
	slotPartial
)

func slotStateOf(s materials.State) slotState {
	switch s {
	case materials.StateComplete:
		return slotComplete
	case materials.StateBroken:
		return slotBroken
	case materials.StatePartial:
		return slotPartial
	}
	return slotOther
}

type slotStore uint8

const (
	storeOther slotStore = iota
	storeDir             // BlobStoreDir, or no store named
	storeContainerd
)

func slotStoreOf(s materials.BlobStore) slotStore {
	switch s {
	case materials.BlobStoreDir, "":
		return storeDir
	case materials.BlobStoreContainerd:
		return storeContainerd
	}
	return storeOther
}

func newBlobIndex(recs []materials.BlobRecord) *blobIndex {
	n := len(recs)
	// About four entries (half a cache line) per bucket.
	lg := bits.Len(uint(n / 4))
	x := &blobIndex{recs: recs, ents: make([]blobEntry, n),
		start: make([]int32, (1<<lg)+1), shift: uint(64 - lg),
		state: make([]slotState, n), store: make([]slotStore, n), needed: make([]int32, n)}
	hashes := make([]uint64, n)
	for i := range recs {
		r := &recs[i]
		h := hashDigest(r.Digest)
		hashes[i] = h
		x.state[i], x.store[i] = slotStateOf(r.State), slotStoreOf(r.Store)
		x.start[x.bucket(h)+1]++
	}
	for b := 1; b < len(x.start); b++ {
		x.start[b] += x.start[b-1]
	}
	next := make([]int32, len(x.start)-1)
	copy(next, x.start)
	for i, h := range hashes {
		b := x.bucket(h)
		x.ents[next[b]] = blobEntry{hash: uint32(h), rec: int32(i)}
		next[b]++
	}
	return x
}

func (x *blobIndex) bucket(h uint64) int {
	if x.shift >= 64 {
		return 0
	}
	return int(h >> x.shift)
}

// warmGroup is how many lookups warm prepares at once: enough to overlap
// their cache misses, few enough that what it loads is still in cache when
// the walk gets there.
const warmGroup = 16

// warm loads what looking up each of ds will read, stage by stage: the
// bucket bounds of all, then their buckets' entries, then the matching
// records' digests. The loads of one stage do not depend on each other,
// so their cache misses overlap; the walk that follows then finds
// everything in cache, instead of paying three misses in a row per blob.
// At half a million blobs the records no longer fit in any cache and this
// is most of a lookup's cost. It changes nothing.
func (x *blobIndex) warm(ds []digest.Digest) {
	if len(x.ents) == 0 {
		return
	}
	for len(ds) > 0 {
		n := min(len(ds), warmGroup)
		var (
			hash   [warmGroup]uint64
			lo, hi [warmGroup]int32
			sink   uint64
		)
		for i, d := range ds[:n] {
			if d == "" {
				continue
			}
			hash[i] = hashDigest(d)
			b := x.bucket(hash[i])
			lo[i], hi[i] = x.start[b], x.start[b+1]
		}
		for i := range n {
			for q := lo[i]; q < hi[i]; q++ {
				if x.ents[q].hash == uint32(hash[i]) {
					lo[i] = x.ents[q].rec // the match, for the next stage
					hi[i] = -1
					break
				}
			}
		}
		for i := range n {
			if hi[i] == -1 {
				if dig := x.recs[lo[i]].Digest; len(dig) > 0 {
					sink += uint64(dig[len(dig)-1])
				}
			}
		}
		x.sink += sink
		ds = ds[n:]
	}
}

// bucketOf returns the entries [lo, hi) where d's records are, among
// others: callers compare digests.
func (x *blobIndex) bucketOf(d digest.Digest) (int, int, uint64) {
	if len(x.ents) == 0 {
		return 0, 0, 0
	}
	h := hashDigest(d)
	b := x.bucket(h)
	return int(x.start[b]), int(x.start[b+1]), h
}

// match returns the record entry q holds when it is a record of d (whose
// hash is h), else -1.
func (x *blobIndex) match(q int, d digest.Digest, h uint64) int {
	e := x.ents[q]
	if e.hash != uint32(h) || x.recs[e.rec].Digest != d {
		return -1
	}
	return int(e.rec)
}

// blobState is what the plan's store holds of a digest: its complete (or
// broken, when no complete one) record, its partial ingest, and the first
// record in any store.
type blobState struct {
	complete, partial, any *materials.BlobRecord
	// broken: complete is a broken record (no whole one was found).
	broken bool
	lo, hi int // d's bucket
	hash   uint64
}

func (p *planner) blobState(d digest.Digest) blobState {
	lo, hi, h := p.index.bucketOf(d)
	s := blobState{lo: lo, hi: hi, hash: h}
	want := slotStoreOf(p.store)
	for q := lo; q < hi; q++ {
		i := p.index.match(q, d, h)
		if i < 0 {
			continue
		}
		b := &p.index.recs[i]
		if s.any == nil {
			s.any = b
		}
		if p.index.store[i] != want || want == storeOther && b.Store != p.store {
			continue
		}
		switch st := p.index.state[i]; st {
		case slotComplete, slotBroken:
			if s.complete == nil || s.broken {
				s.complete, s.broken = b, st == slotBroken
			}
		case slotPartial:
			if s.partial == nil {
				s.partial = b
			}
		}
	}
	return s
}

// present is the digest's complete (or broken) record in the plan's store.
func (p *planner) present(d digest.Digest) *materials.BlobRecord {
	return p.blobState(d).complete
}

// hashDigest is a 64-bit hash of a digest string, eight bytes at a time.
// It is not keyed: digests name content we verified, so nobody chooses
// them to collide.
func hashDigest(d digest.Digest) uint64 {
	s := string(d)
	h := uint64(len(s)) * 0x9E3779B97F4A7C15
	for len(s) >= 8 {
		v := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = (h ^ v) * 0xBF58476D1CE4E5B9
		h ^= h >> 31
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 0x94D049BB133111EB
	}
	h ^= h >> 29
	h *= 0x9E3779B97F4A7C15
	h ^= h >> 32
	return h
}

// neededRecords says, per record (fp.Blobs index), whether a desired tree
// needs it.
func (x *blobIndex) neededRecords() []bool {
	out := make([]bool, len(x.recs))
	for i, n := range x.needed {
		out[i] = n != 0
	}
	return out
}
