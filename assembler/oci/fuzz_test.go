package oci

import (
	"strings"
	"testing"
)

// FuzzChildren feeds hostile manifest and index blobs to the parser: it
// must never panic, and what it accepts is bounded and well formed.
func FuzzChildren(f *testing.F) {
	d := "sha256:" + strings.Repeat("a", 64)
	f.Add(MediaTypeOCIManifest, []byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"`+d+`","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"`+d+`","size":3}]}`))
	f.Add(MediaTypeOCIIndex, []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+d+`","size":5,"platform":{"os":"linux","architecture":"amd64"}}]}`))
	f.Add("", []byte(`{"manifests":[]}`))
	f.Add(MediaTypeDockerManifest, []byte(`{"layers":[{"digest":"x","size":-1}]}`))
	f.Fuzz(func(t *testing.T, mt string, data []byte) {
		kids, err := Children(mt, data)
		if err != nil {
			return
		}
		if len(kids) > MaxChildren+1 {
			t.Fatalf("%d children accepted", len(kids))
		}
		for _, k := range kids {
			if k.Size < 0 || k.Digest.Validate() != nil {
				t.Fatalf("bad child accepted: %+v", k)
			}
		}
		_, _ = ChoosePlatform(kids, DefaultPlatform)
	})
}
