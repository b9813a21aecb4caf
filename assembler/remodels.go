package assembler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// terminalError is never retried, whatever it wraps (package device's,
// so crafts mark their own).
type terminalError = device.TerminalError

// outcome is what one attempt produced.
type outcome struct {
	bytes  int64
	reason string // e.g. "already present"
}

// runOne runs a remodel under its action's concurrency limit, with intent
// and completion in the journal and retries with backoff.
func (w *walk) runOne(ctx context.Context, r *remodel.Remodel) Result {
	if ctx.Err() != nil {
		return Result{Status: StatusSkipped, Reason: "cancelled before it started"}
	}
	sem := w.sems[r.Action]
	if sem == nil {
		return Result{Status: StatusFailed, Err: fmt.Errorf("remodel %s: unknown action %q", r.ID, r.Action)}
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return Result{Status: StatusSkipped, Reason: "cancelled before it started"}
	}
	defer func() { <-sem }()
	log := w.log.With(zap.Stringer("remodel", r.ID), zap.String("action", string(r.Action)), zap.Stringer("target", r.Target))
	in := journal.Intent{ApplyID: w.applyID, RemodelID: string(r.ID), Action: string(r.Action), Target: r.Target, StartedAt: w.a.now()}
	res := Result{Started: in.StartedAt}
	if err := w.s.journal.Begin(in); err != nil {
		w.setJournalErr(err)
		res.Status, res.Err = StatusFailed, err
		return res
	}
	if w.a.opts.OnRemodel != nil {
		w.a.opts.OnRemodel(RemodelEvent{Remodel: r, At: in.StartedAt})
	}
	out, err := w.attempts(ctx, r, &res, log)
	res.Finished = w.a.now()
	if err == nil {
		w.finishDone(r, in, out, &res, log)
		return res
	}
	w.finishFailed(ctx, r, in, err, &res, log)
	return res
}

// attempts does the remodel's work until it succeeds or its error's class
// allows no more tries: digest failures and retryable errors each have
// their own budget, with backoff between tries.
func (w *walk) attempts(ctx context.Context, r *remodel.Remodel, res *Result, log *zap.Logger) (outcome, error) {
	retries, digestFails := 0, 0
	for {
		res.Attempts++
		out, err := w.do(ctx, r)
		res.Bytes += out.bytes
		if err == nil {
			return out, nil
		}
		retry := false
		switch errorClass(ctx, err) {
		case classDigest:
			digestFails++
			retry = digestFails < w.a.retry.DigestAttempts
		case classRetryable:
			retries++
			retry = retries < w.a.retry.Attempts
		}
		if !retry {
			return out, err
		}
		d := w.a.retry.backoff(retries + digestFails - 1)
		log.Warn("remodel failed, retrying", zap.Error(err), zap.Int("attempt", res.Attempts), zap.Duration("backoff", d))
		if !sleep(ctx, d) {
			return out, ctx.Err()
		}
	}
}

// errorClass is classify's verdict, terminal for a terminalError unless
// the work was cancelled.
func errorClass(ctx context.Context, err error) errClass {
	class := classify(ctx, err)
	var te *terminalError
	if errors.As(err, &te) && class != classCancelled {
		return classTerminal
	}
	return class
}

// sleep waits d, or says the context ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return ctx.Err() == nil
}

// finishDone journals the completion; a delete also leaves the journal's
// unreferenced set.
func (w *walk) finishDone(r *remodel.Remodel, in journal.Intent, out outcome, res *Result, log *zap.Logger) {
	res.Status, res.Reason = StatusDone, out.reason
	if jerr := w.s.journal.Finish(in, journal.OutcomeDone, "", res.Finished); jerr != nil {
		w.setJournalErr(jerr)
	}
	if r.Action == remodel.ActionDelete {
		if jerr := w.s.journal.UpdateUnreferenced(nil, []materials.MaterialRef{r.Target}); jerr != nil {
			w.setJournalErr(jerr)
		}
	}
	log.Info("remodel done", zap.Int64("bytes", out.bytes), zap.String("reason", out.reason))
}

// finishFailed journals the failure, except when interrupted: then the
// intent stays in flight for the next survey.
func (w *walk) finishFailed(ctx context.Context, r *remodel.Remodel, in journal.Intent, err error, res *Result, log *zap.Logger) {
	if noSpace(err) {
		err = fmt.Errorf("remodel %s: %w", r.ID, err)
	}
	res.Status, res.Err = StatusFailed, err
	if ctx.Err() != nil {
		log.Info("remodel interrupted", zap.Error(err))
		return
	}
	if jerr := w.s.journal.Finish(in, journal.OutcomeFailed, err.Error(), res.Finished); jerr != nil {
		w.setJournalErr(jerr)
	}
	log.Warn("remodel failed", zap.Error(err), zap.Int("attempts", res.Attempts))
}

func (w *walk) setJournalErr(err error) {
	w.mu.Lock()
	if w.jerr == nil {
		w.jerr = err
	}
	w.mu.Unlock()
}

