package inspector

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/edgewright/edgewright/internal/radix"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/materials"
)

// volumeListing is one directory of volume files.
type volumeListing struct {
	rel   string
	clear bool
	parse nameParser
	fd    int
	count int
}

// listedBatch is one getdents buffer's entries of one directory; base is
// the listing-order index of its first entry.
type listedBatch struct {
	dir  int32 // index into the listings
	base int
	ents []dirent
}

// volumeStream surveys volume directories while they are still being
// listed. The calling goroutine lists (getdents) and queues entries in
// listing order; helpers read headers from the first batch on. Once the
// listing is complete it is sorted, each entry gets its final position in
// the Floorplan's array, and from then on results are written straight
// there; only the entries read during the listing are moved afterwards.
// On a directory of 10,000 volumes this hides the listing (a fifth of the
// survey) behind the reading instead of doing one after the other.
type volumeStream struct {
	s    *surveyor
	ctx  context.Context
	dirs []volumeListing

	mu      sync.Mutex
	more    *sync.Cond // signalled when entries are queued or the listing ends
	batches []listedBatch
	listed  int  // entries queued
	nb, off int  // the first entry no worker has taken: batches[nb].ents[off]
	done    bool // the listing is complete and rank/out are set
	rank    []int32
	out     []materials.VolumeFile
	early   []earlyChunk // results of entries taken before rank was known

	helpers sync.WaitGroup
	started bool
}

// earlyChunk holds the results of entries [lo, lo+len(vs)) read before
// their final positions were known.
type earlyChunk struct {
	lo int
	vs []materials.VolumeFile
}

const (
	streamChunk = 32  // entries per take: a few hundred microseconds of syscalls
	minHelped   = 256 // below this, one goroutine is faster than a handoff
)

// volumeDirs surveys the volume directories (in path order) into one
// array sorted by path.
func (s *surveyor) volumeDirs(ctx context.Context, dirs []volumeListing) ([]materials.VolumeFile, error) {
	st := &volumeStream{s: s, ctx: ctx, dirs: dirs}
	st.more = sync.NewCond(&st.mu)
	// Every directory is opened before any helper starts: a helper's
	// private descriptor table is a copy taken when it starts, and would
	// not hold a directory opened later.
	for i := range st.dirs {
		d := &st.dirs[i]
		fd, ok := s.openDir(d.rel)
		if !ok {
			d.fd = -1
			continue
		}
		d.fd = fd
		defer unix.Close(fd)
	}
	for i := range st.dirs {
		d := &st.dirs[i]
		if d.fd < 0 {
			continue
		}
		err := listDirents(d.fd, d.rel+"/", func(batch []dirent) {
			d.count += len(batch)
			st.queue(int32(i), batch)
		})
		if err != nil {
			s.diag(materials.SeverityError, d.rel, err, "cannot list directory; the listing is incomplete")
		}
	}
	st.finishListing()
	st.work(make([]byte, headerSize)) // the lister helps with what is left
	st.helpers.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("survey volumes: %w", err)
	}
	for _, c := range st.early {
		for j := range c.vs {
			st.out[st.rank[c.lo+j]] = c.vs[j]
		}
	}
	for _, d := range st.dirs {
		if d.fd >= 0 {
			s.log.Debug("surveyed volume directory", zap.String("dir", d.rel), zap.Int("entries", d.count))
		}
	}
	return st.out, nil
}

// queue adds a listed batch and starts the helpers once there is enough
// to share.
func (st *volumeStream) queue(dir int32, batch []dirent) {
	st.mu.Lock()
	st.batches = append(st.batches, listedBatch{dir: dir, base: st.listed, ents: batch})
	st.listed += len(batch)
	start := !st.started && st.listed >= minHelped && st.s.workers > 1
	st.started = st.started || start
	st.mu.Unlock()
	st.more.Broadcast()
	if start {
		// One helper fewer than workers: the lister works too, once the
		// listing is done.
		for range st.s.workers - 1 {
			st.helpers.Add(1)
			go func() {
				defer st.helpers.Done()
				privateFiles()
				st.work(make([]byte, headerSize))
			}()
		}
	}
}

// finishListing sorts the listing (directories in the order given, names
// within each), gives every entry its final position and publishes them.
func (st *volumeStream) finishListing() {
	st.mu.Lock()
	batches, total := st.batches, st.listed
	st.mu.Unlock()
	// Group by directory (a counting sort: listing order is kept), then
	// sort each directory's names.
	first := make([]int, len(st.dirs)+1)
	for _, b := range batches {
		first[b.dir+1] += len(b.ents)
	}
	for d := 1; d < len(first); d++ {
		first[d] += first[d-1]
	}
	names := make([]string, total) // by listing index
	byDir := make([]int32, total)  // listing indexes, grouped by directory
	fill := slices.Clone(first[:len(st.dirs)])
	for _, b := range batches {
		for j, e := range b.ents {
			names[b.base+j] = e.name
			byDir[fill[b.dir]] = int32(b.base + j)
			fill[b.dir]++
		}
	}
	rank := make([]int32, total)
	for d := range st.dirs {
		idx := byDir[first[d]:first[d+1]]
		for k, i := range radix.Order(len(idx), func(k int) string { return names[idx[k]] }) {
			rank[idx[i]] = int32(first[d] + k)
		}
	}
	out := make([]materials.VolumeFile, total)
	st.mu.Lock()
	st.rank, st.out, st.done = rank, out, true
	st.mu.Unlock()
	st.more.Broadcast()
}

// work takes chunks of entries until the listing is done and all are
// taken, or ctx ends.
func (st *volumeStream) work(buf []byte) {
	for st.ctx.Err() == nil {
		st.mu.Lock()
		for st.nb == len(st.batches) && !st.done {
			st.more.Wait()
		}
		if st.nb == len(st.batches) {
			st.mu.Unlock()
			return
		}
		// A chunk never spans two batches; batches are never changed once
		// queued, so the chunk is read without the lock.
		b := &st.batches[st.nb]
		dir, lo := b.dir, b.base+st.off
		chunk := b.ents[st.off:min(st.off+streamChunk, len(b.ents))]
		st.off += len(chunk)
		if st.off == len(b.ents) {
			st.nb, st.off = st.nb+1, 0
		}
		rank, out := st.rank, st.out
		var early []materials.VolumeFile
		if rank == nil {
			early = make([]materials.VolumeFile, len(chunk))
			st.early = append(st.early, earlyChunk{lo: lo, vs: early})
		}
		st.mu.Unlock()
		d := &st.dirs[dir]
		for j, e := range chunk {
			var v *materials.VolumeFile
			if rank != nil {
				v = &out[rank[lo+j]]
			} else {
				v = &early[j]
			}
			st.s.volumeEntry(d.fd, e, d.clear, d.parse, v, buf)
		}
	}
}
