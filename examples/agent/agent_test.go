package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials/eve"
)

// syncBuffer is an io.Writer the test can read while the agent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const (
	dsID   = "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11"
	treeID = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01"
	rootV  = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10"
	blankV = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11"
)

func writeConfig(t *testing.T, path, dsURL, sha string, blankGen int) {
	t.Helper()
	cfg := fmt.Sprintf(`{
  "datastores": [{"id": %q, "dType": "DsHttp", "fqdn": %q}],
  "contentInfo": [{"uuid": %q, "dsId": %q, "URL": "disk.raw", "iformat": "RAW", "sha256": %q, "displayName": "disk"}],
  "volumes": [
    {"uuid": %q, "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": %q}, "generationCount": 1, "maxsizebytes": 4194304, "displayName": "root"},
    {"uuid": %q, "origin": {"type": "VCOT_BLANK"}, "generationCount": %d, "maxsizebytes": 1048576, "displayName": "scratch"}]
}`, dsID, dsURL, treeID, dsID, sha, rootV, treeID, blankV, blankGen)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// volumeStates parses the published lines into each volume generation's
// sequence of states.
func volumeStates(t *testing.T, out string) map[string][]*eve.ZInfoVolume {
	t.Helper()
	got := map[string][]*eve.ZInfoVolume{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(line, `"ztype":"ZiVolume"`) {
			continue
		}
		var m eve.ZInfoMsg
		if err := protojson.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %s: %v", line, err)
		}
		v := m.GetVinfo()
		k := fmt.Sprintf("%s#%d", v.Uuid, v.GenerationCount)
		got[k] = append(got[k], v)
	}
	return got
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func created(vs []*eve.ZInfoVolume) bool {
	return len(vs) > 0 && vs[len(vs)-1].State == eve.ZSwState_CREATED_VOLUME && vs[len(vs)-1].ProgressPercentage == 100
}

// TestAgentFollowsTheConfig runs the loop against a loopback datastore:
// the first config creates both volumes, a generation bump in the file is
// noticed and purged, and cancelling stops the loop.
func TestAgentFollowsTheConfig(t *testing.T) {
	testenv.QemuImg(t)
	disk := bytes.Repeat([]byte("agent\n"), 300_000)
	sum := sha256.Sum256(disk)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "disk.raw", time.Time{}, bytes.NewReader(disk))
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg, root := filepath.Join(dir, "config.json"), filepath.Join(dir, "root")
	writeConfig(t, cfg, srv.URL, hex.EncodeToString(sum[:]), 1)

	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, options{config: cfg, root: root, device: "dev-1", interval: 50 * time.Millisecond}, &out, zap.NewNop())
	}()
	waitFor(t, "both volumes created", func() bool {
		s := volumeStates(t, out.String())
		return created(s[rootV+"#1"]) && created(s[blankV+"#1"])
	})
	writeConfig(t, cfg, srv.URL, hex.EncodeToString(sum[:]), 2)
	waitFor(t, "the purged generation", func() bool { return created(volumeStates(t, out.String())[blankV+"#2"]) })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run ended with %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(root, "persist/vault/volumes", blankV+"#1.qcow2")); !os.IsNotExist(err) {
		t.Errorf("old generation still on disk: %v", err)
	}
	s := volumeStates(t, out.String())
	var states []eve.ZSwState
	for _, v := range s[rootV+"#1"] {
		if len(states) == 0 || states[len(states)-1] != v.State {
			states = append(states, v.State)
		}
	}
	if states[0] != eve.ZSwState_INITIAL || states[len(states)-1] != eve.ZSwState_CREATED_VOLUME || len(states) < 5 {
		t.Errorf("root volume states %v: want INITIAL … CREATED_VOLUME through the download states", states)
	}
	if !strings.Contains(out.String(), `"devID":"dev-1","atTimeStamp"`) {
		t.Errorf("no metrics message published:\n%s", out.String())
	}
}