// work is each action's executor: the assembler's column of the action
// table (remodel.ActionFacts holds the rest). TestEveryActionHasWork
// checks it covers every action, each with the payload type the action's
// row declares.
var work = map[remodel.Action]job{
	remodel.ActionResolve:  typed((*walk).resolve),
	remodel.ActionDownload: typed((*walk).download),
	remodel.ActionVerify:   typed((*walk).verify),
	remodel.ActionAdopt:    typed((*walk).adopt),
	remodel.ActionCreate:   typed((*walk).create),
	remodel.ActionPurge:    typed((*walk).purge),
	remodel.ActionResize:   typed((*walk).resize),
	remodel.ActionDelete:   typed((*walk).delete),

	remodel.ActionSnapshot:       typed((*walk).snapshot),
	remodel.ActionRollback:       typed((*walk).rollback),
	remodel.ActionDeleteSnapshot: typed((*walk).deleteSnapshot),

	remodel.ActionRecreate:    typed((*walk).recreate),
	remodel.ActionRepairLeaks: typed((*walk).repairLeaks),
	remodel.ActionSparsify:    typed((*walk).sparsify),
	remodel.ActionMerge:       typed((*walk).merge),
	remodel.ActionFlatten:     typed((*walk).flatten),
}

// job is one action's work and the payload type it takes.
type job struct {
	payload reflect.Type
	do      func(*walk, context.Context, *remodel.Remodel) (outcome, error)
}

// typed makes the job of an action whose payload is a *T: the payload is
// checked here, once for every action, and the work receives it typed.
func typed[T any, P interface {
	*T
	remodel.Payload
}](f func(*walk, context.Context, *remodel.Remodel, *T) (outcome, error)) job {
	return job{payload: reflect.TypeFor[P](), do: func(w *walk, ctx context.Context, r *remodel.Remodel) (outcome, error) {
		p, ok := r.Payload.(P)
		if !ok || p == nil {
			return outcome{}, terminal("%s %s: the remodel carries payload %T, want %T", r.Action, r.ID, r.Payload, p)
		}
		return f(w, ctx, r, p)
	}}
}

func (w *walk) do(ctx context.Context, r *remodel.Remodel) (outcome, error) {
	if j, ok := work[r.Action]; ok {
		return j.do(w, ctx, r)
	}
	return outcome{}, &terminalError{Err: fmt.Errorf("remodel %s: unknown action %q", r.ID, r.Action)}
}

func terminal(format string, args ...any) error { return device.Terminal(format, args...) }

func blobKey(d digest.Digest) string         { return "blob:" + string(d) }
func volumeKey(k materials.VolumeKey) string { return "volume:" + k.String() }
func (w *walk) store(name materials.BlobStore) (materials.BlobStore, BlobStore, error) {
	if name == "" {
		name = w.a.crafts.DefaultStore
	}
	s := w.a.crafts.Stores[name]
	if s == nil {
		return name, nil, &terminalError{Err: fmt.Errorf("blob store %q: %w", name, ErrNoCraft)}
	}
	return name, s, nil
}

// lockedStore is the named blob store (the default for ""), with d's key
// lock held: whoever holds it re-checks the store before fetching,
// verifying or deleting. The caller must call unlock.
func (w *walk) lockedStore(ctx context.Context, name materials.BlobStore, d digest.Digest) (BlobStore, func(), error) {
	_, store, err := w.store(name)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := w.a.keys.lock(ctx, blobKey(d))
	if err != nil {
		return nil, nil, err
	}
	return store, unlock, nil
}

// blobOf is the blob a download or verify is about: the payload's, else
// the tree's top blob, else the target's.
func blobOf(r *remodel.Remodel, b materials.Blob, ct materials.ContentTree) (materials.Blob, error) {
	if b.Digest != "" {
		return b, nil
	}
	if ct.SHA256 != "" {
		return materials.Blob{Digest: ct.Digest(), Size: 0}, nil
	}
	if r.Target.Kind == materials.KindBlob {
		return materials.Blob{Digest: digest.Digest(r.Target.ID)}, nil
	}
	return materials.Blob{}, terminal("remodel %s: no blob digest (resolve the tag first)", r.ID)
}

// download fetches a content tree's blob into its store, unless another
// remodel already did.
func (w *walk) download(ctx context.Context, r *remodel.Remodel, p *remodel.DownloadPayload) (outcome, error) {
	blob, err := blobOf(r, p.Blob, p.ContentTree)
	if err != nil {
		return outcome{}, err
	}
	if err := blob.Digest.Validate(); err != nil {
		return outcome{}, terminal("download %s: digest %q: %v", r.ID, blob.Digest, err)
	}
	ct := w.pinned(p.ContentTree)
	store, unlock, err := w.lockedStore(ctx, p.Store, blob.Digest)
	if err != nil {
		return outcome{}, err
	}
	defer unlock()
	// Re-check under the lock: another remodel may just have fetched it.
	if ok, _, err := store.Has(ctx, blob.Digest); err != nil {
		return outcome{}, err
	} else if ok {
		return w.alreadyPresent(ctx, r, store, ct, blob)
	}
	if len(ct.Datastores) == 0 {
		return outcome{}, terminal("download %s: content tree %s names no datastore", r.ID, ct.ID)
	}
	return w.fromDatastores(ctx, r, store, ct, blob)
}

