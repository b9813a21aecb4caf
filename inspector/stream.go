package inspector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

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

// listedEntry is a directory entry in listing order, with its directory.
type listedEntry struct {
	dirent
	dir int32 // index into the listings
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

	mu    sync.Mutex
	more  *sync.Cond // signalled when entries are queued or the listing ends
	ents  []listedEntry
	next  int  // the first entry no worker has taken
	done  bool // the listing is complete and rank/out are set
	rank  []int32
	out   []materials.VolumeFile
	early []earlyChunk // results of entries taken before rank was known

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
	for _, e := range batch {
		st.ents = append(st.ents, listedEntry{dirent: e, dir: dir})
	}
	start := !st.started && len(st.ents) >= minHelped && st.s.workers > 1
	st.started = st.started || start
	st.mu.Unlock()
	st.more.Broadcast()
	if start {
		// The lister is busy listing; one helper fewer than workers keeps
		// the cores full without a third thread competing.
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
	ents := st.ents
	st.mu.Unlock()
	// Group by directory (a counting sort: listing order is kept), then
	// sort each directory's names.
	first := make([]int, len(st.dirs)+1)
	for _, e := range ents {
		first[e.dir+1]++
	}
	for d := 1; d < len(first); d++ {
		first[d] += first[d-1]
	}
	byDir := make([]sortKey, len(ents))
	fill := slices.Clone(first[:len(st.dirs)])
	for i, e := range ents {
		byDir[fill[e.dir]] = sortKey{key: namePrefix(e.name), i: uint32(i)}
		fill[e.dir]++
	}
	tmp := make([]sortKey, len(ents))
	rank := make([]int32, len(ents))
	for d := range st.dirs {
		keys := byDir[first[d]:first[d+1]]
		if len(keys) == 0 {
			continue
		}
		keys = sortKeys(keys, tmp[first[d]:first[d+1]], func(a, b uint32) int { return strings.Compare(ents[a].name, ents[b].name) })
		for k, x := range keys {
			rank[x.i] = int32(first[d] + k)
		}
	}
	out := make([]materials.VolumeFile, len(ents))
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
		for st.next == len(st.ents) && !st.done {
			st.more.Wait()
		}
		lo := st.next
		hi := min(lo+streamChunk, len(st.ents))
		if lo == hi {
			st.mu.Unlock()
			return
		}
		st.next = hi
		// ents may be reallocated by the lister; the chunk is copied out.
		var chunk [streamChunk]listedEntry
		n := copy(chunk[:], st.ents[lo:hi])
		rank, out := st.rank, st.out
		var early []materials.VolumeFile
		if rank == nil {
			early = make([]materials.VolumeFile, n)
			st.early = append(st.early, earlyChunk{lo: lo, vs: early})
		}
		st.mu.Unlock()
		for j, e := range chunk[:n] {
			var v *materials.VolumeFile
			if rank != nil {
				v = &out[rank[lo+j]]
			} else {
				v = &early[j]
			}
			d := &st.dirs[e.dir]
			st.s.volumeEntry(d.fd, e.dirent, d.clear, d.parse, v, buf)
		}
	}
}
