package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/edgewright/edgewright/internal/testenv"
)

// ent is one tar entry in a test layer.
type ent struct {
	name, link, body string
	typ              byte
	mode             int64
	uid, gid         int
	mtime            time.Time
}

func file(name, body string) ent { return ent{name: name, body: body, typ: tar.TypeReg, mode: 0o644} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) ent {
	return ent{name: name, link: to, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, to string) ent { return ent{name: name, link: to, typ: tar.TypeLink} }

var epoch = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

func layer(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		mt := e.mtime
		if mt.IsZero() {
			mt = epoch
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: mt, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func layers(bs ...[]byte) []Layer {
	var out []Layer
	for _, b := range bs {
		b := b
		out = append(out, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	}
	return out
}

// bothResolvers runs f with openat2 and with the user-space fallback.
func bothResolvers(t *testing.T, f func(t *testing.T)) {
	for _, fb := range []bool{false, true} {
		name := "openat2"
		if fb {
			name = "fallback"
		}
		t.Run(name, func(t *testing.T) {
			old := forceFallback
			forceFallback = fb
			defer func() { forceFallback = old }()
			f(t)
		})
	}
}

// sandbox is a root with a sentinel directory beside it.
type sandbox struct {
	top, root, outside string
}

func newSandbox(t *testing.T) sandbox {
	t.Helper()
	top := t.TempDir()
	s := sandbox{top: top, root: filepath.Join(top, "vol.container.tmp"), outside: filepath.Join(top, "outside")}
	for _, d := range []string{s.root, s.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.outside, "secret"), []byte("untouched"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkOutside fails if anything outside the root changed.
func (s sandbox) checkOutside(t *testing.T) {
	t.Helper()
	var got []string
	filepath.Walk(s.top, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p == s.root {
			return filepath.SkipDir
		}
		got = append(got, strings.TrimPrefix(p, s.top))
		return nil
	})
	want := []string{"", "/outside", "/outside/secret"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("outside the root: %q, want %q", got, want)
	}
	b, err := os.ReadFile(filepath.Join(s.outside, "secret"))
	if err != nil || string(b) != "untouched" {
		t.Fatalf("sentinel secret: %q, %v", b, err)
	}
	if fi, _ := os.Stat(filepath.Join(s.outside, "secret")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("sentinel mode changed: %v", fi.Mode())
	}
}

func TestTarSlipRefused(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		tests := []struct {
			name      string
			ents      func(s sandbox) []ent
			wantEntry string
		}{
			{"dotdot", func(s sandbox) []ent { return []ent{file("../outside/evil", "x")} }, "../outside/evil"},
			{"dotdot-inside", func(s sandbox) []ent { return []ent{file("a/../../outside/evil", "x")} }, "a/../../outside/evil"},
			{"absolute", func(s sandbox) []ent { return []ent{file(s.outside+"/evil", "x")} }, "$outside/evil"},
			{"symlink-write-through", func(s sandbox) []ent {
				return []ent{symlink("a", s.outside), file("a/x", "evil")}
			}, "a/x"},
			{"symlink-write-through-overwrite", func(s sandbox) []ent {
				return []ent{symlink("a", s.outside), file("a/secret", "evil")}
			}, "a/secret"},
			{"symlink-dir-then-mkdir", func(s sandbox) []ent {
				return []ent{symlink("a", s.outside), dir("a/sub/")}
			}, "a/sub/"},
			{"symlink-relative-escape", func(s sandbox) []ent {
				return []ent{dir("d/"), symlink("d/up", "../../outside")}
			}, "d/up"},
			{"symlink-chain", func(s sandbox) []ent {
				// Each link stays inside on its own; together they climb out.
				return []ent{dir("a/"), symlink("a/b", ".."), symlink("c", "a/b/.."), file("c/outside/evil", "x")}
			}, "c/outside/evil"},
			{"symlink-chain-absolute", func(s sandbox) []ent {
				return []ent{symlink("l1", "l2"), symlink("l2", s.outside), file("l1/evil", "x")}
			}, "l1/evil"},
			{"hardlink-dotdot", func(s sandbox) []ent { return []ent{hardlink("h", "../outside/secret")} }, "h"},
			{"hardlink-absolute", func(s sandbox) []ent { return []ent{hardlink("h", s.outside+"/secret")} }, "h"},
			{"hardlink-through-symlink", func(s sandbox) []ent {
				return []ent{symlink("s", s.outside), hardlink("h", "s/secret")}
			}, "h"},
			{"whiteout-through-symlink", func(s sandbox) []ent {
				return []ent{symlink("s", s.outside), file("s/.wh.secret", "")}
			}, "s/.wh.secret"},
			{"opaque-through-symlink", func(s sandbox) []ent {
				return []ent{symlink("s", s.outside), file("s/.wh..wh..opq", "")}
			}, "s/.wh..wh..opq"},
			{"whiteout-dotdot", func(s sandbox) []ent { return []ent{file("../outside/.wh.secret", "")} }, "../outside/.wh.secret"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newSandbox(t)
				_, err := Unpack(context.Background(), s.root, layers(layer(t, tt.ents(s)...)), Options{})
				var esc *EscapeError
				if !errors.As(err, &esc) {
					t.Fatalf("err = %v, want *EscapeError", err)
				}
				want := strings.ReplaceAll(tt.wantEntry, "$outside", s.outside)
				if esc.Entry != want || !strings.Contains(err.Error(), want) {
					t.Fatalf("refused entry %q (%v), want %q", esc.Entry, err, want)
				}
				s.checkOutside(t)
			})
		}
	})
}

func TestWhiteouts(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		s := newSandbox(t)
		l1 := layer(t,
			dir("etc/"), file("etc/a", "a"), file("etc/b", "b"), file("etc/keep", "keep"),
			dir("opq/"), file("opq/old1", "1"), dir("opq/sub/"), file("opq/sub/old2", "2"),
			dir("gone/"), dir("gone/deep/"), file("gone/deep/f", "f"),
		)
		l2 := layer(t,
			file("etc/.wh.a", ""),
			dir("opq/"), file("opq/new", "n"), file("opq/.wh..wh..opq", ""), file("opq/new2", "n2"),
			file(".wh.gone", ""),
			file("nothere/.wh.x", ""), // whiteout in a directory no layer made
		)
		st, err := Unpack(context.Background(), s.root, layers(gz(t, l1), l2), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Whiteouts != 4 {
			t.Fatalf("whiteouts %d", st.Whiteouts)
		}
		want := []string{"etc/", "etc/b=b", "etc/keep=keep", "opq/", "opq/new2=n2", "opq/new=n"}
		if got := tree(t, s.root); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("tree\n got %q\nwant %q", got, want)
		}
		s.checkOutside(t)
	})
}