// alreadyPresent holds a blob the store has for the tree and follows its
// children.
func (w *walk) alreadyPresent(ctx context.Context, r *remodel.Remodel, store BlobStore, ct materials.ContentTree, blob materials.Blob) (outcome, error) {
	if ts, isTree := store.(TreeStore); isTree {
		if err := ts.Hold(ctx, ct, blob.Digest); err != nil {
			return outcome{}, err
		}
	}
	n, err := w.follow(ctx, r, store, ct, blob)
	if n > 0 || err != nil {
		return outcome{bytes: n}, err
	}
	return outcome{reason: "already present"}, nil
}

// fromDatastores tries every datastore of the tree in order, whatever the
// one before failed with: a dead link, a 5xx or a bad body at one says
// nothing of the next. The ingest is per digest, so the next resumes from
// the bytes the last one wrote (a bad body's were discarded at Commit).
func (w *walk) fromDatastores(ctx context.Context, r *remodel.Remodel, store BlobStore, ct materials.ContentTree, blob materials.Blob) (outcome, error) {
	var lastErr, curable error
	var failed []string
	var written int64
	for _, dsID := range ct.Datastores {
		ds, f, err := w.fetcherFor(r, ct, dsID)
		if err != nil {
			lastErr = err
			failed = append(failed, err.Error())
			continue
		}
		n, err := w.fetchInto(ctx, r, f, store, FetchRequest{Datastore: ds, ContentTree: ct, Blob: blob, FreeBytes: w.a.files.FreeBytes()})
		written += n
		if err == nil {
			n, err := w.follow(ctx, r, store, ct, blob)
			out := outcome{bytes: written + n}
			if len(failed) > 0 {
				out.reason = "from datastore " + ds.ID + " after " + strings.Join(failed, "; ")
			}
			return out, err
		}
		if ctx.Err() != nil {
			return outcome{bytes: written}, err
		}
		lastErr = err
		failed = append(failed, "datastore "+ds.ID+": "+err.Error())
		if curable == nil && classify(ctx, err) != classTerminal {
			curable = err
		}
	}
	if curable != nil {
		// A retry may cure it: the retry loop decides on this one error,
		// and the message names every datastore's.
		lastErr = curable
	}
	if len(failed) > 1 {
		return outcome{bytes: written}, &datastoresError{err: lastErr, each: failed}
	}
	return outcome{bytes: written}, lastErr
}

// fetcherFor is the Blueprint's datastore dsID and the craft that fetches
// from its type; either missing is terminal.
func (w *walk) fetcherFor(r *remodel.Remodel, ct materials.ContentTree, dsID string) (materials.Datastore, Fetcher, error) {
	ds, ok := w.datastores[dsID]
	if !ok {
		return ds, nil, terminal("download %s: content tree %s: datastore %q is not in the Blueprint", r.ID, ct.ID, dsID)
	}
	f := w.a.crafts.Fetchers[ds.Type]
	if f == nil {
		return ds, nil, terminal("download %s: datastore %s type %q: %w", r.ID, ds.ID, ds.Type, ErrNoCraft)
	}
	return ds, f, nil
}

// datastoresError is a download every datastore of its content tree
// failed; it unwraps to the one error the retry loop decides on.
type datastoresError struct {
	err  error
	each []string
}

func (e *datastoresError) Error() string {
	return "every datastore failed: " + strings.Join(e.each, "; ")
}
func (e *datastoresError) Unwrap() error { return e.err }

// follow fetches the blob a present one implies but the plan could not
// name before it was read: an OCI index's manifest for this platform. The
// caller holds blob's key lock.
func (w *walk) follow(ctx context.Context, r *remodel.Remodel, store BlobStore, ct materials.ContentTree, blob materials.Blob) (int64, error) {
	var lastErr error
	for _, dsID := range ct.Datastores {
		ds, ok := w.datastores[dsID]
		if !ok {
			continue
		}
		fl, ok := w.a.crafts.Fetchers[ds.Type].(Follower)
		if !ok {
			continue
		}
		req := FetchRequest{Datastore: ds, ContentTree: ct, Blob: blob}
		next, ok, err := fl.Follow(ctx, req, store)
		if err != nil || !ok {
			return 0, err
		}
		unlock, err := w.a.keys.lock(ctx, blobKey(next.Digest))
		if err != nil {
			return 0, err
		}
		n, err := func() (int64, error) {
			defer unlock()
			if ok, _, err := store.Has(ctx, next.Digest); err != nil {
				return 0, err
			} else if ok {
				if ts, isTree := store.(TreeStore); isTree {
					return 0, ts.Hold(ctx, ct, next.Digest)
				}
				return 0, nil
			}
			req.Blob = next
			return w.fetchInto(ctx, r, fl, store, req)
		}()
		if err == nil {
			return n, nil
		}
		lastErr = err
		if ctx.Err() != nil || classify(ctx, err) != classTerminal {
			break
		}
	}
	return 0, lastErr
}

