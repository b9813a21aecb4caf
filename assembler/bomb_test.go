package assembler_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/unpack"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
)

// bombLayer is a gzip layer of a few MiB (incompressible noise) that
// expands to the noise plus zeros bytes of zeros.
func bombLayer(t *testing.T, noise, zeros int64) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "noise", Mode: 0o644, Size: noise, Typeflag: tar.TypeReg})
	if _, err := io.CopyN(tw, rand.Reader, noise); err != nil {
		t.Fatal(err)
	}
	tw.WriteHeader(&tar.Header{Name: "zeros", Mode: 0o644, Size: zeros, Typeflag: tar.TypeReg})
	if _, err := io.CopyN(tw, zeroReader{}, zeros); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return static.NewLayer(buf.Bytes(), types.OCILayer)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// tmpsUnder lists every `*.tmp` left under root.
func tmpsUnder(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(d.Name(), ".tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestContainerGzipBombThroughAssembler: a container volume (maxsizebytes
// 8 MiB) from a registry image whose one layer is a gzip bomb (a few MiB
// expanding to 66 MiB). The create fails at once with a *unpack.LimitError
// naming the volume, the layer's digest and the bound; no `.tmp` is left;
// a --cleanup converge has nothing stuck; and a new generation with a
// larger maxsizebytes converges (the "held forever").
func TestContainerGzipBombThroughAssembler(t *testing.T) {
	ctx := context.Background()
	const bound = 8 << 20
	layer := bombLayer(t, 2<<20, 64<<20)
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	img, _ = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	layerDigest, _ := layer.Digest()
	compressed, _ := layer.Size()
	t.Logf("bomb layer %s: %d bytes compressed, %d unpacked", layerDigest, compressed, (2<<20)+(64<<20))

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, _ := name.ParseReference(host+"/edge/bomb:v1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	converge := func(bp *materials.Blueprint, fo foreman.Options) (*assembler.ConvergeResult, error) {
		t.Helper()
		var crafts assembler.Crafts
		(&assembler.OCICrafts{}).Install(&crafts) // blobs go to the default blob directory
		a, err := assembler.New(assembler.Options{Root: root, Crafts: crafts})
		if err != nil {
			t.Fatal(err)
		}
		return a.Converge(ctx, bp, assembler.ConvergeOptions{Foreman: fo})
	}
	bp := ociBlueprint(host, "edge/bomb:v1")
	bp.Volumes[0].MaxSizeBytes = bound
	volKey := bp.Volumes[0].Key().String()

	for _, fo := range []foreman.Options{{}, {CleanUp: true}} {
		res, err := converge(bp, fo)
		if err == nil || res == nil {
			t.Fatalf("cleanup=%v: converge of a gzip bomb: err %v, want a failure", fo.CleanUp, err)
		}
		var lim *unpack.LimitError
		for _, f := range res.Failed {
			if errors.As(f.Err, &lim) {
				if f.Attempts != 1 {
					t.Errorf("cleanup=%v: the bomb was unpacked %d times, want 1 (terminal)", fo.CleanUp, f.Attempts)
				}
				break
			}
		}
		if lim == nil {
			t.Fatalf("cleanup=%v: failed %+v (err %v), want a create failed with *unpack.LimitError", fo.CleanUp, res.Failed, err)
		}
		if lim.Volume != volKey || lim.Digest != layerDigest.String() || lim.Bound != bound || lim.What != "bytes" || lim.Entry != "zeros" {
			t.Fatalf("cleanup=%v: %+v, want volume %s, layer %s, bound %d, entry zeros", fo.CleanUp, lim, volKey, layerDigest, bound)
		}
		if msg := lim.Error(); !strings.Contains(msg, volKey) || !strings.Contains(msg, layerDigest.String()) || !strings.Contains(msg, "8388608") {
			t.Fatalf("cleanup=%v: error %q does not name volume, layer digest and bound", fo.CleanUp, msg)
		}
		if tmps := tmpsUnder(t, root); len(tmps) > 0 {
			t.Fatalf("cleanup=%v: left behind: %v", fo.CleanUp, tmps)
		}
		if res.Held() {
			t.Fatalf("cleanup=%v: held remodels after the bomb: %+v", fo.CleanUp, res.Plan.Held)
		}
	}

	// The controller raises maxsizebytes in a new generation: it converges.
	bp.Volumes[0].Generation = 2
	bp.Volumes[0].MaxSizeBytes = 128 << 20
	res, err := converge(bp, foreman.Options{CleanUp: true})
	if err != nil {
		for _, f := range res.Failed {
			t.Logf("failed %s: %s", f.RemodelID, f.Error)
		}
		t.Fatalf("converge with maxsizebytes raised: %v", err)
	}
	if !res.Converged || res.Held() {
		t.Fatalf("converged %v, held %v after raising maxsizebytes", res.Converged, res.Held())
	}
	vol := filepath.Join(root, "persist", "vault", "volumes", bp.Volumes[0].ID+"#2.container")
	if fi, err := os.Stat(filepath.Join(vol, "zeros")); err != nil || fi.Size() != 64<<20 {
		t.Fatalf("zeros in the volume: %v, %v", fi, err)
	}
	if tmps := tmpsUnder(t, root); len(tmps) > 0 {
		t.Fatalf("left behind: %v", tmps)
	}
}
