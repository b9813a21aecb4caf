package assembler

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

const testFP = "sha256:test-floorplan"

func fastRetry() RetryPolicy {
	return RetryPolicy{Attempts: 4, Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, DigestAttempts: 3}
}

func newTestAssembler(t testing.TB, root string, mod func(*Options)) *Assembler {
	t.Helper()
	o := Options{Root: root, Retry: fastRetry(), Survey: fixedSurvey(testFP), Logger: zap.NewNop()}
	if mod != nil {
		mod(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ctFor(id, file string, data []byte, format materials.Format, ds ...string) materials.ContentTree {
	return materials.ContentTree{ID: id, URL: file, Format: format, SHA256: sha(data), Datastores: ds}
}

func downloadRemodel(ct materials.ContentTree, size int64, deps ...remodel.ID) remodel.Remodel {
	d := ct.Digest()
	return remodel.Remodel{
		ID: remodel.ID("download " + ct.ID), Action: remodel.ActionDownload,
		Target:  materials.MaterialRef{Kind: materials.KindBlob, ID: string(d)},
		Payload: &remodel.DownloadPayload{ContentTree: ct, Blob: materials.Blob{Digest: d, Size: size}}, DependsOn: deps,
	}
}

func createRemodel(v materials.Volume, ct *materials.ContentTree, deps ...remodel.ID) remodel.Remodel {
	return remodel.Remodel{
		ID: remodel.ID("create " + v.Key().String()), Action: remodel.ActionCreate,
		Target:  materials.MaterialRef{Kind: materials.KindVolume, ID: v.Key().String()},
		Payload: &remodel.CreatePayload{Volume: v, ContentTree: ct}, DependsOn: deps,
	}
}

func plan(rs ...remodel.Remodel) *remodel.Plan {
	return &remodel.Plan{Fingerprint: testFP, Remodels: rs}
}

func apply(t testing.TB, a *Assembler, p *remodel.Plan, dss ...materials.Datastore) *Report {
	t.Helper()
	rep, err := a.Apply(context.Background(), p, WithBlueprint(&materials.Blueprint{Datastores: dss}))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return rep
}

func wantStatus(t testing.TB, rep *Report, id remodel.ID, st Status, contains string) {
	t.Helper()
	r, ok := rep.Result(id)
	if !ok {
		t.Errorf("no result for %s", id)
		return
	}
	text := r.Error + r.Reason
	if r.Status != st || !strings.Contains(text, contains) {
		t.Errorf("%s: %s %q, want %s containing %q", id, r.Status, text, st, contains)
	}
}

func TestDownloadCreatesBlobAndTree(t *testing.T) {
	ds := newDatastore(t, false)
	data := rawImage(1, 3<<20)
	ds.put("/images/disk.raw", data)
	root := t.TempDir()
	var mu sync.Mutex
	var events []Event
	a := newTestAssembler(t, root, func(o *Options) {
		o.Progress = func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	})
	ct := ctFor("ct1", "disk.raw", data, materials.FormatRaw, "ds1")
	rep := apply(t, a, plan(downloadRemodel(ct, int64(len(data)))), ds.materials("ds1"))
	wantStatus(t, rep, "download ct1", StatusDone, "")
	got, err := os.ReadFile(filepath.Join(root, "persist/blobs/sha256", sha(data)))
	if err != nil || sha(got) != sha(data) {
		t.Fatalf("blob not stored whole: %v", err)
	}
	if rep.Bytes != int64(len(data)) {
		t.Errorf("report bytes %d, want %d", rep.Bytes, len(data))
	}
	// Progress: monotone per material, ending at known == size, for the
	// blob and for its content tree.
	last := map[materials.MaterialRef]Event{}
	for _, e := range events {
		ref := materials.MaterialRef{Kind: e.Kind, ID: e.ID}
		if p, ok := last[ref]; ok && e.Done < p.Done {
			t.Errorf("progress went back for %v: %d after %d", ref, e.Done, p.Done)
		}
		last[ref] = e
	}
	for _, ref := range []materials.MaterialRef{{Kind: materials.KindBlob, ID: string(ct.Digest())}, {Kind: materials.KindContentTree, ID: "ct1"}} {
		if e := last[ref]; e.Done != int64(len(data)) || e.Known != int64(len(data)) {
			t.Errorf("last progress for %v = %d/%d, want %d/%d", ref, e.Done, e.Known, len(data), len(data))
		}
	}
}

func TestSharedBlobFetchedOnce(t *testing.T) {
	ds := newDatastore(t, false)
	data := rawImage(2, 1<<20)
	ds.put("/images/a.raw", data)
	ds.put("/images/b.raw", data)
	a := newTestAssembler(t, t.TempDir(), nil)
	ct1 := ctFor("ct1", "a.raw", data, materials.FormatRaw, "ds")
	ct2 := ctFor("ct2", "b.raw", data, materials.FormatRaw, "ds")
	rep := apply(t, a, plan(downloadRemodel(ct1, 0), downloadRemodel(ct2, 0)), ds.materials("ds"))
	if rep.Done != 2 {
		t.Fatalf("report: %+v", rep.Results)
	}
	if n := len(ds.requests()); n != 1 {
		t.Errorf("datastore saw %d requests for one shared blob, want 1", n)
	}
	reasons := rep.Results[0].Reason + rep.Results[1].Reason
	if !strings.Contains(reasons, "already present") {
		t.Errorf("neither download found the blob already present under the lock: %+v", rep.Results)
	}
}

func TestFailureSkipsOnlyDependents(t *testing.T) {
	testenv.QemuImg(t)
	ds := newDatastore(t, false)
	good := rawImage(3, 1<<20)
	ds.put("/images/good.raw", good)
	// missing.raw is not served: a 404 is terminal.
	root := t.TempDir()
	a := newTestAssembler(t, root, nil)
	ctGood := ctFor("good", "good.raw", good, materials.FormatRaw, "ds")
	ctBad := ctFor("bad", "missing.raw", []byte("nothing"), materials.FormatRaw, "ds")
	vGood := materials.Volume{ID: "vgood", Generation: 1, Origin: materials.OriginDownload, ContentTree: "good", Format: materials.FormatQcow2, MaxSizeBytes: 2 << 20}
	vBad := materials.Volume{ID: "vbad", Generation: 1, Origin: materials.OriginDownload, ContentTree: "bad", Format: materials.FormatRaw}
	resize := remodel.Remodel{ID: "resize vbad#1", Action: remodel.ActionResize, Target: materials.MaterialRef{Kind: materials.KindVolume, ID: "vbad#1"}, Payload: &remodel.ResizePayload{Volume: vBad}, DependsOn: []remodel.ID{"create vbad#1"}}
	heldDep := createRemodel(materials.Volume{ID: "vheld", Generation: 1, Origin: materials.OriginBlank, Format: materials.FormatRaw, MaxSizeBytes: 1 << 20}, nil, "delete something")
	p := plan(downloadRemodel(ctGood, 0), downloadRemodel(ctBad, 0),
		createRemodel(vGood, &ctGood, "download good"), createRemodel(vBad, &ctBad, "download bad"), resize, heldDep)
	p.Held = []remodel.Held{{RemodelID: "delete something", Action: remodel.ActionDelete, Reason: "protected"}}
	rep := apply(t, a, p, ds.materials("ds"))
	wantStatus(t, rep, "download good", StatusDone, "")
	wantStatus(t, rep, "create vgood#1", StatusDone, "")
	wantStatus(t, rep, "download bad", StatusFailed, "404")
	wantStatus(t, rep, "create vbad#1", StatusSkipped, "depends on download bad which failed")
	wantStatus(t, rep, "resize vbad#1", StatusSkipped, "depends on create vbad#1 which was skipped")
	wantStatus(t, rep, "create vheld#1", StatusSkipped, "depends on delete something which is held")
	if r, _ := rep.Result("download bad"); r.Attempts != 1 {
		t.Errorf("a 404 was tried %d times, want 1 (terminal)", r.Attempts)
	}
	if rep.Done != 2 || rep.Failed != 1 || rep.Skipped != 3 {
		t.Errorf("counts done/failed/skipped = %d/%d/%d, want 2/1/3", rep.Done, rep.Failed, rep.Skipped)
	}
	j, err := journal.OpenRoot(root, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	hist, _ := j.History()
	if len(hist) != 3 {
		t.Errorf("journal history has %d records, want 3 (two done, one failed)", len(hist))
	}
}

func TestRetryableThenDone(t *testing.T) {
	ds := newDatastore(t, false)
	data := rawImage(4, 256<<10)
	ds.put("/images/flaky.raw", data)
	ds.unavailable["/images/flaky.raw"] = 2
	a := newTestAssembler(t, t.TempDir(), nil)
	rep := apply(t, a, plan(downloadRemodel(ctFor("ct", "flaky.raw", data, materials.FormatRaw, "ds"), 0)), ds.materials("ds"))
	wantStatus(t, rep, "download ct", StatusDone, "")
	if r := rep.Results[0]; r.Attempts != 3 {
		t.Errorf("attempts = %d, want 3 (two 503s, then the body)", r.Attempts)
	}
}

func TestDigestMismatchBounded(t *testing.T) {
	ds := newDatastore(t, false)
	ds.put("/images/evil.raw", []byte("not what the config says"))
	root := t.TempDir()
	a := newTestAssembler(t, root, nil)
	ct := ctFor("ct", "evil.raw", []byte("the real content"), materials.FormatRaw, "ds")
	rep := apply(t, a, plan(downloadRemodel(ct, 0)), ds.materials("ds"))
	r := rep.Results[0]
	if r.Status != StatusFailed || !errors.Is(r.Err, ErrDigestMismatch) {
		t.Fatalf("result %+v, want failed with ErrDigestMismatch", r)
	}
	if r.Attempts != 3 || len(ds.requests()) != 3 {
		t.Errorf("attempts %d, requests %d; want 3 and 3", r.Attempts, len(ds.requests()))
	}
	for _, dir := range []string{"persist/blobs/sha256", "persist/blobs/ingest"} {
		ents, _ := os.ReadDir(filepath.Join(root, dir))
		if len(ents) != 0 {
			t.Errorf("%s keeps %d entries after a mismatch", dir, len(ents))
		}
	}
}

// TestResumeAfterCut is the fault test: the server cuts the connection
// after N bytes, and the retry asks for the rest with a Range from N.
func TestResumeAfterCut(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cut        int64
		checkpoint int64
	}{
		{"hash state checkpointed", 700 << 10, 128 << 10},
		{"no checkpoint, prefix re-hashed", 300 << 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDatastore(t, false)
			data := rawImage(5, 2<<20)
			ds.put("/images/big.raw", data)
			ds.cutAfter["/images/big.raw"] = tc.cut
			root := t.TempDir()
			bd := NewBlobDir(root)
			bd.CheckpointEvery = tc.checkpoint
			a := newTestAssembler(t, root, func(o *Options) {
				o.Crafts.Stores = map[materials.BlobStore]BlobStore{materials.BlobStoreDir: bd}
			})
			rep := apply(t, a, plan(downloadRemodel(ctFor("ct", "big.raw", data, materials.FormatRaw, "ds"), int64(len(data)))), ds.materials("ds"))
			wantStatus(t, rep, "download ct", StatusDone, "")
			var ranges []string
			for _, r := range ds.requests() {
				ranges = append(ranges, r.Range)
			}
			// The cut lands after the server flushed at least cut bytes;
			// the resume offset is what the client had written.
			if len(ranges) != 2 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") {
				t.Fatalf("Range log %q, want [\"\" \"bytes=N-\"]", ranges)
			}
			t.Logf("Range log: %q (cut after %d bytes)", ranges, tc.cut)
			var off int64
			if _, err := fmtSscanf(ranges[1], "bytes=%d-", &off); err != nil || off <= 0 || off > tc.cut {
				t.Errorf("resumed at %q, want 0 < offset <= %d", ranges[1], tc.cut)
			}
			got, _ := os.ReadFile(filepath.Join(root, "persist/blobs/sha256", sha(data)))
			if sha(got) != sha(data) {
				t.Error("resumed blob differs")
			}
			if rep.Bytes != int64(len(data)) {
				t.Errorf("bytes fetched %d, want %d (no byte twice)", rep.Bytes, len(data))
			}
		})
	}
}

func TestServerIgnoringRangeRestarts(t *testing.T) {
	ds := newDatastore(t, false)
	data := rawImage(6, 1<<20)
	ds.put("/images/x.raw", data)
	ds.cutAfter["/images/x.raw"] = 100 << 10
	ds.ignoreRange = true
	root := t.TempDir()
	var mu sync.Mutex
	var dones []int64
	a := newTestAssembler(t, root, func(o *Options) {
		o.Progress = func(e Event) {
			if e.Kind == materials.KindBlob {
				mu.Lock()
				dones = append(dones, e.Done)
				mu.Unlock()
			}
		}
	})
	rep := apply(t, a, plan(downloadRemodel(ctFor("ct", "x.raw", data, materials.FormatRaw, "ds"), 0)), ds.materials("ds"))
	wantStatus(t, rep, "download ct", StatusDone, "")
	for i := 1; i < len(dones); i++ {
		if dones[i] < dones[i-1] {
			t.Fatalf("progress went back after a restart from 0: %v", dones)
		}
	}
}

func TestTLSWithDatastoreCert(t *testing.T) {
	ds := newDatastore(t, true)
	data := []byte("tls content")
	ds.put("/images/t.raw", data)
	ds.user, ds.pass = "edge", "s3cret-password"
	cert := ds.srv.Certificate()
	pemCert := pemEncode(cert.Raw)
	core, logs := observer.New(zap.DebugLevel)
	for _, tc := range []struct {
		name    string
		certs   [][]byte
		wantErr string
	}{
		{"without the CA", nil, "certificate"},
		{"with dsCertPEM", [][]byte{pemCert}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAssembler(t, t.TempDir(), func(o *Options) { o.Logger = zap.New(core) })
			m := ds.materials("ds")
			m.CertPEM, m.APIKey, m.Password, m.HasCredentials = tc.certs, "edge", "s3cret-password", true
			rep := apply(t, a, plan(downloadRemodel(ctFor("ct", "t.raw", data, materials.FormatRaw, "ds"), 0)), m)
			if tc.wantErr == "" {
				wantStatus(t, rep, "download ct", StatusDone, "")
			} else {
				wantStatus(t, rep, "download ct", StatusFailed, tc.wantErr)
			}
		})
	}
	for _, e := range logs.All() {
		line := e.Message
		for _, f := range e.Context {
			line += " " + f.String + " " + f.Key
			if f.Interface != nil {
				line += " " + errString(f.Interface)
			}
		}
		if strings.Contains(line, "s3cret") {
			t.Errorf("a log line carries the password: %s", line)
		}
	}
	if len(logs.All()) == 0 {
		t.Error("no log lines captured; the credential check checked nothing")
	}
}

