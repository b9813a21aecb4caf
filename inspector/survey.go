package inspector

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// Options says what to survey.
type Options struct {
	// Root is the device root; volumes live under Root/persist/...
	Root string
	// Containerd, when set, adds a content store beyond the root and its
	// image records to the survey: any ContentStore, in practice a
	// containerd daemon (inspector/ctrsurvey.Daemon).
	Containerd ContentStore
	// ContainerdContentDir is containerd's content directory (the
	// directory holding blobs/sha256, e.g.
	// /var/lib/containerd/io.containerd.content.v1.content), when its
	// blobs may back an overlay volume: a backing file name under it is
	// then followed (as blobs/sha256/<hex>, never through a symlink).
	// Empty: only the root's own blob directory backs overlays.
	ContainerdContentDir string
	// Journal, when set, is asked what the last apply left in flight.
	Journal JournalSource
	// Logger receives progress at debug level; nil logs nothing.
	Logger *zap.Logger
	// Workers bounds the goroutines that stat and read headers; 0 means
	// GOMAXPROCS.
	Workers int
}

// ContentStore is a content store beyond the root, such as containerd,
// whose blobs and image records a survey includes. It is an interface so
// that this package does not import containerd's gRPC API: a program that
// surveys only files does not pay for its package init.
type ContentStore interface {
	// SurveyStore lists the store's blobs (complete and partial), image
	// records and leases. What it cannot read it reports through d; it never fails
	// the survey. A store that cannot reach its daemon says so with an
	// error diagnostic at DiagContainerd whose message starts with
	// MsgContainerdUnreachable.
	SurveyStore(ctx context.Context, d Diagnoser) StoreContents
}

// StoreContents is what a ContentStore holds.
type StoreContents struct {
	Blobs  []materials.BlobRecord
	Images []materials.ImageRecord
	Leases []materials.LeaseRecord
}

// Diagnoser records a survey's diagnostics; the survey gives one to its
// ContentStore.
type Diagnoser interface {
	// Diag records a problem at path (a root-relative path or a DiagX
	// scope); err may be nil. With an err, the diagnostic's Message is
	// msg + ": " + err and its Value names the errno when there is one.
	Diag(sev materials.Severity, path string, err error, msg string)
}

// JournalSource is what the inspector needs of the assembler's journal
// (journal.Journal implements it); the inspector never imports the
// assembler.
type JournalSource interface {
	JournalState(ctx context.Context) (*materials.JournalState, error)
}

// RootError is returned when the root itself cannot be surveyed: it does
// not exist, is not a directory or cannot be opened. Anything below the
// root that cannot be read is a diagnostic instead.
type RootError struct {
	Root string
	Err  error
}

func (e *RootError) Error() string { return fmt.Sprintf("survey root %s: %v", e.Root, e.Err) }
func (e *RootError) Unwrap() error { return e.Err }

// Diagnostic paths that are not file paths under the root.
const (
	// DiagContainerd is the Path of diagnostics about the containerd
	// daemon as a whole (unreachable, a list that failed).
	DiagContainerd = "containerd"
	// DiagJournal is the Path of a diagnostic about the journal.
	DiagJournal = "journal"
	// MsgContainerdUnreachable starts the message of the error diagnostic
	// at DiagContainerd that says the daemon could not be reached;
	// ContainerdUnreachable looks for it.
	MsgContainerdUnreachable = "containerd unreachable"
)

// Where the two layouts and the blob directory live under the root.
// They are package layout's.
const (
	VaultVolumesDir = layout.VaultVolumesDir
	ClearVolumesDir = layout.ClearVolumesDir
	LegacyDir       = layout.LegacyDir
	BlobsDir        = layout.BlobsDir
	BlobsSHA256Dir  = layout.BlobsSHA256Dir
	BlobsIngestDir  = layout.BlobsIngestDir
)

// ContainerdUnreachable reports whether a survey could not reach the
// containerd daemon it was asked to survey (its blobs and images are then
// missing from the Floorplan, not absent from the device).
func ContainerdUnreachable(fp *materials.Floorplan) bool {
	for _, d := range fp.Diagnostics {
		if d.Path == DiagContainerd && d.Severity == materials.SeverityError && strings.HasPrefix(d.Message, MsgContainerdUnreachable) {
			return true
		}
	}
	return false
}

