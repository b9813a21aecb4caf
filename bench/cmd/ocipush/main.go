// Command ocipush pushes a single-layer OCI image whose layer is an
// existing file (an uncompressed tar) to a registry over plain HTTP,
// streaming the file so a 1 GiB layer needs no memory; the fetch
// benchmark uses it to fill Debian's docker-registry. With -freeport it
// only prints a free loopback host:port.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	freeport := flag.Bool("freeport", false, "print a free 127.0.0.1:port and exit")
	host := flag.String("host", "", "registry host:port (plain HTTP)")
	repo := flag.String("repo", "bench/big", "repository")
	tag := flag.String("tag", "latest", "tag")
	layer := flag.String("layer", "", "uncompressed tar file to push as the only layer")
	flag.Parse()
	if *freeport {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		fmt.Println(l.Addr().String())
		l.Close()
		return
	}
	if *host == "" || *layer == "" {
		fail(fmt.Errorf("-host and -layer are required"))
	}
	if err := push(*host, *repo, *tag, *layer); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ocipush:", err)
	os.Exit(1)
}

func push(host, repo, tag, layerPath string) error {
	f, err := os.Open(layerPath)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	layerDigest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	base := "http://" + host + "/v2/" + repo
	if err := upload(base, layerDigest, f, size); err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
		"config": map[string]any{},
	})
	configDigest := fmt.Sprintf("sha256:%x", sha256.Sum256(config))
	if err := upload(base, configDigest, bytes.NewReader(config), int64(len(config))); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": size}},
	})
	req, _ := http.NewRequest(http.MethodPut, base+"/manifests/"+tag, bytes.NewReader(manifest))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("put manifest: %s", resp.Status)
	}
	fmt.Printf("%s %d\n", layerDigest, size)
	return nil
}

// upload is a monolithic blob upload: POST for a location, PUT the body.
func upload(base, digest string, body io.Reader, size int64) error {
	resp, err := http.Post(base+"/blobs/uploads/", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload: %s", resp.Status)
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, loc.String(), io.NopCloser(body))
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("put %s: %s %s", strings.SplitN(loc.String(), "?", 2)[0], resp.Status, msg)
	}
	return nil
}
