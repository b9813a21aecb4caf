package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestJSONSummary: the summary carries the keys programs read, with
// figures that add up.
func TestJSONSummary(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--devices", "30", "--volumes", "8", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"devices", "reconciles", "reconcilesPerCpuSecond", "peakRssBytes", "bytesDownloaded", "held", "notConverged"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary has no %q", k)
		}
	}
	var s Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.Devices != 30 || len(s.Phases) != 2 || s.Reconciles != s.Phases[0].Reconciles+s.Phases[1].Reconciles || s.BytesDownloaded <= 0 {
		t.Errorf("summary does not add up: %+v", s)
	}
}

func TestTableAndBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--devices", "5", "--volumes", "4", "--rollout", "purge"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "rollout purge") || !strings.Contains(out.String(), "reconciles per CPU second") {
		t.Errorf("table:\n%s", out.String())
	}
	errb.Reset()
	if code := run([]string{"--rollout", "sideways"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `"sideways"`) {
		t.Errorf("bad rollout: exit %d, %s", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"--devices", "0"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "devices 0") {
		t.Errorf("no devices: exit %d, %s", code, errb.String())
	}
}