// Survey returns what exists now under opts.Root (and in containerd when
// asked), sorted so that two surveys of an unchanged device are equal, with
// fp.Fingerprint set. It fails only when the root cannot be opened or ctx
// ends; everything else it cannot read becomes a diagnostic. A diagnostic
// of severity error means a whole scope (a directory, containerd, the
// journal) is missing from the Floorplan; a warning concerns one item.
func Survey(ctx context.Context, opts Options) (*materials.Floorplan, error) {
	if opts.Root == "" {
		return nil, &RootError{Root: opts.Root, Err: errors.New("root is empty")}
	}
	abs, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, &RootError{Root: opts.Root, Err: err}
	}
	// The root itself is the caller's choice and may be reached through a
	// symlink; nothing below it is.
	rootfd, err := unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &RootError{Root: abs, Err: err}
	}
	defer unix.Close(rootfd)

	s := &surveyor{
		log:     opts.Logger,
		rootfd:  rootfd,
		root:    abs,
		ctrfd:   -1,
		workers: opts.Workers,
	}
	if opts.ContainerdContentDir != "" {
		// Opened before the volume walk's helpers copy the descriptor
		// table; like the root, the directory itself is the caller's.
		if cd, err := filepath.Abs(opts.ContainerdContentDir); err == nil {
			s.ctrDir = cd
			if fd, err := unix.Open(cd, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
				s.ctrfd = fd
				defer unix.Close(fd)
			} else {
				s.diag(materials.SeverityWarning, DiagContainerd, err, "cannot open containerd's content directory; overlays backed by its blobs are broken")
			}
		}
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	fp := &materials.Floorplan{
		Root:        abs,
		Volumes:     []materials.VolumeFile{},
		Blobs:       []materials.BlobRecord{},
		Images:      []materials.ImageRecord{},
		Diagnostics: materials.Diagnostics{},
	}

	var st unix.Statfs_t
	if err := unix.Fstatfs(rootfd, &st); err != nil {
		s.diag(materials.SeverityWarning, ".", err, "cannot read free space")
	} else {
		fp.Space = materials.Space{
			TotalBytes: st.Blocks * uint64(st.Bsize),
			FreeBytes:  st.Bavail * uint64(st.Bsize),
		}
	}

	// In path order, so that the volumes come out sorted (each directory's
	// entries are) and the final sort only checks.
	vols, err := s.volumeDirs(ctx, []volumeListing{
		{rel: ClearVolumesDir, clear: true, parse: parseNewLayoutName},
		{rel: LegacyDir, parse: parseLegacyName},
		{rel: VaultVolumesDir, parse: parseNewLayoutName},
	})
	if err != nil {
		return nil, err
	}
	fp.Volumes = attachSnapshots(vols)

	blobs, err := s.blobDir(ctx)
	if err != nil {
		return nil, err
	}
	fp.Blobs = append(fp.Blobs, blobs...)

	if opts.Containerd != nil {
		sc := opts.Containerd.SurveyStore(ctx, s)
		fp.Blobs = append(fp.Blobs, sc.Blobs...)
		fp.Images = append(fp.Images, sc.Images...)
		fp.Leases = append(fp.Leases, sc.Leases...)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("survey %s: %w", abs, err)
	}

	if opts.Journal != nil {
		js, err := opts.Journal.JournalState(ctx)
		if err != nil {
			s.diag(materials.SeverityError, DiagJournal, err, "cannot read the journal")
		} else if js != nil {
			fp.Journal = js
		}
	}
	fp.Diagnostics = s.sortedDiags()
	Settle(fp)
	s.log.Debug("survey done", zap.String("root", abs), zap.Int("volumes", len(fp.Volumes)),
		zap.Int("blobs", len(fp.Blobs)), zap.Int("images", len(fp.Images)),
		zap.Int("diagnostics", len(fp.Diagnostics)))
	return fp, nil
}

// surveyor carries one survey's state.
type surveyor struct {
	log     *zap.Logger
	rootfd  int
	workers int
	// root is the root's absolute path, ctrDir containerd's content
	// directory (and ctrfd its descriptor, -1 when none): where an
	// absolute backing file name may point.
	root   string
	ctrDir string
	ctrfd  int

	mu    sync.Mutex
	diags materials.Diagnostics
}

// diag records a problem at a root-relative path; err may be nil.
func (s *surveyor) diag(sev materials.Severity, path string, err error, msg string) {
	d := materials.Diagnostic{Severity: sev, Path: path, Message: msg}
	if err != nil {
		d.Value = errValue(err)
		d.Message = msg + ": " + err.Error()
	}
	s.mu.Lock()
	s.diags = append(s.diags, d)
	s.mu.Unlock()
}

// Diag is diag for a ContentStore (Diagnoser).
func (s *surveyor) Diag(sev materials.Severity, path string, err error, msg string) {
	s.diag(sev, path, err, msg)
}

// errValue names an errno (EACCES, ELOOP) when there is one.
func errValue(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
	}
	return err.Error()
}

func (s *surveyor) sortedDiags() materials.Diagnostics {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := append(materials.Diagnostics{}, s.diags...)
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Severity != b.Severity {
			return a.Severity < b.Severity
		}
		return a.Message < b.Message
	})
	// The same problem met from several scopes (a symlinked persist/) is
	// said once.
	out := ds[:0]
	for i, d := range ds {
		if i == 0 || d != ds[i-1] {
			out = append(out, d)
		}
	}
	return out
}

