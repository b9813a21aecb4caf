package reporter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

// TestInfoStreamDuringApply runs a real apply (loopback HTTP datastore,
// qemu-img) with a Tracker on the assembler's hooks, publishing the delta
// at every change as an edge agent would, and checks the stream: each
// volume's states come in pipeline order, the downloaded one passes
// through every state from DOWNLOAD_STARTED to CREATED_VOLUME, and progress
// never goes back and ends at 100.
func TestInfoStreamDuringApply(t *testing.T) {
	testenv.QemuImg(t)
	img := make([]byte, 6<<20)
	rand.New(rand.NewSource(7)).Read(img[:4<<20]) // the tail stays zero
	sum := sha256.Sum256(img)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/images/disk.raw" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "disk.raw", t0, bytesReader(img))
	}))
	defer srv.Close()
	const (
		dsID   = "0b0b0b0b-0000-4000-8000-000000000001"
		treeID = "0c0c0c0c-0000-4000-8000-000000000001"
		dlVol  = "0d0d0d0d-0000-4000-8000-000000000001"
		blank  = "0d0d0d0d-0000-4000-8000-000000000002"
		appID  = "0a0a0a0a-0000-4000-8000-000000000001"
	)
	cfg := fmt.Sprintf(`{
	  "datastores": [{"id": %q, "dType": "DsHttp", "fqdn": %q, "dpath": "images"}],
	  "contentInfo": [{"uuid": %q, "dsId": %q, "URL": "disk.raw", "iformat": "RAW", "sha256": %q, "displayName": "disk", "maxSizeBytes": %d}],
	  "volumes": [
	    {"uuid": %q, "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": %q}, "generationCount": 1, "maxsizebytes": %d, "displayName": "root"},
	    {"uuid": %q, "origin": {"type": "VCOT_BLANK"}, "generationCount": 1, "maxsizebytes": 8388608, "displayName": "scratch"}
	  ],
	  "apps": [{"uuidandversion": {"uuid": %q, "version": "1"}, "displayname": "app",
	    "volumeRefList": [{"uuid": %q, "generationCount": 1}, {"uuid": %q, "generationCount": 1}]}]
	}`, dsID, srv.URL, treeID, dsID, hex.EncodeToString(sum[:]), len(img), dlVol, treeID, 16<<20, blank, appID, dlVol, blank)
	bp := architect.Load([]byte(cfg))
	if !bp.Valid() {
		t.Fatalf("config does not draw: %v", bp.Diagnostics)
	}

	root := t.TempDir()
	tr := NewTracker()
	pub := NewPublisher()
	var mu sync.Mutex
	var fp *materials.Floorplan
	var stream []*eve.ZInfoVolume
	var trees []*eve.ZInfoContentTree
	publish := func() {
		mu.Lock()
		defer mu.Unlock()
		delta, _ := pub.Changed(Build(Inputs{Blueprint: bp, Floorplan: fp, Live: tr}))
		stream = append(stream, delta.Volumes...)
		trees = append(trees, delta.ContentTrees...)
	}
	tr.OnChange = publish
	a, err := assembler.New(assembler.Options{Root: root, Logger: zap.NewNop(), Progress: tr.OnProgress, OnRemodel: tr.OnRemodel})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Converge(context.Background(), bp, assembler.ConvergeOptions{OnSurvey: func(_ int, f *materials.Floorplan) {
		mu.Lock()
		fp = f
		mu.Unlock()
		publish()
	}})
	if err != nil || !res.Converged {
		t.Fatalf("Converge: %v (converged %v, failed %+v)", err, res != nil && res.Converged, res.Failed)
	}

	// A fresh survey after the apply, with the journal, as `wright status`
	// makes it: everything is created or loaded, at 100.
	j, err := journal.OpenRoot(root, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	final, err := inspector.Survey(context.Background(), inspector.Options{Root: root, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	fp = final
	mu.Unlock()
	publish()
	after := Build(Inputs{Blueprint: bp, Floorplan: final})
	for _, v := range after.Volumes {
		if v.State != eve.ZSwState_CREATED_VOLUME || v.ProgressPercentage != 100 {
			t.Errorf("after the apply, volume %s is %s at %d%%", v.DisplayName, v.State, v.ProgressPercentage)
		}
		if v.GetUsage().GetCreateTime() == nil || v.GetUsage().GetLastRefcountChangeTime() == nil || v.GetUsage().GetRefCount() != 2 {
			t.Errorf("volume %s usage %v: want create and change times from the journal and refCount 2", v.DisplayName, v.GetUsage())
		}
	}
	if len(after.Metrics) != 2 {
		t.Errorf("%d volume metrics after the apply, want 2", len(after.Metrics))
	}

	byVolume := map[string][]*eve.ZInfoVolume{}
	for _, v := range stream {
		byVolume[v.Uuid] = append(byVolume[v.Uuid], v)
	}
	wantPath := map[string][]eve.ZSwState{
		dlVol: {eve.ZSwState_INITIAL, eve.ZSwState_DOWNLOAD_STARTED, eve.ZSwState_DOWNLOADED, eve.ZSwState_VERIFYING,
			eve.ZSwState_VERIFIED, eve.ZSwState_LOADING, eve.ZSwState_LOADED, eve.ZSwState_CREATING_VOLUME, eve.ZSwState_CREATED_VOLUME},
		blank: {eve.ZSwState_INITIAL, eve.ZSwState_CREATING_VOLUME, eve.ZSwState_CREATED_VOLUME},
	}
	for id, want := range wantPath {
		msgs := byVolume[id]
		if len(msgs) == 0 {
			t.Fatalf("no message for volume %s", id)
		}
		var states []eve.ZSwState
		var lastPct uint32
		for i, m := range msgs {
			if i > 0 && Before(m.State, msgs[i-1].State) {
				t.Errorf("volume %s went back from %s to %s", id, msgs[i-1].State, m.State)
			}
			if m.ProgressPercentage < lastPct {
				t.Errorf("volume %s progress went back from %d to %d (%s)", id, lastPct, m.ProgressPercentage, m.State)
			}
			lastPct = m.ProgressPercentage
			if len(states) == 0 || states[len(states)-1] != m.State {
				states = append(states, m.State)
			}
		}
		if fmt.Sprint(states) != fmt.Sprint(want) {
			t.Errorf("volume %s states %v, want %v", id, states, want)
		}
		if last := msgs[len(msgs)-1]; last.State != eve.ZSwState_CREATED_VOLUME || last.ProgressPercentage != 100 {
			t.Errorf("volume %s ended %s at %d%%", id, last.State, last.ProgressPercentage)
		}
		t.Logf("volume %s: %d messages, states %v", id, len(msgs), states)
	}
	var lastTree uint32
	for _, c := range trees {
		if c.ProgressPercentage < lastTree {
			t.Errorf("content tree progress went back from %d to %d", lastTree, c.ProgressPercentage)
		}
		lastTree = c.ProgressPercentage
	}
	if len(trees) == 0 || trees[len(trees)-1].State != eve.ZSwState_LOADED || lastTree != 100 {
		t.Errorf("content tree stream ended at %v", trees[len(trees)-1])
	}
}
