// Command ocifetch fetches a content tree's layers from a registry with
// assembler/oci (resolve, walk, one verified streaming fetch per layer)
// into files named by digest; the fetch benchmark times it against curl.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/edgewright/edgewright/assembler/oci"
)

func main() {
	fqdn := flag.String("fqdn", "", "datastore fqdn, e.g. docker://127.0.0.1:5000")
	url := flag.String("url", "", "content tree url, repo:tag or repo@sha256:…")
	out := flag.String("out", "", "directory for the layer files")
	flag.Parse()
	if err := run(*fqdn, *url, *out); err != nil {
		fmt.Fprintln(os.Stderr, "ocifetch:", err)
		os.Exit(1)
	}
}

func run(fqdn, url, out string) error {
	if fqdn == "" || url == "" || out == "" {
		return fmt.Errorf("-fqdn, -url and -out are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := oci.New(fqdn, oci.Options{})
	if err != nil {
		return err
	}
	ref, err := c.ParseReference(url)
	if err != nil {
		return err
	}
	top, err := c.Resolve(ctx, ref)
	if err != nil {
		return err
	}
	tree, err := c.Walk(ctx, ref.Repository, top)
	if err != nil {
		return err
	}
	var total int64
	for _, l := range tree.Layers {
		f, err := os.OpenFile(filepath.Join(out, l.Digest.Encoded()), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = c.FetchBlob(ctx, ref.Repository, l, oci.FileSink{F: f}, oci.Resume{})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		total += l.Size
	}
	fmt.Printf("%s %d layers %d bytes verified\n", top.Digest, len(tree.Layers), total)
	return nil
}