func (w *walk) fetchInto(ctx context.Context, r *remodel.Remodel, f Fetcher, store BlobStore, req FetchRequest) (int64, error) {
	in, err := openIngest(ctx, store, req.ContentTree, req.Blob)
	if errors.Is(err, ErrAlreadyPresent) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	start := in.Offset()
	// The written bytes come from the fetch's goroutine, the transfer
	// from those of its chunk fetches: each event carries the latest of
	// both.
	var mu sync.Mutex
	now := Event{RemodelID: r.ID, Done: start}
	send := func(change func(e *Event)) {
		mu.Lock()
		change(&now)
		e := now
		mu.Unlock()
		e.Kind, e.ID = materials.KindBlob, string(req.Blob.Digest)
		w.gate.emit(e)
		e.Kind, e.ID = materials.KindContentTree, req.ContentTree.ID
		w.gate.emit(e)
	}
	progress := func(done, known int64) { send(func(e *Event) { e.Done, e.Known = done, known }) }
	req.Transfer = func(fetched, toFetch int64) { send(func(e *Event) { e.Fetched, e.ToFetch = fetched, toFetch }) }
	last := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		return now.Done
	}
	if err := f.Fetch(ctx, req, in, progress); err != nil {
		if classify(ctx, err) == classTerminal {
			// A partial no retry resumes (a full disk, a refused body)
			// would hold its bytes until the grace period ends.
			abortIngest(in)
		} else {
			in.Close()
		}
		return max(0, last()-start), err
	}
	if err := in.Commit(ctx, 0); err != nil {
		if noSpace(err) {
			abortIngest(in)
		}
		return max(0, last()-start), fmt.Errorf("download %s from datastore %s (url %q): %w", req.Blob.Digest, req.Datastore.ID, req.ContentTree.URL, err)
	}
	return max(0, in.Offset()-start), nil
}

// abortIngest removes an ingest's partial when the store can (the blob
// directory), else keeps it for a resume.
func abortIngest(in Ingest) {
	if ab, ok := in.(interface{ Abort() error }); ok {
		_ = ab.Abort()
		return
	}
	_ = in.Close()
}

// openIngest opens b's ingest, for ct when the store keeps blobs per tree.
func openIngest(ctx context.Context, store BlobStore, ct materials.ContentTree, b materials.Blob) (Ingest, error) {
	if ts, ok := store.(TreeStore); ok {
		return ts.IngestFor(ctx, ct, b)
	}
	return store.Ingest(ctx, b)
}

// pinned fills in a content tree's top digest from the plan's Tops when
// the remodel's tree names only a tag (the foreman pins the trees of its
// remodels; a hand-made plan may not).
func (w *walk) pinned(ct materials.ContentTree) materials.ContentTree {
	if d := w.tops[ct.ID]; ct.SHA256 == "" && d != "" {
		ct.SHA256 = d.Encoded()
	}
	return ct
}

func (w *walk) verify(ctx context.Context, r *remodel.Remodel, p *remodel.VerifyPayload) (outcome, error) {
	blob, err := blobOf(r, p.Blob, p.ContentTree)
	if err != nil {
		return outcome{}, err
	}
	store, unlock, err := w.lockedStore(ctx, p.Store, blob.Digest)
	if err != nil {
		return outcome{}, err
	}
	defer unlock()
	if ok, _, err := store.Has(ctx, blob.Digest); err != nil {
		return outcome{}, err
	} else if !ok && p.ContentTree.ID != "" {
		// Every byte was written but the commit did not happen (a crash
		// in between): commit it now, which checks the digest.
		return w.commitIngest(ctx, store, w.pinned(p.ContentTree), blob)
	}
	n, got, err := hashBlob(ctx, store, blob.Digest)
	if err != nil {
		return outcome{}, err
	}
	if got != blob.Digest {
		// Damaged: remove it so the next round downloads it again.
		derr := store.Delete(ctx, blob.Digest)
		return outcome{}, &terminalError{Err: errors.Join(&DigestMismatchError{Want: string(blob.Digest), Got: string(got)}, derr)}
	}
	return outcome{reason: fmt.Sprintf("verified %d bytes", n)}, nil
}

// hashBlob says what a stored blob hashes to: by the store's own check
// when it has one, else by reading it.
func hashBlob(ctx context.Context, store BlobStore, d digest.Digest) (int64, digest.Digest, error) {
	if c, ok := store.(device.Checker); ok {
		n, got, err := c.Check(ctx, d)
		if err != nil {
			return 0, "", terminal("verify %s: %w", d, err)
		}
		return n, got, nil
	}
	rc, err := store.Open(ctx, d)
	if err != nil {
		return 0, "", terminal("verify %s: %w", d, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, &ctxReader{ctx: ctx, r: rc})
	if err != nil {
		return 0, "", fmt.Errorf("verify %s: %w", d, err)
	}
	return n, digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))), nil
}

