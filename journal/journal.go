package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// Path is where the journal lives under a root.
func Path(root string) string {
	return layout.JournalPath(root)
}

var (
	bucketIntents      = []byte("intents")
	bucketHistory      = []byte("history")
	bucketUnreferenced = []byte("unreferenced")
	bucketLatches      = []byte("latches")
	bucketMeta         = []byte("meta")
	bucketUsage        = []byte("usage")
	bucketLineage      = []byte("lineage")
	bucketDense        = []byte("dense")
	keyLastApplied     = []byte("lastApplied")
)

// ErrBusy is returned by Open when another process holds the journal open
// for writing past the timeout.
var ErrBusy = errors.New("journal is open in another process")

// Options tune Open.
type Options struct {
	// ReadOnly opens the journal for reading only (shared lock); it fails
	// when the file does not exist.
	ReadOnly bool
	// Timeout bounds the wait for bbolt's file lock; 0 means 5 seconds.
	Timeout time.Duration
	// HistoryLimit bounds the finished-remodel history kept (oldest
	// dropped first); 0 means 4096.
	HistoryLimit int
	// AfterWrite, when set, is called after every durable commit with the
	// number of commits so far (1, 2, …). Fault injection uses it to crash
	// right after the Nth journal step.
	AfterWrite func(n int)
}

// Journal is an open journal. Its methods are safe for concurrent use.
type Journal struct {
	db         *bolt.DB
	afterWrite func(int)
	// historyLimit bounds the history bucket.
	historyLimit uint64
	mu           sync.Mutex
	writes       int
	quarantined  *Quarantine
}

// Quarantined tells whether Open found the journal damaged and started a
// fresh one (knowing no last applied config), and where the old file went.
func (j *Journal) Quarantined() *Quarantine { return j.quarantined }

// openChecked opens bbolt only after precheck, then reads every page.
func openChecked(path string, opts Options) (*bolt.DB, error) {
	if err := precheck(path); err != nil {
		return nil, err
	}
	db, err := func() (db *bolt.DB, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("bbolt open: %v", r)
			}
		}()
		return bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly})
	}()
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) || errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	if err := walk(db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Open opens (creating when needed) the journal at path.
func Open(path string, opts Options) (*Journal, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open journal %s: %w", path, err)
		}
	}
	db, err := openChecked(path, opts)
	var q *Quarantine
	if errors.Is(err, ErrDamaged) && !opts.ReadOnly {
		dst, qerr := quarantine(path, time.Now())
		if qerr != nil {
			return nil, fmt.Errorf("open journal %s: %w (quarantine: %v)", path, err, qerr)
		}
		q = &Quarantine{Path: dst, Reason: err.Error()}
		db, err = openChecked(path, opts)
	}
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open journal %s: %w", path, ErrBusy)
		}
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = 4096
	}
	j := &Journal{db: db, afterWrite: opts.AfterWrite, historyLimit: uint64(opts.HistoryLimit), quarantined: q}
	if !opts.ReadOnly {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketIntents, bucketHistory, bucketUnreferenced, bucketLatches, bucketMeta, bucketUsage, bucketLineage, bucketDense} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open journal %s: create buckets: %w", path, err)
		}
	}
	return j, nil
}

// OpenRoot opens the journal of a root.
func OpenRoot(root string, opts Options) (*Journal, error) { return Open(Path(root), opts) }

// Close closes the journal.
func (j *Journal) Close() error { return j.db.Close() }

// update runs one durable transaction and then the fault-injection hook.
func (j *Journal) update(fn func(tx *bolt.Tx) error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.db.Update(fn); err != nil {
		return err
	}
	j.writes++
	if j.afterWrite != nil {
		j.afterWrite(j.writes)
	}
	return nil
}

// Intent is what the journal records before a remodel starts.
type Intent struct {
	ApplyID   string                `json:"applyId"`
	RemodelID string                `json:"remodelId"`
	Action    string                `json:"action"`
	Target    materials.MaterialRef `json:"target"`
	StartedAt time.Time             `json:"startedAt"`
}

// Outcome is how a remodel ended.
type Outcome string

const (
	OutcomeDone   Outcome = "done"
	OutcomeFailed Outcome = "failed"
)