// forEach runs fn(i) for i in [0,n) on up to s.workers goroutines. Each
// gets its own header buffer. It stops early when ctx ends.
//
// The calling goroutine works too, and helpers take small chunks from a
// shared counter: on a busy machine where a helper's thread is not
// scheduled for a while, the caller simply does more of the work instead
// of waiting for it. Small directories are not worth a helper at all.
func (s *surveyor) forEach(ctx context.Context, n int, fn func(i int, buf []byte)) error {
	const (
		chunk     = 32  // items per take: a few hundred microseconds of syscalls
		minHelped = 256 // below this, one goroutine is faster than a handoff
	)
	var next atomic.Int64
	work := func(buf []byte) {
		for ctx.Err() == nil {
			hi := int(next.Add(chunk))
			lo := hi - chunk
			if lo >= n {
				return
			}
			for i := lo; i < min(hi, n); i++ {
				fn(i, buf)
			}
		}
	}
	helpers := min(s.workers, (n+chunk-1)/chunk) - 1
	if n < minHelped {
		helpers = 0
	}
	var wg sync.WaitGroup
	for range helpers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			privateFiles()
			work(make([]byte, headerSize))
		}()
	}
	work(make([]byte, headerSize))
	wg.Wait()
	return ctx.Err()
}

// privateFiles gives the calling goroutine an OS thread of its own with a
// private copy of the file descriptor table (unshare CLONE_FILES). In a
// multi-threaded process every openat, fstat, pread and close otherwise
// takes reference counts and the table lock that all threads share, which
// costs more than the parallel work gains; with a private table the kernel
// takes its single-threaded fast path, as for find. The thread is never
// unlocked, so Go ends it when the goroutine returns, and no other
// goroutine ever sees the private table. Where unshare is refused (a
// seccomp profile), the goroutine runs as usual. The copy holds the
// process's descriptors for the few moments the helper lives: a file
// another goroutine closes meanwhile (a flock'd lock file) is released
// when the helper ends, not before.
func privateFiles() {
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_FILES); err != nil {
		runtime.UnlockOSThread()
	}
}

// Settle finishes a Floorplan as a survey does: what the journal says
// was in flight is marked uncertain, slices are sorted, the fingerprint
// is set. The in-memory device settles its surveys by it too.
func Settle(fp *materials.Floorplan) {
	if fp.Journal != nil {
		markInFlight(fp, fp.Journal)
	}
	sortFloorplan(fp)
	fp.Fingerprint = materials.Fingerprint(fp)
}

// markInFlight turns what the journal says was being worked on into
// uncertain (partial) state, whatever the disk looks like now.
func markInFlight(fp *materials.Floorplan, js *materials.JournalState) {
	const why = "in flight when the last apply stopped"
	mark := func(state *materials.State, reason *string) {
		if *reason == "" {
			*reason = why
		} else {
			*reason = why + "; " + *reason
		}
		*state = materials.StatePartial
	}
	for _, in := range js.InFlight {
		t := in.Target
		for i := range fp.Volumes {
			v := &fp.Volumes[i]
			hit := false
			switch t.Kind {
			case materials.KindVolume:
				hit = v.ID != "" && (t.ID == v.ID || t.ID == v.Key().String())
			case materials.KindFile:
				hit = t.ID == v.Path
			}
			if hit {
				mark(&v.State, &v.Reason)
			}
		}
		for i := range fp.Blobs {
			b := &fp.Blobs[i]
			hit := false
			switch t.Kind {
			case materials.KindBlob:
				hit = b.Digest != "" && string(b.Digest) == t.ID
			case materials.KindFile:
				hit = b.Path != "" && t.ID == b.Path
			}
			if hit {
				mark(&b.State, &b.Reason)
			}
		}
	}
}

func sortFloorplan(fp *materials.Floorplan) {
	byPath := func(i, j int) bool { return fp.Volumes[i].Path < fp.Volumes[j].Path }
	if !sort.SliceIsSorted(fp.Volumes, byPath) {
		sort.Slice(fp.Volumes, byPath)
	}
	sort.Slice(fp.Blobs, func(i, j int) bool {
		a, b := &fp.Blobs[i], &fp.Blobs[j]
		if a.Digest != b.Digest {
			return a.Digest < b.Digest
		}
		if a.Store != b.Store {
			return a.Store < b.Store
		}
		if a.State != b.State {
			return a.State < b.State
		}
		if a.Ref != b.Ref {
			return a.Ref < b.Ref
		}
		return a.Path < b.Path
	})
	sort.Slice(fp.Images, func(i, j int) bool { return fp.Images[i].Name < fp.Images[j].Name })
}