// commitIngest commits a blob's complete ingest. The caller holds the
// blob's key lock.
func (w *walk) commitIngest(ctx context.Context, store BlobStore, ct materials.ContentTree, blob materials.Blob) (outcome, error) {
	in, err := openIngest(ctx, store, ct, blob)
	if errors.Is(err, ErrAlreadyPresent) {
		return outcome{reason: "already present"}, nil
	}
	if err != nil {
		return outcome{}, err
	}
	if off := in.Offset(); off == 0 || (blob.Size > 0 && off != blob.Size) {
		in.Close()
		if off == 0 {
			// Opening it made an empty ingest: leave nothing behind.
			_ = store.Delete(ctx, blob.Digest)
		}
		return outcome{}, terminal("verify %s: not committed and its ingest holds %d of %d bytes: download it", blob.Digest, off, blob.Size)
	}
	if err := in.Commit(ctx, blob.Size); err != nil {
		return outcome{}, &terminalError{Err: fmt.Errorf("verify %s: commit the complete ingest: %w", blob.Digest, err)}
	}
	return outcome{reason: "committed the complete ingest (digest checked)"}, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// findVolume finds the file of a volume key in either volumes directory.
func (w *walk) findVolume(k materials.VolumeKey) (string, error) {
	var found []string
	for _, clear := range []bool{false, true} {
		m, err := w.a.files.List(VolumesDir(w.a.opts.Root, clear), k.String()+".")
		if err != nil {
			return "", err
		}
		for _, p := range m {
			if !strings.HasSuffix(p, layout.TempSuffix) {
				found = append(found, p)
			}
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("volume %s: more than one file: %s", k, strings.Join(found, ", "))
}

// underRoot turns a root-relative path of the plan into an absolute one,
// refusing paths that leave the root.
func (w *walk) underRoot(rel string) (string, error) {
	if rel == "" {
		return "", errors.New("empty path")
	}
	clean := filepath.Clean(filepath.FromSlash(strings.TrimPrefix(rel, "/")))
	if clean == "." || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("path %q leaves the root", rel)
	}
	return filepath.Join(w.a.opts.Root, clean), nil
}

func (w *walk) exists(p string) (bool, error) { return w.a.exists(p) }

func (a *Assembler) exists(p string) (bool, error) {
	_, err := a.files.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// cleanTmp removes the work in progress of a failed build, so a full disk
// is not held by it; crafts remove it too, and removing twice is harmless.
// A cancelled build keeps it: the next plan deletes or takes it over.
func (w *walk) cleanTmp(ctx context.Context, v materials.Volume, err error) {
	if err == nil || ctx.Err() != nil {
		return
	}
	final, perr := VolumePath(w.a.opts.Root, v)
	if perr != nil {
		return
	}
	if rerr := w.a.files.RemoveAll(final + layout.TempSuffix); rerr != nil {
		w.log.Warn("remove the work in progress of a failed create", zap.String("path", final+layout.TempSuffix), zap.Error(rerr))
	}
}

// notAVolume says what an entry at a volume's final path is when it
// cannot be that volume ("" when it can).
func notAVolume(mode fs.FileMode, f materials.Format) string {
	switch {
	case mode&fs.ModeSymlink != 0:
		return "a symlink"
	case f == materials.FormatContainer && !mode.IsDir():
		return "not a directory"
	case f != materials.FormatContainer && !mode.IsRegular():
		return "not a regular file"
	}
	return ""
}

func (w *walk) create(ctx context.Context, r *remodel.Remodel, p *remodel.CreatePayload) (outcome, error) {
	unlock, err := w.a.keys.lock(ctx, volumeKey(p.Volume.Key()))
	if err != nil {
		return outcome{}, err
	}
	defer unlock()
	out, err := w.build(ctx, r, p.Volume, p.ContentTree, p.Build)
	w.cleanTmp(ctx, p.Volume, err)
	return out, err
}

// build makes volume v (of content tree tree, nil for a blank volume) at
// its final path unless it is already there, by the plan's strategy (nil:
// a full copy). The caller holds the volume's key lock.
func (w *walk) build(ctx context.Context, r *remodel.Remodel, v materials.Volume, tree *materials.ContentTree, how *remodel.VolumeBuild) (outcome, error) {
	final, err := VolumePath(w.a.opts.Root, v)
	if err != nil {
		return outcome{}, &terminalError{Err: err}
	}
	// The volume directory is ours: never made or written through a symlink.
	if err := w.a.files.MkdirAll(filepath.Dir(final)); err != nil {
		return outcome{}, terminal("create volume %s: %v", v.Key(), err)
	}
	if mode, err := w.a.files.Lstat(final); err == nil {
		if why := notAVolume(mode, v.Format); why != "" {
			return outcome{}, terminal("create volume %s: %s is %s, not a volume; remove it or run with --cleanup", v.Key(), final, why)
		}
		return outcome{reason: "already there"}, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return outcome{}, err
	}
	progress := func(done, known int64) {
		w.gate.emit(Event{RemodelID: r.ID, Kind: materials.KindVolume, ID: v.Key().String(), Done: done, Known: known})
	}
	vb := w.a.crafts.Volumes
	switch v.Origin {
	case materials.OriginBlank:
		if v.Format == materials.FormatContainer {
			return outcome{}, terminal("create volume %s: a blank volume cannot be a container", v.Key())
		}
		if err := vb.CreateBlank(ctx, final, v.Format, v.MaxSizeBytes); err != nil {
			return outcome{}, &terminalError{Err: err}
		}
		progress(v.MaxSizeBytes, v.MaxSizeBytes)
		return outcome{}, nil
	case materials.OriginDownload:
	default:
		return outcome{}, terminal("create volume %s: origin %q: want blank or download", v.Key(), v.Origin)
	}
	if tree == nil {
		return outcome{}, terminal("create volume %s: content tree %q is not in the remodel", v.Key(), v.ContentTree)
	}
	ct := w.pinned(*tree)
	store, src, err := w.contentSource(ctx, ct)
	if err != nil {
		return outcome{}, err
	}
	if v.Format == materials.FormatContainer {
		if w.a.crafts.Containers == nil {
			return outcome{}, terminal("create container volume %s: %w", v.Key(), ErrNoCraft)
		}
		if err := w.a.crafts.Containers.CreateContainer(ctx, final, v, ct, store); err != nil {
			return outcome{}, err
		}
		return outcome{}, nil
	}
	if how != nil && how.Strategy == materials.StrategySpace {
		return w.overlay(ctx, final, v, ct, how, store, src)
	}
	if src == "" {
		staged, remove, err := w.stage(ctx, store, ct.Digest())
		if err != nil {
			return outcome{}, fmt.Errorf("create volume %s: %w", v.Key(), err)
		}
		defer remove()
		src = staged
	}
	if err := vb.CreateFrom(ctx, final, v.Format, src, ct.Format, v.MaxSizeBytes, progress); err != nil {
		if ctx.Err() != nil {
			return outcome{}, ctx.Err()
		}
		if errors.Is(err, ErrImageRefused) {
			err = fmt.Errorf("content tree %s: %w", ct.ID, err)
		}
		return outcome{}, &terminalError{Err: err}
	}
	return outcome{}, nil
}

// overlay makes a space volume: a qcow2 overlay on the content blob,
// which must be the blob directory's own file under the root or the
// blob's file in containerd's content directory (backingName; an overlay
// on a staged copy would outlive its backing).
func (w *walk) overlay(ctx context.Context, final string, v materials.Volume, ct materials.ContentTree, how *remodel.VolumeBuild, store BlobStore, src string) (outcome, error) {
	d := ct.Digest()
	if how.Backing != "" && how.Backing != d {
		return outcome{}, terminal("create volume %s: the plan's backing blob %s is not content tree %s's %s", v.Key(), how.Backing, ct.ID, d)
	}
	ob, ok := w.a.crafts.Volumes.(device.OverlayBuilder)
	if !ok {
		return outcome{}, terminal("create overlay volume %s: %w", v.Key(), ErrNoCraft)
	}
	if v.Format != materials.FormatQcow2 {
		return outcome{}, terminal("create overlay volume %s: format %q: an overlay is qcow2", v.Key(), v.Format)
	}
	name, err := w.backingName(v, d, store, src)
	if err != nil {
		return outcome{}, &terminalError{Err: fmt.Errorf("create overlay volume %s: %w", v.Key(), err)}
	}
	if err := ob.CreateOverlay(ctx, final, src, name, ct.Format, v.MaxSizeBytes); err != nil {
		if ctx.Err() != nil {
			return outcome{}, ctx.Err()
		}
		if errors.Is(err, ErrImageRefused) {
			err = fmt.Errorf("content tree %s: %w", ct.ID, err)
		}
		return outcome{}, &terminalError{Err: err}
	}
	return outcome{reason: "space: qcow2 overlay on blob " + string(d)}, nil
}

// backingName is how an overlay names its blob d at src: relative to the
// volume's directory for the root's blob directory (layout.BackingName),
// the absolute path for a blob file of containerd's content directory
// (layout.ContainerdBackingName; the inspector resolves it against its
// ContainerdContentDir). Any other source (a staged copy, a store
// without files) would not outlive the overlay, so it is refused.
func (w *walk) backingName(v materials.Volume, d digest.Digest, store BlobStore, src string) (string, error) {
	if src != "" && filepath.Clean(src) == layout.BlobPath(w.a.opts.Root, d) {
		return layout.BackingName(v, d)
	}
	if ctr := w.a.crafts.Stores[materials.BlobStoreContainerd]; ctr != nil && store == ctr && src != "" && filepath.IsAbs(src) {
		dir := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Clean(src))))
		if name, err := layout.ContainerdBackingName(dir, d); err == nil && name == filepath.ToSlash(filepath.Clean(src)) {
			return name, nil
		}
	}
	return "", fmt.Errorf("blob %s is at %q, neither the root's blob directory (%s) nor containerd's content directory: an overlay is backed only by them", d, src, layout.BlobPath(w.a.opts.Root, d))
}