// Record is one finished remodel in the journal's history.
type Record struct {
	Intent
	Outcome    Outcome   `json:"outcome"`
	Error      string    `json:"error,omitempty"`
	FinishedAt time.Time `json:"finishedAt"`
}

// Begin durably records the intent to carry out a remodel.
func (j *Journal) Begin(in Intent) error {
	v, err := json.Marshal(in)
	if err != nil {
		return err
	}
	err = j.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIntents).Put([]byte(in.RemodelID), v)
	})
	if err != nil {
		return fmt.Errorf("journal intent %s: %w", in.RemodelID, err)
	}
	return nil
}

// Finish durably records a remodel's completion (done or failed): the
// intent is removed and a history record appended, in one transaction.
func (j *Journal) Finish(in Intent, outcome Outcome, errText string, at time.Time) error {
	rec := Record{Intent: in, Outcome: outcome, Error: errText, FinishedAt: at}
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	err = j.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketIntents).Delete([]byte(in.RemodelID)); err != nil {
			return err
		}
		h := tx.Bucket(bucketHistory)
		seq, err := h.NextSequence()
		if err != nil {
			return err
		}
		if err := h.Put(fmt.Appendf(nil, "%016x", seq), v); err != nil {
			return err
		}
		if seq <= j.historyLimit {
			return nil
		}
		// Keys are zero-padded sequence numbers: the oldest come first.
		cut := fmt.Appendf(nil, "%016x", seq-j.historyLimit)
		c := h.Cursor()
		for k, _ := c.First(); k != nil && string(k) <= string(cut); k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal completion %s: %w", in.RemodelID, err)
	}
	return nil
}

// Intents returns every intent without a completion, sorted by remodel id.
func (j *Journal) Intents() ([]Intent, error) {
	var out []Intent
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIntents)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var in Intent
			if err := json.Unmarshal(v, &in); err != nil {
				return fmt.Errorf("intent %s: %w", k, err)
			}
			out = append(out, in)
			return nil
		})
	})
	return out, err
}

// DropIntents removes the intents of applies other than keepApply: a later
// plan was made knowing about them (they were in its Floorplan), so they
// have been resumed or cleaned up by it. It writes only when there is
// something to drop.
func (j *Journal) DropIntents(keepApply string) (int, error) {
	ins, err := j.Intents()
	if err != nil {
		return 0, err
	}
	var drop [][]byte
	for _, in := range ins {
		if in.ApplyID != keepApply {
			drop = append(drop, []byte(in.RemodelID))
		}
	}
	if len(drop) == 0 {
		return 0, nil
	}
	err = j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIntents)
		for _, k := range drop {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return len(drop), err
}

