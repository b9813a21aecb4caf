package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// serveOptions configure --serve.
type serveOptions struct {
	// dir receives config.json, config-next.json and is where the
	// printed commands put the root (default: a fresh temporary directory).
	dir string
	// ready, when set, is called once the datastores answer and the
	// configs are written (tests wait on it).
	ready func(dir string)
}

// serve generates the quickstart's content, serves it on loopback and
// writes two controller configs that point at those datastores, so that
// `wright plan` and `wright apply` can be run by hand without the
// internet. It serves until ctx is done (Ctrl-C): the configs name
// loopback ports that live only as long as this process.
func serve(ctx context.Context, o serveOptions, out io.Writer) error {
	work, err := os.MkdirTemp("", "edgewright-quickstart-content-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "edgewright-quickstart-serve-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--dir %s: %w", dir, err)
	}
	c, err := makeContent(work)
	if err != nil {
		return err
	}
	defer c.Close()
	first, next := filepath.Join(dir, "config.json"), filepath.Join(dir, "config-next.json")
	if err := writeFileAtomic(first, config(c, 1, true)); err != nil {
		return err
	}
	if err := writeFileAtomic(next, config(c, 2, false)); err != nil {
		return err
	}
	root := filepath.Join(dir, "root")
	fmt.Fprintf(out, `edgewright quickstart: serving on loopback until Ctrl-C
  HTTP datastore %s/images (disk.raw %d MiB, disk.qcow2 %d KiB)
  OCI registry   %s (%s)

configs (they name these ports, so they work only while this runs):
  %s       two VM volumes, a container volume and a blank one
  %s  the data volume's generation bumped, the blank one dropped

in another shell, from the repository root:
  go run ./examples/wright plan   --config %s --root %s
  go run ./examples/wright apply  --config %s --root %s
  go run ./examples/wright status --root %s
  go run ./examples/wright apply  --config %s --root %s
`, c.httpURL, len(c.raw)>>20, len(c.qcow2)>>10, c.registryHost, c.image,
		first, next, first, root, first, root, root, next, root)
	if o.ready != nil {
		o.ready(dir)
	}
	<-ctx.Done()
	fmt.Fprintln(out, "edgewright quickstart: stopped serving")
	return nil
}

// writeFileAtomic writes name whole or not at all: a reader never sees a
// half-written config.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