// stage copies a blob of a store without files (containerd on another
// host's filesystem) into a temporary file under the root for qemu-img.
func (w *walk) stage(ctx context.Context, store BlobStore, d digest.Digest) (string, func(), error) {
	rc, err := store.Open(ctx, d)
	if err != nil {
		return "", nil, fmt.Errorf("stage blob %s: %w", d, err)
	}
	defer rc.Close()
	p, remove, err := w.a.files.Stage(ctx, layout.StagePath(w.a.opts.Root), d.Encoded(), rc)
	if err != nil {
		return "", nil, fmt.Errorf("stage blob %s: %w", d, err)
	}
	return p, remove, nil
}

// contentSource finds the store holding a content tree's top blob (the
// one downloads go to first) and its file when the store is file-based.
func (w *walk) contentSource(ctx context.Context, ct materials.ContentTree) (BlobStore, string, error) {
	d := ct.Digest()
	if d == "" {
		return nil, "", terminal("content tree %s has no digest yet", ct.ID)
	}
	names := []materials.BlobStore{w.a.crafts.DefaultStore}
	for n := range w.a.crafts.Stores {
		names = append(names, n)
	}
	for _, n := range names {
		s := w.a.crafts.Stores[n]
		if s == nil {
			continue
		}
		ok, _, err := s.Has(ctx, d)
		if err != nil {
			return nil, "", err
		}
		if ok {
			return s, s.Path(d), nil
		}
	}
	return nil, "", terminal("content tree %s: blob %s is in no store (download it first)", ct.ID, d)
}

