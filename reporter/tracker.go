package reporter

import (
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
	"github.com/edgewright/edgewright/remodel"
)

// Failure is a material's last error, for ErrorInfo.
type Failure struct {
	Target         materials.MaterialRef
	Description    string
	At             time.Time
	RetryCondition string
}

// live is what a Tracker knows of one material.
type live struct {
	state       eve.ZSwState
	done, known int64
	failure     *Failure
}

// Tracker follows an apply through the assembler's OnRemodel and Progress
// hooks, so that reports made during the apply show each material's state
// and bytes as they move. It is safe for concurrent use. OnChange, when
// set, is called (outside the tracker's lock) after every state change.
type Tracker struct {
	OnChange func()

	mu        sync.Mutex
	blobs     map[digest.Digest]*live
	trees     map[string]*live // resolve states and tree-level failures
	volumes   map[string]*live // by VolumeKey string
	treeBlobs map[string]map[digest.Digest]bool
	gone      map[materials.MaterialRef]bool
	percent   map[string]uint32 // highest progress reported per message
	// snaps is the snapshot work seen, by snapshot ref id (app/snapshot).
	snaps map[string]*snapLive
}

// snapLive is the last snapshot, rollback or delete-snapshot remodel of
// one app snapshot seen in this apply.
type snapLive struct {
	action   remodel.Action
	inFlight bool
	at       time.Time // when it started or ended
	failure  *Failure
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{
		blobs:     map[digest.Digest]*live{},
		trees:     map[string]*live{},
		volumes:   map[string]*live{},
		treeBlobs: map[string]map[digest.Digest]bool{},
		gone:      map[materials.MaterialRef]bool{},
		percent:   map[string]uint32{},
		snaps:     map[string]*snapLive{},
	}
}

// step is one state change the tracker applies and announces.
type step func(t *Tracker)

// OnRemodel is the assembler's Options.OnRemodel.
func (t *Tracker) OnRemodel(e remodel.RemodelEvent) {
	r := e.Remodel
	if r == nil {
		return
	}
	var steps []step
	if e.Result == nil {
		steps = t.started(r)
		if isSnapshotWork(r.Action) {
			steps = append(steps, snapStarted(r, e.At))
		}
	} else if isSnapshotWork(r.Action) {
		steps = snapEnded(r, e.Result, e.At)
	} else {
		steps = t.ended(r, e.Result, e.At)
	}
	for _, s := range steps {
		t.mu.Lock()
		s(t)
		t.mu.Unlock()
		if t.OnChange != nil {
			t.OnChange()
		}
	}
}

// OnProgress is the assembler's Options.Progress.
func (t *Tracker) OnProgress(e remodel.Event) {
	t.mu.Lock()
	var l *live
	switch e.Kind {
	case materials.KindBlob:
		l = t.blobs[digest.Digest(e.ID)]
	case materials.KindVolume:
		l = t.volumes[e.ID]
	}
	changed := false
	if l != nil {
		if e.Done > l.done {
			l.done, changed = e.Done, true
		}
		if e.Known > l.known {
			l.known, changed = e.Known, true
		}
	}
	t.mu.Unlock()
	if changed && t.OnChange != nil {
		t.OnChange()
	}
}

func (t *Tracker) blob(d digest.Digest) *live { return entry(t.blobs, d) }
func (t *Tracker) volume(key string) *live    { return entry(t.volumes, key) }
func (t *Tracker) tree(id string) *live       { return entry(t.trees, id) }

// entry is m's live state for k, made empty on first use.
func entry[K comparable](m map[K]*live, k K) *live {
	l := m[k]
	if l == nil {
		l = &live{}
		m[k] = l
	}
	return l
}

func blobOf(r *remodel.Remodel) digest.Digest {
	var b materials.Blob
	switch p := r.Payload.(type) {
	case *remodel.DownloadPayload:
		b = p.Blob
	case *remodel.VerifyPayload:
		b = p.Blob
	}
	if b.Digest != "" {
		return b.Digest
	}
	if r.Target.Kind == materials.KindBlob {
		return digest.Digest(r.Target.ID)
	}
	return ""
}

