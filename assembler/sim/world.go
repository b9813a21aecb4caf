package sim

import (
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/assembler/crafts/httpfetch"
	"github.com/edgewright/edgewright/materials"
)

// Object is content a datastore or registry serves, described, not held.
type Object struct {
	Digest digest.Digest
	Size   int64
	// VirtualSize is an image's disk size (qcow2); 0 means Size.
	VirtualSize int64
	// Broken makes a volume build from it fail as a refused image would.
	Broken bool
	// MediaType, Children and ChildBlobs describe an OCI index or
	// manifest as the inspector reads them from the blob.
	MediaType  string
	Children   []digest.Digest
	ChildBlobs []materials.Blob
	// Follow is the manifest this platform takes from an index: fetched
	// in the same remodel as the index.
	Follow *materials.Blob
	// Chunks, when above 0, is the chunk count of an index the datastore
	// serves beside the object (`wright chunk`'s), and Shares is how many
	// of the object's bytes each other blob holds: a device holding one
	// of them as a complete blob fetches only the rest (the chunk
	// fetcher's rule: the best seed, and the whole blob when the seeds
	// hold too little).
	Chunks int
	Shares map[digest.Digest]int64
}

// World is what every simulated device can reach: objects by digest, the
// URL each HTTP datastore path serves, tags of registries, dead hosts.
// It is safe for concurrent use and counts what it serves.
type World struct {
	mu      sync.RWMutex
	objects map[digest.Digest]Object
	files   map[string]digest.Digest
	tags    map[string]digest.Digest
	down    map[string]bool
	served  int64
	fetches map[digest.Digest]int
}

// NewWorld is an empty world.
func NewWorld() *World {
	return &World{objects: map[digest.Digest]Object{}, files: map[string]digest.Digest{},
		tags: map[string]digest.Digest{}, down: map[string]bool{}, fetches: map[digest.Digest]int{}}
}

// Put adds an object (a registry serves it by digest).
func (w *World) Put(o Object) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.objects[o.Digest] = o
}

// Serve makes an HTTP datastore serve object d at the content tree URL
// rel (joined with the datastore's fqdn and dpath, as the HTTP fetcher
// joins them).
func (w *World) Serve(ds materials.Datastore, rel string, d digest.Digest) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.files[location(ds, rel)] = d
}

// Tag points a registry tag (the content tree URL) at d.
func (w *World) Tag(ds materials.Datastore, ref string, d digest.Digest) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tags[location(ds, ref)] = d
}

// SetDown makes a datastore's host unreachable (or reachable again).
func (w *World) SetDown(fqdn string, down bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.down[host(fqdn)] = down
}

// Served is the bytes every datastore has sent so far.
func (w *World) Served() int64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.served
}

func (w *World) object(d digest.Digest) (Object, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	o, ok := w.objects[d]
	return o, ok
}

func (w *World) isDown(ds materials.Datastore) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.down[host(ds.FQDN)]
}

func (w *World) served1(ds materials.Datastore, rel string) (digest.Digest, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	loc := location(ds, rel)
	d, ok := w.files[loc]
	return d, ok && loc != ""
}

func (w *World) tag(ds materials.Datastore, ref string) (digest.Digest, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	loc := location(ds, ref)
	d, ok := w.tags[loc]
	return d, ok && loc != ""
}

// Fetches is how many times a datastore has been asked for d.
func (w *World) Fetches(d digest.Digest) int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.fetches[d]
}

func (w *World) count(d digest.Digest, n int64) {
	w.mu.Lock()
	w.served += n
	w.fetches[d]++
	w.mu.Unlock()
}

func host(fqdn string) string {
	if _, rest, ok := strings.Cut(fqdn, "://"); ok {
		fqdn = rest
	}
	h, _, _ := strings.Cut(fqdn, "/")
	return h
}

// location is where a datastore path leads, joined as the HTTP fetcher
// joins fqdn (scheme and prefix allowed), dpath and the content tree's
// URL (httpfetch.DatastoreURL); "" for a path it cannot join, which
// serves nothing.
func location(ds materials.Datastore, rel string) string {
	u, err := httpfetch.DatastoreURL(ds, rel)
	if err != nil {
		return ""
	}
	return u.Host + u.Path
}
