package oci

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
)

// TestDockerRegistry runs the client against Debian's docker-registry
// (distribution 2.8), including a cut and a resume through a loopback
// proxy that drops the first layer GET.
func TestDockerRegistry(t *testing.T) {
	ctx := context.Background()
	r := testenv.StartDockerRegistry(t)
	img := randomImage(t, 2<<20, 2)
	pushImage(t, r.Host, "edge/app:v1", img)
	layers, _ := img.Layers()
	ld := mustDigest(t, layers[1].Digest)

	var ranges rangeLog
	target, _ := url.Parse("http://" + r.Host)
	proxy := httptest.NewServer(cutOnce(ld, 700<<10, &ranges)(httputil.NewSingleHostReverseProxy(target)))
	defer proxy.Close()

	c, err := New("docker://"+hostOf(proxy.URL), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := c.ParseReference("edge/app:v1")
	top, err := c.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if top.Digest != mustDigest(t, img.Digest) {
		t.Fatalf("resolved %s", top.Digest)
	}
	tree, err := c.Walk(ctx, ref.Repository, top)
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Layers) != 2 || tree.Layers[1].Digest != ld {
		t.Fatalf("layers %+v", tree.Layers)
	}
	var sink bufSink
	next, err := c.FetchBlob(ctx, ref.Repository, tree.Layers[1], &sink, Resume{})
	if err == nil || next.Offset == 0 {
		t.Fatalf("cut fetch: err=%v offset=%d", err, next.Offset)
	}
	if _, err := c.FetchBlob(ctx, ref.Repository, tree.Layers[1], &sink, next); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if !bytes.Equal(sink.Bytes(), layerBytes(t, layers[1])) {
		t.Fatal("resumed layer differs")
	}
	if got := ranges.get(); len(got) != 2 || got[1] == "" {
		t.Fatalf("ranges %q", got)
	}
	// The registry itself answers a Range with 206.
	req, _ := http.NewRequest("GET", "http://"+r.Host+"/v2/edge/app/blobs/"+ld.String(), nil)
	req.Header.Set("Range", "bytes=10-")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("docker-registry answered %d to a Range", resp.StatusCode)
	}
}