// History returns the finished remodels in the order they finished.
func (j *Journal) History() ([]Record, error) {
	var out []Record
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHistory)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("history %s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

func refKey(r materials.MaterialRef) []byte { return []byte(string(r.Kind) + "\x00" + r.ID) }

// UpdateUnreferenced merges grace-period clocks: each of add is recorded
// unless already there (the earliest Since wins, so a clock is never
// restarted), and each of clear is removed (needed again, or deleted). It
// writes only when something changes.
func (j *Journal) UpdateUnreferenced(add []materials.Unreferenced, clear []materials.MaterialRef) error {
	var changed bool
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUnreferenced)
		for _, u := range add {
			if old := b.Get(refKey(u.Target)); old == nil {
				changed = true
				return nil
			} else {
				var o materials.Unreferenced
				if json.Unmarshal(old, &o) != nil || u.Since.Before(o.Since) {
					changed = true
					return nil
				}
			}
		}
		for _, r := range clear {
			if b.Get(refKey(r)) != nil {
				changed = true
				return nil
			}
		}
		return nil
	})
	if err != nil || !changed {
		return err
	}
	return j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUnreferenced)
		for _, r := range clear {
			if err := b.Delete(refKey(r)); err != nil {
				return err
			}
		}
		for _, u := range add {
			if old := b.Get(refKey(u.Target)); old != nil {
				var o materials.Unreferenced
				if json.Unmarshal(old, &o) == nil && !u.Since.Before(o.Since) {
					continue
				}
			}
			v, err := json.Marshal(u)
			if err != nil {
				return err
			}
			if err := b.Put(refKey(u.Target), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReplaceUnreferenced makes the clocks exactly list: the foreman's plan
// carries every clock still running (it keeps them all when its Blueprint
// is incomplete), so a clock missing from it belongs to a material needed
// again or gone. An existing clock keeps its earlier Since. It writes only
// when something changes.
func (j *Journal) ReplaceUnreferenced(list []materials.Unreferenced) error {
	cur, err := j.Unreferenced()
	if err != nil {
		return err
	}
	have := map[materials.MaterialRef]time.Time{}
	for _, u := range cur {
		have[u.Target] = u.Since
	}
	want := map[materials.MaterialRef]time.Time{}
	for _, u := range list {
		since := u.Since
		if old, ok := have[u.Target]; ok && old.Before(since) {
			since = old
		}
		if prev, ok := want[u.Target]; ok && prev.Before(since) {
			since = prev
		}
		want[u.Target] = since
	}
	changed := len(want) != len(have)
	for r, s := range want {
		if old, ok := have[r]; !ok || !old.Equal(s) {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return j.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUnreferenced)
		for r := range have {
			if _, ok := want[r]; !ok {
				if err := b.Delete(refKey(r)); err != nil {
					return err
				}
			}
		}
		for r, s := range want {
			v, err := json.Marshal(materials.Unreferenced{Target: r, Since: s})
			if err != nil {
				return err
			}
			if err := b.Put(refKey(r), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Unreferenced returns the grace-period clocks, sorted by target.
func (j *Journal) Unreferenced() ([]materials.Unreferenced, error) {
	var out []materials.Unreferenced
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUnreferenced)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var u materials.Unreferenced
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("unreferenced %q: %w", k, err)
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

func latchKey(ct string, gen int64) []byte { return fmt.Appendf(nil, "%s#%d", ct, gen) }

// PutLatch pins an OCI tag to the digest it resolved to.
func (j *Journal) PutLatch(l materials.TagLatch) error {
	v, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return j.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLatches).Put(latchKey(l.ContentTree, l.Generation), v)
	})
}

// DeleteLatch removes a content tree generation's latch.
func (j *Journal) DeleteLatch(contentTree string, generation int64) error {
	return j.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLatches).Delete(latchKey(contentTree, generation))
	})
}

// Latches returns every tag latch.
func (j *Journal) Latches() ([]materials.TagLatch, error) {
	var out []materials.TagLatch
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLatches)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var l materials.TagLatch
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("latch %s: %w", k, err)
			}
			out = append(out, l)
			return nil
		})
	})
	return out, err
}

// Checkpoint durably records the Blueprint an apply carried out (the
// foreman's third input on the next round) and, in the same transaction,
// the reference counts it gives each volume and content tree: a material
// seen for the first time gets its create time, one whose count changed
// gets a new lastRefcountChange, one the Blueprint no longer names is
// forgotten. A checkpoint of the same Blueprint writes nothing.
func (j *Journal) Checkpoint(bp *materials.Blueprint, now time.Time) error {
	v, err := json.Marshal(bp)
	if err != nil {
		return err
	}
	var same bool
	if err := j.db.View(func(tx *bolt.Tx) error {
		same = bytes.Equal(tx.Bucket(bucketMeta).Get(keyLastApplied), v)
		return nil
	}); err != nil || same {
		return err // the same Blueprint again: nothing to write
	}
	refs := RefCounts(bp)
	latches, err := j.Latches()
	if err != nil {
		return fmt.Errorf("journal checkpoint: %w", err)
	}
	_, stale := LiveLatches(bp, latches)
	dense, err := j.Dense()
	if err != nil {
		return fmt.Errorf("journal checkpoint: %w", err)
	}
	_, gone := LiveDense(bp, dense)
	err = j.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keyLastApplied, v); err != nil {
			return err
		}
		for _, l := range stale {
			if err := tx.Bucket(bucketLatches).Delete(latchKey(l.ContentTree, l.Generation)); err != nil {
				return err
			}
		}
		for _, d := range gone {
			if err := tx.Bucket(bucketDense).Delete([]byte(d.Path)); err != nil {
				return err
			}
		}
		return putUsage(tx.Bucket(bucketUsage), refs, now)
	})
	if err != nil {
		return fmt.Errorf("journal checkpoint: %w", err)
	}
	return nil
}