// tree lists root as "dir/", "file=content", "link->target", sorted.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case rel == ".":
		case info.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out = append(out, rel+"->"+l)
		case info.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+"="+string(b))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestLinksModesOwnersTimes(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		s := newSandbox(t)
		mt := time.Date(2010, 1, 2, 3, 4, 5, 0, time.UTC)
		dmt := time.Date(2012, 6, 7, 8, 9, 10, 0, time.UTC)
		exe := file("usr/bin/tool", "#!/bin/sh\n")
		exe.mode, exe.uid, exe.gid, exe.mtime = 0o4751, 1234, 5678, mt
		sgid := dir("srv/shared/")
		sgid.mode, sgid.mtime = 0o2775, dmt
		priv := dir("root/")
		priv.mode = 0o700
		lnk := symlink("usr/bin/alias", "tool")
		lnk.uid, lnk.gid = 42, 43
		l := layer(t,
			dir("usr/"), dir("usr/bin/"), exe, hardlink("usr/bin/tool2", "usr/bin/tool"),
			lnk, symlink("bin", "usr/bin"), symlink("sh", "/bin/busybox"),
			sgid, file("srv/shared/inside", "written after the dir"), priv,
			file("implied/parents/f", "p"),
			file("bin/via-link", "through an inside symlink"),
			ent{name: "run/fifo", typ: tar.TypeFifo, mode: 0o620},
		)
		if _, err := Unpack(context.Background(), s.root, layers(zst(t, l)), Options{}); err != nil {
			t.Fatal(err)
		}
		p := func(rel string) string { return filepath.Join(s.root, rel) }
		var a, b syscall.Stat_t
		syscall.Lstat(p("usr/bin/tool"), &a)
		syscall.Lstat(p("usr/bin/tool2"), &b)
		if a.Ino != b.Ino || a.Nlink != 2 {
			t.Fatalf("hardlink: inodes %d/%d, nlink %d", a.Ino, b.Ino, a.Nlink)
		}
		fi, _ := os.Lstat(p("usr/bin/tool"))
		wantMode := os.FileMode(0o751) // setuid cleared: no KeepPrivileges
		if fi.Mode() != wantMode {
			t.Fatalf("tool mode %v, want %v", fi.Mode(), wantMode)
		}
		if !fi.ModTime().Equal(mt) {
			t.Fatalf("tool mtime %v, want %v", fi.ModTime(), mt)
		}
		if fi, _ := os.Lstat(p("srv/shared")); fi.Mode() != os.ModeDir|os.ModeSetgid|0o775 || !fi.ModTime().Equal(dmt) {
			t.Fatalf("srv/shared: %v %v", fi.Mode(), fi.ModTime())
		}
		if fi, _ := os.Lstat(p("root")); fi.Mode() != os.ModeDir|0o700 {
			t.Fatalf("root/: %v", fi.Mode())
		}
		if fi, _ := os.Lstat(p("implied/parents")); fi.Mode() != os.ModeDir|0o755 {
			t.Fatalf("implied parent: %v", fi.Mode())
		}
		for link, want := range map[string]string{"usr/bin/alias": "tool", "bin": "usr/bin", "sh": "/bin/busybox"} {
			if got, err := os.Readlink(p(link)); err != nil || got != want {
				t.Fatalf("%s -> %q (%v), want %q", link, got, err, want)
			}
		}
		if fi, err := os.Lstat(p("run/fifo")); err != nil || fi.Mode() != os.ModeNamedPipe|0o620 {
			t.Fatalf("fifo: %v, %v", fi, err)
		}
		if b, _ := os.ReadFile(p("usr/bin/via-link")); string(b) != "through an inside symlink" {
			t.Fatalf("write through an inside symlink: %q", b)
		}
		if os.Geteuid() == 0 {
			if a.Uid != 1234 || a.Gid != 5678 {
				t.Fatalf("tool owner %d:%d", a.Uid, a.Gid)
			}
			var l syscall.Stat_t
			syscall.Lstat(p("usr/bin/alias"), &l)
			if l.Uid != 42 || l.Gid != 43 {
				t.Fatalf("symlink owner %d:%d (lchown)", l.Uid, l.Gid)
			}
		}
		s.checkOutside(t)
	})
}

