// Command ocipull does what the assembler's OCI crafts do for a container
// volume, without the plan and journal around them: resolve a tag, pull
// the tree into containerd (ctrstore: lease, ingest, verified commit, gc
// labels, image record) and unpack its layers from the content store into
// a container volume directory. The fetch benchmark times it against
// `ctr images pull`.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/edgewright/edgewright/assembler/ctrstore"
	"github.com/edgewright/edgewright/assembler/oci"
	"github.com/edgewright/edgewright/assembler/unpack"
)

func main() {
	socket := flag.String("containerd", "", "containerd socket")
	ns := flag.String("namespace", "edgewright", "containerd namespace")
	fqdn := flag.String("fqdn", "", "datastore fqdn, e.g. docker://127.0.0.1:5000")
	url := flag.String("url", "", "content tree url, repo:tag")
	out := flag.String("out", "", "container volume directory to create")
	del := flag.Bool("delete", false, "instead, delete the content tree (image record and lease; containerd's gc collects)")
	flag.Parse()
	var err error
	if *del {
		err = deleteTree(*socket, *ns, *url)
	} else {
		err = run(*socket, *ns, *fqdn, *url, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocipull:", err)
		os.Exit(1)
	}
}

func run(socket, ns, fqdn, url, out string) error {
	if socket == "" || fqdn == "" || url == "" || out == "" {
		return fmt.Errorf("-containerd, -fqdn, -url and -out are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	s, err := ctrstore.Open(ctx, ctrstore.Options{Socket: socket, Namespace: ns})
	if err != nil {
		return err
	}
	defer s.Close()
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
	t0 := time.Now()
	st, err := s.Pull(ctx, c, "bench", url, ref.Repository, top, nil)
	if err != nil {
		return err
	}
	var layers []unpack.Layer
	for _, l := range st.Layers {
		l := l
		layers = append(layers, func() (io.ReadCloser, error) { return s.Open(ctx, l) })
	}
	t1 := time.Now()
	us, err := unpack.Build(ctx, out, layers, unpack.Options{})
	if err != nil {
		return err
	}
	t2 := time.Now()
	fmt.Printf("%s fetched %d blobs (%d bytes) in %s, unpacked %d entries (%d bytes) in %s\n", top.Digest, st.Fetched, st.Bytes, t1.Sub(t0).Round(time.Millisecond), us.Entries, us.Bytes, t2.Sub(t1).Round(time.Millisecond))
	return nil
}

func deleteTree(socket, ns, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := ctrstore.Open(ctx, ctrstore.Options{Socket: socket, Namespace: ns})
	if err != nil {
		return err
	}
	defer s.Close()
	return s.DeleteContentTree(ctx, "bench", url)
}