func (t *Tracker) started(r *remodel.Remodel) []step {
	switch r.Action {
	case remodel.ActionResolve:
		id := r.Target.ID
		return []step{func(t *Tracker) { *t.tree(id) = live{state: eve.ZSwState_RESOLVING_TAG} }}
	case remodel.ActionDownload:
		d := blobOf(r)
		var size, offset int64
		tree := ""
		if p, ok := remodel.PayloadOf[*remodel.DownloadPayload](r); ok {
			size, offset, tree = p.Blob.Size, p.Offset, p.ContentTree.ID
		}
		return []step{func(t *Tracker) {
			delete(t.gone, materials.MaterialRef{Kind: materials.KindBlob, ID: string(d)})
			*t.blob(d) = live{state: eve.ZSwState_DOWNLOAD_STARTED, done: offset, known: size}
			if tree != "" {
				if t.treeBlobs[tree] == nil {
					t.treeBlobs[tree] = map[digest.Digest]bool{}
				}
				t.treeBlobs[tree][d] = true
			}
		}}
	case remodel.ActionVerify:
		d := blobOf(r)
		return []step{func(t *Tracker) {
			l := t.blob(d)
			l.state, l.failure = eve.ZSwState_VERIFYING, nil
		}}
	case remodel.ActionCreate, remodel.ActionPurge, remodel.ActionAdopt:
		// The bytes to write are known from the craft's first progress
		// event, not from the remodel's space estimate.
		key := r.Target.ID
		return []step{func(t *Tracker) {
			delete(t.gone, materials.MaterialRef{Kind: materials.KindVolume, ID: key})
			*t.volume(key) = live{state: eve.ZSwState_CREATING_VOLUME}
		}}
	}
	return nil
}

func (t *Tracker) ended(r *remodel.Remodel, res *remodel.Result, at time.Time) []step {
	if res.Status == remodel.StatusFailed {
		f := &Failure{Target: r.Target, Description: res.Error, At: at, RetryCondition: "retried at the next reconcile"}
		switch r.Action {
		case remodel.ActionResolve:
			return []step{func(t *Tracker) { *t.tree(r.Target.ID) = live{state: eve.ZSwState_ERROR, failure: f} }}
		case remodel.ActionDownload, remodel.ActionVerify:
			d := blobOf(r)
			return []step{func(t *Tracker) { l := t.blob(d); l.state, l.failure = eve.ZSwState_ERROR, f }}
		case remodel.ActionCreate, remodel.ActionPurge, remodel.ActionAdopt, remodel.ActionResize:
			return []step{func(t *Tracker) { l := t.volume(r.Target.ID); l.state, l.failure = eve.ZSwState_ERROR, f }}
		}
		return nil // a failed delete leaves the material as it was
	}
	if res.Status != remodel.StatusDone {
		return nil // skipped: nothing happened to it
	}
	switch r.Action {
	case remodel.ActionResolve:
		return []step{func(t *Tracker) { *t.tree(r.Target.ID) = live{state: eve.ZSwState_RESOLVED_TAG} }}
	case remodel.ActionDownload, remodel.ActionVerify:
		// The assembler hashes while it writes, compares the digest when
		// the transfer ends and then commits the blob into its store: the
		// states after the transfer follow each other at its end.
		d := blobOf(r)
		var seq []eve.ZSwState
		if r.Action == remodel.ActionDownload {
			seq = append(seq, eve.ZSwState_DOWNLOADED, eve.ZSwState_VERIFYING)
		}
		seq = append(seq, eve.ZSwState_VERIFIED, eve.ZSwState_LOADING, eve.ZSwState_LOADED)
		steps := make([]step, 0, len(seq))
		for _, s := range seq {
			steps = append(steps, func(t *Tracker) {
				l := t.blob(d)
				l.state, l.failure = s, nil
				if l.known < l.done {
					l.known = l.done
				}
				if s == eve.ZSwState_LOADED && l.known > 0 {
					l.done = l.known
				}
			})
		}
		return steps
	case remodel.ActionCreate, remodel.ActionPurge, remodel.ActionAdopt:
		st := []step{func(t *Tracker) {
			l := t.volume(r.Target.ID)
			l.state, l.failure = eve.ZSwState_CREATED_VOLUME, nil
			if l.known < l.done {
				l.known = l.done
			}
			l.done = l.known
		}}
		if p, ok := remodel.PayloadOf[*remodel.PurgePayload](r); ok {
			old := p.Replaces.String()
			st = append(st, func(t *Tracker) {
				t.gone[materials.MaterialRef{Kind: materials.KindVolume, ID: old}] = true
				delete(t.volumes, old)
			})
		}
		return st
	case remodel.ActionDelete:
		ref := r.Target
		return []step{func(t *Tracker) {
			t.gone[ref] = true
			switch ref.Kind {
			case materials.KindVolume:
				delete(t.volumes, ref.ID)
			case materials.KindBlob:
				delete(t.blobs, digest.Digest(ref.ID))
			}
		}}
	}
	return nil
}