func TestStalePlanRefused(t *testing.T) {
	a := newTestAssembler(t, t.TempDir(), func(o *Options) { o.Survey = fixedSurvey("sha256:changed") })
	_, err := a.Apply(context.Background(), plan())
	var se *StalePlanError
	if !errors.Is(err, ErrStalePlan) || !errors.As(err, &se) || se.Now != "sha256:changed" {
		t.Fatalf("Apply of a stale plan: %v, want ErrStalePlan", err)
	}
}

func TestCancelLeavesResumableState(t *testing.T) {
	ds := newDatastore(t, false)
	data := rawImage(7, 2<<20)
	ds.put("/images/slow.raw", data)
	ds.stall = make(chan struct{})
	root := t.TempDir()
	a := newTestAssembler(t, root, nil)
	ct := ctFor("ct", "slow.raw", data, materials.FormatRaw, "ds")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Apply(ctx, plan(downloadRemodel(ct, int64(len(data)))), WithBlueprint(&materials.Blueprint{Datastores: []materials.Datastore{ds.materials("ds")}}))
		done <- err
	}()
	ingest := filepath.Join(root, "persist/blobs/ingest", sha(data))
	for {
		if st, err := os.Stat(ingest); err == nil && st.Size() > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Apply: %v, want context.Canceled", err)
	}
	st, err := os.Stat(ingest)
	if err != nil || st.Size() == 0 {
		t.Fatalf("partial ingest after cancel: %v", err)
	}
	j, err := journal.OpenRoot(root, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ins, _ := j.Intents()
	j.Close()
	if len(ins) != 1 || ins[0].RemodelID != "download ct" {
		t.Fatalf("in-flight intents after cancel: %+v, want the download", ins)
	}
	close(ds.stall)
	ds.mu.Lock()
	ds.stall = nil
	ds.mu.Unlock()
	rep := apply(t, a, plan(downloadRemodel(ct, int64(len(data)))), ds.materials("ds"))
	wantStatus(t, rep, "download ct", StatusDone, "")
	reqs := ds.requests()
	if last := reqs[len(reqs)-1]; last.Range != "bytes="+itoa(st.Size())+"-" {
		t.Errorf("resume asked %q, want bytes=%d-", last.Range, st.Size())
	}
	j, _ = journal.OpenRoot(root, journal.Options{ReadOnly: true})
	ins, _ = j.Intents()
	j.Close()
	if len(ins) != 0 {
		t.Errorf("intents after the resumed apply: %+v", ins)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	ds := newDatastore(t, false)
	ds.stall = make(chan struct{})
	var rs []remodel.Remodel
	for i := range 5 {
		data := rawImage(uint64(10+i), 128<<10)
		name := "f" + itoa(int64(i)) + ".raw"
		ds.put("/images/"+name, data)
		rs = append(rs, downloadRemodel(ctFor("ct"+itoa(int64(i)), name, data, materials.FormatRaw, "ds"), 0))
	}
	a := newTestAssembler(t, t.TempDir(), func(o *Options) {
		o.Concurrency = map[remodel.Action]int{remodel.ActionDownload: 2}
	})
	go func() {
		// Let the first ones pile up, then release every body.
		time.Sleep(200 * time.Millisecond)
		close(ds.stall)
	}()
	rep := apply(t, a, plan(rs...), ds.materials("ds"))
	if rep.Done != 5 {
		t.Fatalf("report %+v", rep.Results)
	}
	if ds.maxInFlight != 2 {
		t.Errorf("max downloads at once = %d, want 2 (the limit)", ds.maxInFlight)
	}
}

func TestDeleteKinds(t *testing.T) {
	root := t.TempDir()
	data := []byte("blob")
	d := digest.FromBytes(data)
	mk := func(rel string, body []byte) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("persist/blobs/sha256/"+d.Encoded(), data)
	mk("persist/vault/volumes/v1#3.qcow2", []byte("vol"))
	mk("persist/clear/volumes/v2#1.raw", []byte("vol"))
	mk("persist/vault/volumes/junk.tmp", []byte("tmp"))
	a := newTestAssembler(t, root, nil)
	p := plan(
		remodel.Remodel{ID: "d1", Action: remodel.ActionDelete, Target: materials.MaterialRef{Kind: materials.KindBlob, ID: string(d)}, Payload: &remodel.DeletePayload{Store: materials.BlobStoreDir}},
		remodel.Remodel{ID: "d2", Action: remodel.ActionDelete, Target: materials.MaterialRef{Kind: materials.KindVolume, ID: "v1#3"}, Payload: &remodel.DeletePayload{}},
		remodel.Remodel{ID: "d3", Action: remodel.ActionDelete, Target: materials.MaterialRef{Kind: materials.KindVolume, ID: "v2#1"}, Payload: &remodel.DeletePayload{Path: "persist/clear/volumes/v2#1.raw"}},
		remodel.Remodel{ID: "d4", Action: remodel.ActionDelete, Target: materials.MaterialRef{Kind: materials.KindFile, ID: "persist/vault/volumes/junk.tmp"}, Payload: &remodel.DeletePayload{Path: "persist/vault/volumes/junk.tmp"}},
		remodel.Remodel{ID: "d5", Action: remodel.ActionDelete, Target: materials.MaterialRef{Kind: materials.KindFile, ID: "x"}, Payload: &remodel.DeletePayload{Path: "../outside"}},
		// An image record needs containerd's image craft, which the blob
		// directory's set has not.
		remodel.Remodel{ID: "d6", Action: remodel.ActionDelete, Target: materials.MaterialRef{Kind: materials.KindImage, ID: "c1-library/redis:7"}, Payload: &remodel.DeletePayload{}},
		// A content tree goes by its blobs and image records, never as such.
		remodel.Remodel{ID: "d7", Action: remodel.ActionDelete, Target: materials.MaterialRef{Kind: materials.KindContentTree, ID: "c1"}, Payload: &remodel.DeletePayload{Path: "persist/vault/volumes/v1#3.qcow2"}},
		// A payload of another action's type is refused before any work.
		remodel.Remodel{ID: "d8", Action: remodel.ActionDelete, Target: materials.MaterialRef{Kind: materials.KindFile, ID: "persist/x"}, Payload: &remodel.CreatePayload{}},
		remodel.Remodel{ID: "d9", Action: remodel.ActionDelete, Target: materials.MaterialRef{Kind: materials.KindFile, ID: "persist/x"}},
	)
	p.Unreferenced = []materials.Unreferenced{{Target: materials.MaterialRef{Kind: materials.KindVolume, ID: "v1#3"}, Since: time.Unix(1, 0)}}
	rep := apply(t, a, p)
	for _, id := range []remodel.ID{"d1", "d2", "d3", "d4"} {
		wantStatus(t, rep, id, StatusDone, "")
	}
	wantStatus(t, rep, "d5", StatusFailed, "leaves the root")
	wantStatus(t, rep, "d6", StatusFailed, "no craft")
	wantStatus(t, rep, "d7", StatusFailed, "not deleted as such")
	wantStatus(t, rep, "d8", StatusFailed, "carries payload *remodel.CreatePayload, want *remodel.DeletePayload")
	wantStatus(t, rep, "d9", StatusFailed, "carries payload <nil>, want *remodel.DeletePayload")
	for _, rel := range []string{"persist/blobs/sha256/" + d.Encoded(), "persist/vault/volumes/v1#3.qcow2", "persist/clear/volumes/v2#1.raw", "persist/vault/volumes/junk.tmp"} {
		if _, err := os.Stat(filepath.Join(root, rel)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after its delete", rel)
		}
	}
	j, _ := journal.OpenRoot(root, journal.Options{ReadOnly: true})
	defer j.Close()
	if u, _ := j.Unreferenced(); len(u) != 0 {
		t.Errorf("the deleted volume's clock stays: %+v", u)
	}
}

// TestResumeOfACompletePartial: a crash after the last byte was written
// but before the commit leaves a whole ingest; the resume's Range is
// answered 416 and the commit checks what is there, fetching nothing.
func TestResumeOfACompletePartial(t *testing.T) {
	ds := newDatastore(t, false)
	data := rawImage(8, 512<<10)
	ds.put("/images/whole.raw", data)
	root := t.TempDir()
	ingest := filepath.Join(root, "persist/blobs/ingest", sha(data))
	os.MkdirAll(filepath.Dir(ingest), 0o755)
	if err := os.WriteFile(ingest, data, 0o644); err != nil {
		t.Fatal(err)
	}
	a := newTestAssembler(t, root, nil)
	rep := apply(t, a, plan(downloadRemodel(ctFor("ct", "whole.raw", data, materials.FormatRaw, "ds"), int64(len(data)))), ds.materials("ds"))
	wantStatus(t, rep, "download ct", StatusDone, "")
	reqs := ds.requests()
	if len(reqs) != 1 || reqs[0].Range != "bytes="+itoa(int64(len(data)))+"-" {
		t.Errorf("requests %+v, want one Range from the end", reqs)
	}
	if rep.Bytes != 0 {
		t.Errorf("fetched %d bytes of a blob already whole", rep.Bytes)
	}
	if _, err := os.Stat(filepath.Join(root, "persist/blobs/sha256", sha(data))); err != nil {
		t.Errorf("blob not committed: %v", err)
	}
}
