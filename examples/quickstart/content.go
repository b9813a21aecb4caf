package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// content is everything the quickstart generates and serves on loopback:
// two VM disk images behind an HTTP datastore and an OCI image in an
// in-process registry. Nothing is downloaded from outside.
type content struct {
	httpURL, registryHost string
	raw, qcow2            []byte
	rawSHA, qcow2SHA      string
	image                 string // repo:tag in the registry
	servers               []*httptest.Server
}

func (c *content) Close() {
	for _, s := range c.servers {
		s.Close()
	}
}

// diskImage is a guest-visible disk of size bytes: a recognisable pattern
// in the first quarter, zeros after (so volumes made from it are sparse).
func diskImage(size int, seed byte) []byte {
	b := make([]byte, size)
	for i := 0; i < size/4; i++ {
		b[i] = byte(i/4096) ^ seed
	}
	copy(b, fmt.Sprintf("edgewright quickstart disk %d\n", seed))
	return b
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func makeContent(work string) (*content, error) {
	qemu, err := exec.LookPath("qemu-img")
	if err != nil {
		return nil, fmt.Errorf("qemu-img is needed to make the qcow2 image (run ./scripts/setup): %w", err)
	}
	c := &content{raw: diskImage(16<<20, 1)}
	c.rawSHA = hexSHA(c.raw)
	src, dst := filepath.Join(work, "disk2.raw"), filepath.Join(work, "disk2.qcow2")
	if err := os.WriteFile(src, diskImage(8<<20, 2), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.Command(qemu, "convert", "-f", "raw", "-O", "qcow2", src, dst).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("qemu-img convert: %v: %s", err, out)
	}
	if c.qcow2, err = os.ReadFile(dst); err != nil {
		return nil, err
	}
	c.qcow2SHA = hexSHA(c.qcow2)

	files := map[string][]byte{"/images/disk.raw": c.raw, "/images/disk.qcow2": c.qcow2}
	ds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(b))
	}))
	c.servers = append(c.servers, ds)
	c.httpURL = ds.URL

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	c.servers = append(c.servers, reg)
	c.registryHost = strings.TrimPrefix(reg.URL, "http://")
	c.image = "quickstart/app:v1"
	if err := pushImage(c.registryHost + "/" + c.image); err != nil {
		c.Close()
		return nil, fmt.Errorf("push the OCI image: %w", err)
	}
	return c, nil
}

type entry struct {
	name, body string
	dir        bool
}

func layer(entries ...entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}
		if e.dir {
			h.Mode, h.Size, h.Typeflag = 0o755, 0, tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

// pushImage pushes a two-layer linux/amd64 image: the second layer
// removes a file of the first (a whiteout), as real images do.
func pushImage(ref string) error {
	l1, err := layer(entry{name: "etc/", dir: true}, entry{name: "etc/motd", body: "hello from edgewright\n"},
		entry{name: "app/", dir: true}, entry{name: "app/run.sh", body: "#!/bin/sh\necho running\n"},
		entry{name: "app/old.conf", body: "stale=true\n"})
	if err != nil {
		return err
	}
	l2, err := layer(entry{name: "app/", dir: true}, entry{name: "app/.wh.old.conf"}, entry{name: "app/new.conf", body: "fresh=true\n"})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, l1, l2)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/app/run.sh"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	return remote.Write(r, img)
}