// RefCounts is what a Blueprint says each material is referenced by: a
// volume generation its RefCount (apps plus the config), a content tree the
// number of volumes made from it.
func RefCounts(bp *materials.Blueprint) map[materials.MaterialRef]int {
	refs := map[materials.MaterialRef]int{}
	for _, ct := range bp.ContentTrees {
		refs[materials.MaterialRef{Kind: materials.KindContentTree, ID: ct.ID}] = 0
	}
	for _, v := range bp.Volumes {
		refs[materials.MaterialRef{Kind: materials.KindVolume, ID: v.Key().String()}] = v.RefCount
		if v.ContentTree != "" {
			refs[materials.MaterialRef{Kind: materials.KindContentTree, ID: v.ContentTree}]++
		}
	}
	return refs
}

// NextUsage is a material's usage after a checkpoint that gives it n
// references at now: a material seen for the first time (old nil) gets
// its create time, one whose count changed a new lastRefcountChange. It
// returns false when nothing changes (the same count again).
func NextUsage(old *materials.Usage, target materials.MaterialRef, n int, now time.Time) (materials.Usage, bool) {
	u := materials.Usage{Target: target, CreateTime: now, RefCount: n, LastRefcountChange: now}
	if old != nil {
		if old.RefCount == n {
			return *old, false
		}
		u.CreateTime = old.CreateTime
	}
	return u, true
}

func putUsage(b *bolt.Bucket, refs map[materials.MaterialRef]int, now time.Time) error {
	var stale [][]byte
	err := b.ForEach(func(k, _ []byte) error {
		kind, id, _ := bytes.Cut(k, []byte{0})
		if _, ok := refs[materials.MaterialRef{Kind: materials.MaterialKind(kind), ID: string(id)}]; !ok {
			stale = append(stale, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range stale {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	for r, n := range refs {
		var prev *materials.Usage
		if old := b.Get(refKey(r)); old != nil {
			var o materials.Usage
			if json.Unmarshal(old, &o) == nil {
				prev = &o
			}
		}
		u, changed := NextUsage(prev, r, n, now)
		if !changed {
			continue
		}
		v, err := json.Marshal(u)
		if err != nil {
			return err
		}
		if err := b.Put(refKey(r), v); err != nil {
			return err
		}
	}
	return nil
}

// Usage returns the reference history of every material the last
// checkpoint named, sorted by target.
func (j *Journal) Usage() ([]materials.Usage, error) {
	var out []materials.Usage
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsage)
		if b == nil {
			return nil // a journal written before usage was kept
		}
		return b.ForEach(func(k, v []byte) error {
			var u materials.Usage
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("usage %q: %w", k, err)
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

// LastApplied returns the last checkpointed Blueprint, or nil.
func (j *Journal) LastApplied() (*materials.Blueprint, error) {
	var bp *materials.Blueprint
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if b == nil {
			return nil
		}
		v := b.Get(keyLastApplied)
		if v == nil {
			return nil
		}
		bp = &materials.Blueprint{}
		return json.Unmarshal(v, bp)
	})
	return bp, err
}

// JournalState is what the inspector reads (inspector.JournalSource).
func (j *Journal) JournalState(ctx context.Context) (*materials.JournalState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := &materials.JournalState{}
	ins, err := j.Intents()
	if err != nil {
		return nil, fmt.Errorf("journal state: %w", err)
	}
	for _, in := range ins {
		st.InFlight = append(st.InFlight, materials.InFlight{RemodelID: in.RemodelID, Action: in.Action, Target: in.Target, StartedAt: in.StartedAt})
	}
	if st.Unreferenced, err = j.Unreferenced(); err != nil {
		return nil, fmt.Errorf("journal state: %w", err)
	}
	if st.Latches, err = j.Latches(); err != nil {
		return nil, fmt.Errorf("journal state: %w", err)
	}
	if st.LastApplied, err = j.LastApplied(); err != nil {
		return nil, fmt.Errorf("journal state: %w", err)
	}
	if st.Usage, err = j.Usage(); err != nil {
		return nil, fmt.Errorf("journal state: %w", err)
	}
	if st.Lineage, err = j.Lineage(); err != nil {
		return nil, fmt.Errorf("journal state: %w", err)
	}
	if st.Dense, err = j.Dense(); err != nil {
		return nil, fmt.Errorf("journal state: %w", err)
	}
	sort.Slice(st.InFlight, func(a, b int) bool { return st.InFlight[a].RemodelID < st.InFlight[b].RemodelID })
	return st, nil
}
