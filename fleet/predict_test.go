package fleet_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/fleet"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// realImage writes content under dir/images and describes it for a Spec.
func realImage(t *testing.T, dir, name string, format materials.Format, content []byte) fleet.Image {
	t.Helper()
	p := filepath.Join(dir, "images", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	im := fleet.Image{Name: name, Format: format, SizeBytes: int64(len(content)), SHA256: hex.EncodeToString(sum[:])}
	if format == materials.FormatQcow2 {
		im.VirtualSize = int64(binary.BigEndian.Uint64(content[24:]))
	}
	return im
}

func qcow2Of(t *testing.T, raw []byte) []byte {
	t.Helper()
	qemu := testenv.QemuImg(t)
	dir := t.TempDir()
	rp, qp := filepath.Join(dir, "in.raw"), filepath.Join(dir, "out.qcow2")
	if err := os.WriteFile(rp, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(qemu, "convert", "-q", "-f", "raw", "-O", "qcow2", rp, qp).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	b, err := os.ReadFile(qp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b[:n/2] {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

// realOutcome is what a real apply did to one device.
type realOutcome struct {
	remodels   map[remodel.Action]int
	downloaded int64
	shape      devicetest.Shape
}

func applyReal(t *testing.T, root string, bp *materials.Blueprint) realOutcome {
	t.Helper()
	a, err := assembler.New(assembler.Options{Root: root, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	var last *materials.Floorplan
	res, err := a.Converge(context.Background(), bp, assembler.ConvergeOptions{OnSurvey: func(_ int, fp *materials.Floorplan) { last = fp }})
	if err != nil || !res.Converged {
		t.Fatalf("real converge: %v (converged %v)", err, res != nil && res.Converged)
	}
	out := realOutcome{remodels: map[remodel.Action]int{}, shape: devicetest.ShapeOf(last)}
	for _, r := range res.Reports {
		for _, x := range r.Results {
			if x.Status == remodel.StatusDone {
				out.remodels[x.Action]++
				if x.Action == remodel.ActionDownload {
					out.downloaded += x.Bytes
				}
			}
		}
	}
	return out
}

// TestPredictionsHold: a few generated devices are simulated, then the
// same configs are applied for real (loopback HTTP datastore, qemu-img):
// the predicted remodels, bytes downloaded and final disk must be what
// the real applies did, for the first converge and for a rollout.
func TestPredictionsHold(t *testing.T) {
	served := t.TempDir()
	raw := pattern(3<<20, 1)
	os1 := realImage(t, served, "os-v1.qcow2", materials.FormatQcow2, qcow2Of(t, pattern(2<<20, 2)))
	data := realImage(t, served, "data-v1.raw", materials.FormatRaw, raw)
	os2 := realImage(t, served, "os-v2.qcow2", materials.FormatQcow2, qcow2Of(t, pattern(2<<20, 3)))
	srv := httptest.NewServer(http.FileServer(http.Dir(served)))
	defer srv.Close()

	spec := fleet.Spec{Devices: 3, VolumesPerDevice: 6, Images: []fleet.Image{os1, data}, BlankShare: 0.3, Datastore: srv.URL, Seed: 11}
	f, err := fleet.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	f.Publish(os2)
	roots := make([]string, spec.Devices)
	for i := range roots {
		roots[i] = t.TempDir()
	}
	phases := []struct {
		name   string
		change fleet.Change
	}{{"initial", nil}, {"rollout", spec.UpdateImage(5, os1, os2, 1)}}
	for _, ph := range phases {
		var rep *fleet.Report
		if ph.change == nil {
			rep, err = f.Converge(context.Background(), fleet.Options{})
		} else {
			rep, err = f.Rollout(context.Background(), ph.change, fleet.Options{})
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < spec.Devices; i++ {
			got := applyReal(t, roots[i], f.Config(i))
			pred := rep.PerDevice[i]
			if !pred.Converged {
				t.Fatalf("%s device %d: the simulation did not converge: %+v", ph.name, i, pred)
			}
			if d := cmp.Diff(pred.Remodels, got.remodels); d != "" {
				t.Errorf("%s device %d: remodels predicted (-) and done (+):\n%s", ph.name, i, d)
			}
			if pred.BytesDownloaded != got.downloaded {
				t.Errorf("%s device %d: %d bytes downloaded predicted, %d for real", ph.name, i, pred.BytesDownloaded, got.downloaded)
			}
			fp, err := f.Device(i).Survey(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(devicetest.ShapeOf(fp), got.shape); d != "" {
				t.Errorf("%s device %d: disk predicted (-) and real (+):\n%s", ph.name, i, d)
			}
		}
	}
}