// isSnapshotWork: the actions on an app's snapshots, tracked per
// snapshot rather than per volume (a snapshot spans the app's volumes).
func isSnapshotWork(a remodel.Action) bool {
	return a == remodel.ActionSnapshot || a == remodel.ActionRollback || a == remodel.ActionDeleteSnapshot
}

func snapStarted(r *remodel.Remodel, at time.Time) step {
	ref := r.Target
	return func(t *Tracker) {
		// A snapshot taken again after a delete in the same tracker's
		// life is there again.
		delete(t.gone, ref)
		t.snaps[ref.ID] = &snapLive{action: r.Action, inFlight: true, at: at}
	}
}

// snapEnded: a failure is kept for snap_err (what failed, and that it is
// retried); a done delete makes the snapshot gone even while the survey
// the report joins was made before it; a done take or rollback is kept
// for its time (the survey may not show the snapshot yet).
func snapEnded(r *remodel.Remodel, res *remodel.Result, at time.Time) []step {
	ref := r.Target
	switch res.Status {
	case remodel.StatusFailed:
		f := &Failure{Target: ref, Description: string(r.Action) + " failed: " + res.Error, At: at, RetryCondition: "retried at the next reconcile"}
		return []step{func(t *Tracker) { t.snaps[ref.ID] = &snapLive{action: r.Action, at: at, failure: f} }}
	case remodel.StatusDone:
		return []step{func(t *Tracker) {
			t.snaps[ref.ID] = &snapLive{action: r.Action, at: at}
			if r.Action == remodel.ActionDeleteSnapshot {
				t.gone[ref] = true
			}
		}}
	}
	// Skipped: nothing happened; an intent that started and was
	// cancelled is no longer in flight.
	return []step{func(t *Tracker) {
		if l := t.snaps[ref.ID]; l != nil && l.action == r.Action {
			l.inFlight = false
		}
	}}
}

// view is a consistent copy of what the tracker knows, for one Build.
type view struct {
	snaps     map[string]snapLive
	blobs     map[digest.Digest]live
	trees     map[string]live
	volumes   map[string]live
	treeBlobs map[string][]digest.Digest
	gone      map[materials.MaterialRef]bool
}

func (t *Tracker) view() *view {
	if t == nil {
		return &view{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	v := &view{
		blobs:     make(map[digest.Digest]live, len(t.blobs)),
		trees:     make(map[string]live, len(t.trees)),
		volumes:   make(map[string]live, len(t.volumes)),
		treeBlobs: make(map[string][]digest.Digest, len(t.treeBlobs)),
		gone:      make(map[materials.MaterialRef]bool, len(t.gone)),
		snaps:     make(map[string]snapLive, len(t.snaps)),
	}
	for k, l := range t.snaps {
		v.snaps[k] = *l
	}
	for k, l := range t.blobs {
		v.blobs[k] = *l
	}
	for k, l := range t.trees {
		v.trees[k] = *l
	}
	for k, l := range t.volumes {
		v.volumes[k] = *l
	}
	for k, set := range t.treeBlobs {
		for d := range set {
			v.treeBlobs[k] = append(v.treeBlobs[k], d)
		}
		sortDigests(v.treeBlobs[k])
	}
	for k := range t.gone {
		v.gone[k] = true
	}
	return v
}

// monotone returns p, or the highest percentage reported before for the
// same message when that is higher: progress never goes back while the
// tracker lives (a resumed download restarts its byte count from the
// offset, not from zero, but a purge's new generation must not make the
// old message's figure drop either).
func (t *Tracker) monotone(key string, p uint32) uint32 {
	if t == nil {
		return p
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.percent[key]; old > p {
		return old
	}
	t.percent[key] = p
	return p
}

// Reset forgets what the tracker saw, once a survey after the apply says
// it all; a long-lived agent calls it so that a stale live state never
// hides what the disk says later.
func (t *Tracker) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.blobs = map[digest.Digest]*live{}
	t.trees = map[string]*live{}
	t.volumes = map[string]*live{}
	t.treeBlobs = map[string]map[digest.Digest]bool{}
	t.gone = map[materials.MaterialRef]bool{}
	t.percent = map[string]uint32{}
	t.snaps = map[string]*snapLive{}
}