func (w *walk) purge(ctx context.Context, r *remodel.Remodel, p *remodel.PurgePayload) (outcome, error) {
	unlock, err := w.a.keys.lock(ctx, volumeKey(p.Volume.Key()), volumeKey(p.Replaces))
	if err != nil {
		return outcome{}, err
	}
	defer unlock()
	old := ""
	if p.OldPath != "" {
		if old, err = w.underRoot(p.OldPath); err != nil {
			return outcome{}, terminal("purge %s: %v", r.ID, err)
		}
		if ok, err := w.exists(old); err != nil {
			return outcome{}, err
		} else if !ok {
			old = ""
		}
	} else if old, err = w.findVolume(p.Replaces); err != nil {
		return outcome{}, &terminalError{Err: err}
	}
	deleteOld := func() error {
		if old == "" {
			return nil
		}
		return w.a.crafts.Volumes.Delete(ctx, old)
	}
	if p.Strategy == remodel.BreakBeforeMake {
		if err := deleteOld(); err != nil {
			return outcome{}, err
		}
		out, err := w.build(ctx, r, p.Volume, p.ContentTree, p.Build)
		w.cleanTmp(ctx, p.Volume, err)
		return out, err
	}
	out, err := w.build(ctx, r, p.Volume, p.ContentTree, p.Build)
	if err != nil {
		w.cleanTmp(ctx, p.Volume, err)
		return out, err
	}
	return out, deleteOld()
}

func (w *walk) resize(ctx context.Context, r *remodel.Remodel, p *remodel.ResizePayload) (outcome, error) {
	unlock, err := w.a.keys.lock(ctx, volumeKey(p.Volume.Key()))
	if err != nil {
		return outcome{}, err
	}
	defer unlock()
	path := ""
	if p.Path != "" {
		if path, err = w.underRoot(p.Path); err != nil {
			return outcome{}, terminal("resize %s: %v", r.ID, err)
		}
	} else if path, err = VolumePath(w.a.opts.Root, p.Volume); err != nil {
		return outcome{}, &terminalError{Err: err}
	}
	if err := w.a.crafts.Volumes.Resize(ctx, path, p.Volume.Format, p.Volume.MaxSizeBytes); err != nil {
		return outcome{}, &terminalError{Err: err}
	}
	return outcome{}, nil
}

func (w *walk) adopt(ctx context.Context, r *remodel.Remodel, p *remodel.AdoptPayload) (outcome, error) {
	from, err := w.underRoot(p.From)
	if err != nil {
		return outcome{}, terminal("adopt %s: source: %v", r.ID, err)
	}
	to, err := VolumePath(w.a.opts.Root, p.Volume)
	if err != nil {
		return outcome{}, &terminalError{Err: err}
	}
	unlock, err := w.a.keys.lock(ctx, volumeKey(p.Volume.Key()), "file:"+from)
	if err != nil {
		return outcome{}, err
	}
	defer unlock()
	fromOK, err := w.exists(from)
	if err != nil {
		return outcome{}, err
	}
	toOK, err := w.exists(to)
	if err != nil {
		return outcome{}, err
	}
	if toOK && !fromOK {
		return outcome{reason: "already adopted"}, nil
	}
	if !fromOK {
		return outcome{}, terminal("adopt %s: source %s is gone", r.ID, p.From)
	}
	if err := w.a.crafts.Volumes.Adopt(ctx, from, to); err != nil {
		return outcome{}, &terminalError{Err: err}
	}
	return outcome{}, nil
}