func TestNoChown(t *testing.T) {
	s := newSandbox(t)
	f := file("f", "x")
	f.uid, f.gid = 4321, 4321
	if _, err := Unpack(context.Background(), s.root, layers(layer(t, f)), Options{NoChown: true}); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	syscall.Lstat(filepath.Join(s.root, "f"), &st)
	if int(st.Uid) != os.Geteuid() {
		t.Fatalf("NoChown: owner %d", st.Uid)
	}
}

func TestReplaceAcrossLayers(t *testing.T) {
	s := newSandbox(t)
	l1 := layer(t, file("x", "file"), dir("y/"), file("y/z", "z"), symlink("s", "x"))
	l2 := layer(t, dir("x/"), file("x/in", "in"), file("y", "now a file"), file("s", "was a link"))
	if _, err := Unpack(context.Background(), s.root, layers(l1, l2), Options{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"s=was a link", "x/", "x/in=in", "y=now a file"}
	if got := tree(t, s.root); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("tree %q, want %q", got, want)
	}
}

func TestCompressionDetected(t *testing.T) {
	l := layer(t, dir("d/"), file("d/f", strings.Repeat("data", 1000)))
	var trees []string
	for name, b := range map[string][]byte{"plain": l, "gzip": gz(t, l), "zstd": zst(t, l)} {
		s := newSandbox(t)
		if _, err := Unpack(context.Background(), s.root, layers(b), Options{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		trees = append(trees, strings.Join(tree(t, s.root), " "))
	}
	if trees[0] != trees[1] || trees[1] != trees[2] || !strings.Contains(trees[0], "d/f=data") {
		t.Fatalf("trees differ: %q", trees)
	}
	s := newSandbox(t)
	_, err := Unpack(context.Background(), s.root, layers([]byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2}), Options{})
	if err == nil || !strings.Contains(err.Error(), "xz") {
		t.Fatalf("xz: %v", err)
	}
}

func TestContextCancelled(t *testing.T) {
	s := newSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Unpack(ctx, s.root, layers(layer(t, file("f", "x"))), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestXattrs(t *testing.T) {
	s := newSandbox(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o755, Size: 1, Typeflag: tar.TypeReg, Format: tar.FormatPAX,
		PAXRecords: map[string]string{"SCHILY.xattr.user.edgewright": "kept"}})
	tw.Write([]byte("x"))
	tw.Close()
	if _, err := Unpack(context.Background(), s.root, layers(buf.Bytes()), Options{}); err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 64)
	n, err := syscall.Getxattr(filepath.Join(s.root, "f"), "user.edgewright", v)
	if err == syscall.ENOTSUP {
		t.Skip("the temp filesystem has no user xattrs")
	}
	if err != nil || string(v[:n]) != "kept" {
		t.Fatalf("xattr %q, %v", v[:n], err)
	}
}

// TestPrivilegesDropped: as root, a block and a char device, a setuid
// file and a security.capability xattr come out of a layer only with
// KeepPrivileges.
func TestPrivilegesDropped(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Need(t, "not root: device nodes and capabilities need root")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "suid", Mode: 0o4755, Size: 1, Typeflag: tar.TypeReg, Format: tar.FormatPAX,
		PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}})
	tw.Write([]byte("x"))
	tw.WriteHeader(&tar.Header{Name: "blk", Mode: 0o666, Typeflag: tar.TypeBlock, Devmajor: 7, Devminor: 0})
	tw.WriteHeader(&tar.Header{Name: "chr", Mode: 0o666, Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3})
	tw.Close()
	for _, keep := range []bool{false, true} {
		s := newSandbox(t)
		if _, err := Unpack(context.Background(), s.root, layers(buf.Bytes()), Options{KeepPrivileges: keep}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(filepath.Join(s.root, "suid"))
		if err != nil || (fi.Mode()&os.ModeSetuid != 0) != keep {
			t.Fatalf("keep=%v: suid mode %v, %v", keep, fi.Mode(), err)
		}
		v := make([]byte, 64)
		_, xerr := syscall.Getxattr(filepath.Join(s.root, "suid"), "security.capability", v)
		if (xerr == nil) != keep {
			t.Fatalf("keep=%v: security.capability: %v", keep, xerr)
		}
		for _, d := range []string{"blk", "chr"} {
			if _, err := os.Lstat(filepath.Join(s.root, d)); (err == nil) != keep {
				t.Fatalf("keep=%v: device %s: %v", keep, d, err)
			}
		}
	}
}

// TestHardlinkToSkippedDevice: a device skipped for want of KeepPrivileges
// takes the hardlinks to it (in its layer or a later one, and links to
// those links) with it, instead of failing the unpack with ENOENT; a
// later layer that makes the path a real file makes it linkable again.
func TestHardlinkToSkippedDevice(t *testing.T) {
	dev := ent{name: "dev/kmem", typ: tar.TypeChar, mode: 0o666}
	l1 := layer(t, dir("dev"), dev, hardlink("dev/kmem2", "dev/kmem"), hardlink("dev/kmem3", "dev/kmem2"))
	l2 := layer(t, hardlink("dev/kmem4", "dev/kmem"), file("dev/kmem", "now a file"), hardlink("dev/kmem5", "dev/kmem"))
	s := newSandbox(t)
	if _, err := Unpack(context.Background(), s.root, layers(l1, l2), Options{}); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	for _, name := range []string{"dev/kmem2", "dev/kmem3", "dev/kmem4"} {
		if _, err := os.Lstat(filepath.Join(s.root, name)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: %v, want it skipped", name, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.root, "dev/kmem5")); err != nil || string(b) != "now a file" {
		t.Fatalf("dev/kmem5 = %q, %v: want a link to the later file", b, err)
	}
}
