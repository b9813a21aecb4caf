package reporter

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edgewright/edgewright/materials/eve"
)

// TestWriteTableErrorsBelow: a state that carries a long error keeps the
// table within 100 columns; the error is printed in full below it.
func TestWriteTableErrorsBelow(t *testing.T) {
	desc := "download sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08: Get \"http://127.0.0.1:9/images/disk.raw\": dial tcp 127.0.0.1:9: connect: connection refused"
	r := &Report{
		Volumes: []*eve.ZInfoVolume{{
			Uuid: "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10", DisplayName: "root", GenerationCount: 1,
			State: eve.ZSwState_INITIAL, VolumeErr: &eve.ErrorInfo{Description: desc},
		}},
		ContentTrees: []*eve.ZInfoContentTree{{
			Uuid: "2b3c4d5e-0000-4000-8000-000000000001", DisplayName: "root-image-of-the-factory-line-camera-controller",
			State: eve.ZSwState_DOWNLOAD_STARTED, Err: &eve.ErrorInfo{Description: desc},
		}},
	}
	var out bytes.Buffer
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "  ") {
			continue // an error line below the table
		}
		if n := utf8.RuneCountInString(line); n > 100 {
			t.Errorf("%d columns: %q\n%s", n, line, out.String())
		}
	}
	for _, want := range []string{"\nerrors:\n", "  volume 7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10 gen 1: " + desc, "  content-tree 2b3c4d5e-0000-4000-8000-000000000001: " + desc} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
