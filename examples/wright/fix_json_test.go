package main

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgewright/edgewright/internal/testenv"
)

// fixJSON is what `wright fix --json` prints.
type fixJSON struct {
	Settled  int `json:"settled"`
	Selected []struct {
		ID      string         `json:"id"`
		Type    string         `json:"type"`
		Target  map[string]any `json:"target"`
		Outcome string         `json:"outcome"`
		Error   string         `json:"error"`
		Why     string         `json:"why"`
	} `json:"selected"`
	Fixes   []map[string]any `json:"fixes"`
	Volumes []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"volumes"`
	Error string `json:"error"`
}

// TestFixJSON runs `wright fix --all --json` on a damaged root and
// decodes what it prints: each fix the check lists is selected with its
// id, type, target and outcome (applied; the unknown file reported; the
// re-fetch of a blob the datastore no longer serves failed, with the
// error), and the check after is the fixes and volumes that remain.
func TestFixJSON(t *testing.T) {
	qimg := testenv.QemuImg(t)
	overlays := mustFollowBacking(t, qimg)
	srv, files := contentServer(t)
	fx := damagedRoot(t, srv, files, overlays)
	delete(files, "base.raw") // the overlay's backing blob cannot be fetched again
	var out, errb bytes.Buffer
	code := run([]string{"fix", "--root", fx.root, "--all", "--json"}, &out, &errb)
	t.Logf("wright fix --all --json: exit %d\n%s%s", code, out.String(), errb.String())
	var top map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &top); err != nil {
		t.Fatalf("stdout is not one JSON object: %v", err)
	}
	var keys []string
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if diff := cmp.Diff([]string{"fixes", "selected", "settled", "volumes"}, keys); diff != "" {
		t.Errorf("top-level keys (-want +got):\n%s", diff)
	}
	var res fixJSON
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	refetch := "mend:volume/" + fxOverlay + "#1"
	want := map[string]string{}
	for id, typ := range fx.want {
		want[id] = typ + " applied"
	}
	want["clean:file/persist/vault/volumes/README.txt"] = "clean reported"
	if overlays {
		want[refetch] = "mend failed"
	}
	got := map[string]string{}
	for _, s := range res.Selected {
		got[s.ID] = s.Type + " " + s.Outcome
		if s.Target["kind"] == nil || s.Target["id"] == nil || !strings.HasSuffix(s.ID, s.Target["kind"].(string)+"/"+s.Target["id"].(string)) {
			t.Errorf("%s: target %v does not name what the id does", s.ID, s.Target)
		}
		switch s.Outcome {
		case "failed":
			if !strings.Contains(s.Error, "download:") {
				t.Errorf("%s: failed with error %q, want the download's", s.ID, s.Error)
			}
		case "reported":
			if !strings.HasPrefix(s.Why, "reported only: ") {
				t.Errorf("%s: reported, why %q", s.ID, s.Why)
			}
		case "applied":
			if s.Error != "" || s.Why != "" {
				t.Errorf("%s: applied with error %q why %q", s.ID, s.Error, s.Why)
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("selected fixes (-want +got):\n%s", diff)
	}
	// After: the unknown file, and the overlay still missing its blob.
	var after []string
	for _, f := range res.Fixes {
		after = append(after, f["id"].(string))
	}
	wantAfter := []string{"clean:file/persist/vault/volumes/README.txt"}
	if overlays {
		wantAfter = append(wantAfter, refetch)
		sort.Strings(wantAfter)
	}
	if diff := cmp.Diff(wantAfter, after); diff != "" {
		t.Errorf("fixes after (-want +got):\n%s", diff)
	}
	for _, v := range res.Volumes {
		if want := map[bool]string{true: "broken", false: "optimized"}[v.ID == fxOverlay+"#1"]; v.Status != want {
			t.Errorf("volume %s is %s after, want %s", v.ID, v.Status, want)
		}
	}
	if res.Settled != 0 || res.Error != "" {
		t.Errorf("settled %d, error %q", res.Settled, res.Error)
	}
	if wantCode := map[bool]int{true: exitFailed, false: exitOK}[overlays]; code != wantCode {
		t.Errorf("exit %d, want %d", code, wantCode)
	}
}
