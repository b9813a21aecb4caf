package assembler

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// TestVerifyCommitsCompleteIngest: a blob whose bytes were all written but
// not committed (a crash in between) is committed by its verify remodel,
// which checks the digest; a wrong one is refused; with no partial at all
// the verify fails and leaves no empty ingest behind.
func TestVerifyCommitsCompleteIngest(t *testing.T) {
	good := rawImage(7, 1<<20)
	tests := []struct {
		name    string
		partial []byte // the ingest file's content; nil: none
		status  Status
		want    string
	}{
		{"complete partial", good, StatusDone, "committed the complete ingest"},
		{"wrong bytes", append(append([]byte(nil), good[:len(good)-1]...), good[len(good)-1]^1), StatusFailed, "digest mismatch"},
		{"no partial", nil, StatusFailed, "0 of"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			ct := ctFor("ct", "x.raw", good, materials.FormatRaw, "ds")
			ingest := filepath.Join(root, "persist", "blobs", "ingest", ct.SHA256)
			if tc.partial != nil {
				os.MkdirAll(filepath.Dir(ingest), 0o755)
				os.WriteFile(ingest, tc.partial, 0o644)
			}
			a := newTestAssembler(t, root, nil)
			d := ct.Digest()
			rep := apply(t, a, plan(remodel.Remodel{
				ID: "verify", Action: remodel.ActionVerify,
				Target:  materials.MaterialRef{Kind: materials.KindBlob, ID: string(d)},
				Payload: &remodel.VerifyPayload{ContentTree: ct, Blob: materials.Blob{Digest: d, Size: int64(len(good))}},
			}))
			wantStatus(t, rep, "verify", tc.status, tc.want)
			_, err := os.Stat(filepath.Join(root, "persist", "blobs", "sha256", ct.SHA256))
			if (err == nil) != (tc.status == StatusDone) {
				t.Errorf("committed blob present = %v, want %v", err == nil, tc.status == StatusDone)
			}
			if _, err := os.Stat(ingest); err == nil {
				t.Errorf("an ingest is left at %s", ingest)
			}
		})
	}
}