func (w *walk) delete(ctx context.Context, r *remodel.Remodel, pl *remodel.DeletePayload) (outcome, error) {
	switch r.Target.Kind {
	case materials.KindBlob:
		d := digest.Digest(r.Target.ID)
		if pl.Blob != nil && pl.Blob.Digest != "" {
			d = pl.Blob.Digest
		}
		store, unlock, err := w.lockedStore(ctx, pl.Store, d)
		if err != nil {
			return outcome{}, err
		}
		defer unlock()
		return outcome{}, store.Delete(ctx, d)
	case materials.KindVolume:
		var p string
		var err error
		lockKeys := []string{}
		if k, kerr := materials.ParseVolumeKey(r.Target.ID); kerr == nil {
			lockKeys = append(lockKeys, volumeKey(k))
			if pl.Path == "" {
				if p, err = w.findVolume(k); err != nil {
					return outcome{}, &terminalError{Err: err}
				}
			}
		}
		if pl.Path != "" {
			if p, err = w.underRoot(pl.Path); err != nil {
				return outcome{}, terminal("delete %s: %v", r.ID, err)
			}
		}
		if p == "" {
			if len(lockKeys) == 0 {
				return outcome{}, terminal("delete %s: volume %q: neither a volume key nor a path", r.ID, r.Target.ID)
			}
			return outcome{reason: "already gone"}, nil
		}
		unlock, err := w.a.keys.lock(ctx, append(lockKeys, "file:"+p)...)
		if err != nil {
			return outcome{}, err
		}
		defer unlock()
		return outcome{}, w.a.crafts.Volumes.Delete(ctx, p)
	case materials.KindImage:
		// The record only: its blobs are left to containerd's collector.
		name := r.Target.ID
		if w.a.crafts.Images == nil {
			return outcome{}, terminal("delete %s: image record %q: %w", r.ID, name, ErrNoCraft)
		}
		unlock, err := w.a.keys.lock(ctx, "image:"+name)
		if err != nil {
			return outcome{}, err
		}
		defer unlock()
		return outcome{}, w.a.crafts.Images.DeleteImage(ctx, name)
	case materials.KindLease:
		// The lease only: the blobs it held are left to the collector.
		id := r.Target.ID
		if w.a.crafts.Leases == nil {
			return outcome{}, terminal("delete %s: lease %q: %w", r.ID, id, ErrNoCraft)
		}
		unlock, err := w.a.keys.lock(ctx, "lease:"+id)
		if err != nil {
			return outcome{}, err
		}
		defer unlock()
		return outcome{}, w.a.crafts.Leases.DeleteLease(ctx, id)
	case materials.KindContentTree:
		return outcome{}, terminal("delete %s: a content tree is not deleted as such: its blobs and its image records are", r.ID)
	default:
		p, err := w.underRoot(pl.Path)
		if err != nil {
			return outcome{}, terminal("delete %s: %v", r.ID, err)
		}
		unlock, err := w.a.keys.lock(ctx, "file:"+p)
		if err != nil {
			return outcome{}, err
		}
		defer unlock()
		if err := w.a.files.RemoveAll(p); err != nil {
			return outcome{}, fmt.Errorf("delete %s: %w", pl.Path, err)
		}
		return outcome{}, nil
	}
}

func (w *walk) resolve(ctx context.Context, r *remodel.Remodel, p *remodel.ResolvePayload) (outcome, error) {
	if w.a.crafts.Resolver == nil {
		return outcome{}, terminal("resolve %s: %w", r.ID, ErrNoCraft)
	}
	ct := p.ContentTree
	var lastErr error
	for _, dsID := range ct.Datastores {
		ds, ok := w.datastores[dsID]
		if !ok {
			lastErr = terminal("resolve %s: datastore %q is not in the Blueprint", r.ID, dsID)
			continue
		}
		b, err := w.a.crafts.Resolver.Resolve(ctx, ds, ct)
		if err != nil {
			lastErr = err
			continue
		}
		l := materials.TagLatch{ContentTree: ct.ID, Generation: ct.Generation, URL: ct.URL, Digest: b.Digest, ResolvedAt: w.a.now()}
		if err := w.s.journal.PutLatch(l); err != nil {
			w.setJournalErr(err)
			return outcome{}, err
		}
		return outcome{reason: "resolved to " + string(b.Digest)}, nil
	}
	if lastErr == nil {
		lastErr = terminal("resolve %s: content tree %s names no datastore", r.ID, ct.ID)
	}
	return outcome{}, lastErr
}
