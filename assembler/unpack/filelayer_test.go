package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExistingTestsFromFiles runs the unpack and build tests again with
// every layer served from a file: uncompressed ones go through fileLayer
// and the kernel copy, compressed ones through Decompress as before.
func TestExistingTestsFromFiles(t *testing.T) {
	fileLayers = true
	defer func() { fileLayers = false }()
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"TarSlipRefused", TestTarSlipRefused},
		{"Whiteouts", TestWhiteouts},
		{"LinksModesOwnersTimes", TestLinksModesOwnersTimes},
		{"NoChown", TestNoChown},
		{"ReplaceAcrossLayers", TestReplaceAcrossLayers},
		{"CompressionDetected", TestCompressionDetected},
		{"ContextCancelled", TestContextCancelled},
		{"Xattrs", TestXattrs},
		{"BuildRenamesIntoPlace", TestBuildRenamesIntoPlace},
		{"BuildSyncsFewOrMany", TestBuildSyncsFewOrMany},
	} {
		t.Run(tc.name, tc.f)
	}
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, ^seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// kernelLayer is an uncompressed layer whose regular files sit at offsets
// of every kind: a 5000-byte file puts the next entry's data off any
// 4 KiB boundary, an empty file, a file larger than writebackEvery (so
// several copy_file_range calls and writebacks), a hardlink to it, a file
// after it, PAX records, and a whiteout of a file an earlier entry made.
func kernelLayer(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body []byte) {
		t.Helper()
		h.Size = int64(len(body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.ModTime = epoch
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "d/odd", Typeflag: tar.TypeReg}, randomBytes(1, 5000))
	add(&tar.Header{Name: "d/empty", Typeflag: tar.TypeReg}, nil)
	add(&tar.Header{Name: "d/unaligned", Typeflag: tar.TypeReg, Mode: 0o755}, randomBytes(2, 12345))
	add(&tar.Header{Name: "d/big", Typeflag: tar.TypeReg}, randomBytes(3, 2*writebackEvery+4097))
	add(&tar.Header{Name: "d/big-link", Typeflag: tar.TypeLink, Linkname: "d/big"}, nil)
	add(&tar.Header{Name: "d/sym", Typeflag: tar.TypeSymlink, Linkname: "odd"}, nil)
	add(&tar.Header{Name: "d/pax", Typeflag: tar.TypeReg, Format: tar.FormatPAX,
		PAXRecords: map[string]string{"comment": strings.Repeat("a long record ", 100)}}, randomBytes(4, 777))
	add(&tar.Header{Name: "d/gone", Typeflag: tar.TypeReg}, []byte("whited out below"))
	add(&tar.Header{Name: "d/.wh.gone", Typeflag: tar.TypeReg}, nil)
	add(&tar.Header{Name: "last", Typeflag: tar.TypeReg}, randomBytes(5, 1))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// digestTree lists root as tree does, with sha256 for file contents,
// modes, and link counts.
func digestTree(t *testing.T, root string) string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := rel + " " + fi.Mode().String()
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			line += " " + hex.EncodeToString(sum[:]) + " nlink=" + strconv.FormatUint(uint64(fi.Sys().(*syscall.Stat_t).Nlink), 10) + " size=" + strconv.FormatInt(fi.Size(), 10)
		}
		if !fi.IsDir() {
			line += " mtime=" + fi.ModTime().UTC().String()
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

// countCopies counts copy_file_range calls (and the bytes they copied)
// while a test runs, failing them as fail says (until the test ends or
// the next countCopies).
func countCopies(t *testing.T, fail func(call int) error) (calls, copied *int64) {
	t.Helper()
	calls, copied = new(int64), new(int64)
	old := copyFileRange
	copyFileRange = func(rfd int, roff *int64, wfd int, woff *int64, n int, flags int) (int, error) {
		*calls++
		if fail != nil {
			if err := fail(int(*calls)); err != nil {
				return 0, err
			}
		}
		m, err := unix.CopyFileRange(rfd, roff, wfd, woff, n, flags)
		if m > 0 {
			*copied += int64(m)
		}
		return m, err
	}
	t.Cleanup(func() { copyFileRange = old })
	return calls, copied
}

// unpackStream unpacks l read as a stream (the reading path) and returns
// the tree's digest.
func unpackStream(t *testing.T, l []byte) string {
	t.Helper()
	s := newSandbox(t)
	if _, err := Apply(context.Background(), s.root, bytes.NewReader(l), Options{}); err != nil {
		t.Fatal(err)
	}
	return digestTree(t, s.root)
}

// unpackFile unpacks l from a file whose first skip bytes are something
// else (the layer starts at the file's offset), and returns the tree's
// digest and the stats.
func unpackFile(t *testing.T, l []byte, skip int) (string, Stats, error) {
	t.Helper()
	f, err := layerFile(append(bytes.Repeat([]byte{0x1f}, skip), l...))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(int64(skip), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	s := newSandbox(t)
	st, err := Apply(context.Background(), s.root, f, Options{})
	s.checkOutside(t)
	return digestTree(t, s.root), st, err
}

func TestKernelCopyMatchesReading(t *testing.T) {
	l := kernelLayer(t)
	want := unpackStream(t, l)
	for _, skip := range []int{0, 333} {
		calls, copied := countCopies(t, nil)
		got, st, err := unpackFile(t, l, skip)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("skip %d: kernel-copied tree differs\n got:\n%s\nwant:\n%s", skip, got, want)
		}
		// Every non-empty regular file's bytes went through the kernel.
		wantBytes := int64(5000 + 12345 + 2*writebackEvery + 4097 + 777 + len("whited out below") + 1)
		if *copied != wantBytes || st.Bytes != wantBytes {
			t.Fatalf("skip %d: kernel copied %d bytes in %d calls, stats %d; want %d", skip, *copied, *calls, st.Bytes, wantBytes)
		}
		// One call per file, three for the big one (writeback-sized steps).
		if *calls != 8 {
			t.Fatalf("skip %d: %d copy_file_range calls, want 8", skip, *calls)
		}
	}
	if !strings.Contains(want, "d/empty -rw-r--r-- e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") {
		t.Fatalf("the empty file is missing or not empty:\n%s", want)
	}
}

// TestKernelCopyRefused: where the kernel refuses at once (EXDEV, say),
// the layer is read as before, and copy_file_range is not tried again for
// its other files; where it stops part way, the rest is read.
func TestKernelCopyRefused(t *testing.T) {
	l := kernelLayer(t)
	want := unpackStream(t, l)
	for _, errno := range []error{unix.EXDEV, unix.EINVAL, unix.ENOSYS} {
		calls, _ := countCopies(t, func(int) error { return errno })
		got, _, err := unpackFile(t, l, 0)
		if err != nil {
			t.Fatalf("%v: %v", errno, err)
		}
		if got != want {
			t.Fatalf("%v: tree differs after falling back\n got:\n%s\nwant:\n%s", errno, got, want)
		}
		if *calls != 1 {
			t.Fatalf("%v: copy_file_range called %d times, want once", errno, *calls)
		}
	}
	// The big file's second call fails: its first 8 MiB came through the
	// kernel, the rest is read.
	calls, copied := countCopies(t, func(call int) error {
		if call == 4 { // d/odd, d/unaligned, d/big's first step, then this
			return unix.EINVAL
		}
		return nil
	})
	got, _, err := unpackFile(t, l, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("part way: tree differs\n got:\n%s\nwant:\n%s", got, want)
	}
	if *calls != 4 || *copied != 5000+12345+writebackEvery {
		t.Fatalf("part way: %d calls copied %d bytes", *calls, *copied)
	}
}

// TestKernelCopyTruncatedLayer: a layer file that ends inside a file's data
// is an error, not a short file passed off as whole.
func TestKernelCopyTruncatedLayer(t *testing.T) {
	l := kernelLayer(t)
	cut := bytes.Index(l, randomBytes(3, 64)) + writebackEvery + 100 // inside d/big
	for _, errno := range []error{nil, unix.EXDEV} {
		countCopies(t, func(int) error { return errno })
		_, _, err := unpackFile(t, l[:cut], 0)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncated layer (copy error %v): %v", errno, err)
		}
	}
}
