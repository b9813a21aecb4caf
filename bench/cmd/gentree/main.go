// Command gentree writes a synthetic device root for the survey benchmark:
// n volume files under persist/vault/volumes, alternating sparse raw files
// and qcow2 files that carry a real qemu-img header (copied from a
// template) over a sparse body of the template's size.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/edgewright/edgewright/layout"
)

func main() {
	dir := flag.String("dir", "", "root to create (must not exist)")
	n := flag.Int("n", 10000, "number of volume files")
	template := flag.String("qcow2", "", "a qcow2 file made by qemu-img, whose header is copied")
	flag.Parse()
	if err := run(*dir, *n, *template); err != nil {
		fmt.Fprintln(os.Stderr, "gentree:", err)
		os.Exit(1)
	}
}

func run(dir string, n int, template string) error {
	if dir == "" || template == "" || n <= 0 {
		return fmt.Errorf("-dir, -qcow2 and a positive -n are required")
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%s exists", dir)
	}
	hdr, size, err := readTemplate(template)
	if err != nil {
		return err
	}
	vols := layout.VolumesDir(dir, false)
	if err := os.MkdirAll(vols, 0o755); err != nil {
		return err
	}
	block := make([]byte, 4096)
	for i := range block {
		block[i] = byte(i * 7)
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", i, i%0xffff, i%0xfff, (i/7)%0xfff, i*2654435761%(1<<48))
		gen := 1 + i%3
		var err error
		switch i % 4 {
		case 0, 2: // qcow2: real header, sparse body
			err = writeFile(filepath.Join(vols, fmt.Sprintf("%s#%d.qcow2", id, gen)), hdr, size)
		case 1: // raw with one block written
			err = writeFile(filepath.Join(vols, fmt.Sprintf("%s#%d.raw", id, gen)), block, 64<<20)
		case 3: // raw, fully sparse
			err = writeFile(filepath.Join(vols, fmt.Sprintf("%s#%d.raw", id, gen)), nil, 1<<30)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func readTemplate(path string) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	// The first 4 KiB hold the header and its extensions; the tables
	// beyond are left sparse, which only a real qemu would notice.
	hdr := make([]byte, 4096)
	m, err := io.ReadFull(f, hdr)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, 0, err
	}
	return hdr[:m], fi.Size(), nil
}

func writeFile(path string, data []byte, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
