package sftpfetch_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/ssh"

	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/sftpfetch"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

const dsID = "3f9a1c2e-7b4d-4e8a-9c1f-5d6e7f8a9b01"

// body is a disk image stand-in, large enough that the client reads it in
// many requests.

type server struct {
	*testenv.SSHD
	file string // absolute path of images/disk.raw
	data []byte
}

func startServer(t *testing.T, data []byte) *server { return startServerB(t, data) }

func startServerB(t testing.TB, data []byte) *server {
	t.Helper()
	s := testenv.StartSSHD(t)
	p, err := s.WriteFile("images/disk.raw", data)
	if err != nil {
		t.Fatal(err)
	}
	return &server{SSHD: s, file: p, data: data}
}

// datastore is the server as a controller config names it: dpath is the
// images directory, the key pinned.
func (s *server) datastore() materials.Datastore {
	return materials.Datastore{
		ID: dsID, Type: materials.DatastoreSFTP, FQDN: s.Addr,
		Path: filepath.Join(s.Root, "images"), APIKey: s.User, Password: s.ClientKeyPEM,
		CertPEM: [][]byte{[]byte(s.HostKey + "\n")}, HasCredentials: true,
	}
}

type fetchResult struct {
	err      error // from Fetch, else from Commit
	fetchErr error
	progress [][2]int64
}

// fetch runs one Fetch into a fresh blob directory ingest of want and
// commits it, with partial bytes already written to the ingest.
func fetch(t *testing.T, f *sftpfetch.Fetcher, ds materials.Datastore, ct materials.ContentTree, want materials.Blob, partial []byte, free int64) (fetchResult, *blobdir.Store) {
	t.Helper()
	ctx := context.Background()
	store := blobdir.New(t.TempDir())
	if len(partial) > 0 {
		in, err := store.Ingest(ctx, want)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.Write(partial); err != nil {
			t.Fatal(err)
		}
		if err := in.Close(); err != nil {
			t.Fatal(err)
		}
	}
	in, err := store.Ingest(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if in.Offset() != int64(len(partial)) {
		t.Fatalf("ingest resumes at %d, want %d", in.Offset(), len(partial))
	}
	var res fetchResult
	res.fetchErr = f.Fetch(ctx, device.FetchRequest{Datastore: ds, ContentTree: ct, Blob: want, FreeBytes: free}, in,
		func(done, known int64) { res.progress = append(res.progress, [2]int64{done, known}) })
	res.err = res.fetchErr
	if res.err == nil {
		res.err = in.Commit(ctx, 0)
	}
	return res, store
}

func tree(size int, sha digest.Digest) materials.ContentTree {
	return materials.ContentTree{ID: "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01", URL: "disk.raw", Format: materials.FormatRaw,
		SHA256: sha.Encoded(), MaxSizeBytes: uint64(size), Datastores: []string{dsID}}
}

func TestFetchFromSSHD(t *testing.T) {
	data := devicetest.Body(3<<20 + 123)
	srv := startServer(t, data)
	want := digest.FromBytes(data)
	otherKey := newAuthorizedKey(t)
	wrongPEM := newPrivatePEM(t)
	ds := srv.datastore()

	tests := []struct {
		name      string
		ds        func(materials.Datastore) materials.Datastore
		ct        func(materials.ContentTree) materials.ContentTree
		partial   int
		free      int64
		insecure  bool
		wantErr   error // errors.Is on the result
		retryable bool  // the fetch error is device.Retryable
		errHas    []string
		readBytes int64 // what internal-sftp logged as read, when > 0
	}{
		{name: "full fetch, digest verified", readBytes: int64(len(data))},
		{name: "resume from an offset reads only the rest", partial: 1<<20 + 5, readBytes: int64(len(data) - (1<<20 + 5))},
		{name: "a partial holding the whole file reads nothing", partial: len(data)},
		{name: "corrupted body is a digest mismatch", ct: func(ct materials.ContentTree) materials.ContentTree {
			ct.URL = "corrupt.raw"
			return ct
		}, wantErr: device.ErrDigestMismatch, errHas: []string{string(want)}},
		{name: "wrong key is refused, naming the datastore", ds: func(d materials.Datastore) materials.Datastore {
			d.Password = wrongPEM
			return d
		}, wantErr: sftpfetch.ErrAuth, errHas: []string{dsID, srv.Addr}},
		{name: "wrong user is refused", ds: func(d materials.Datastore) materials.Datastore {
			d.APIKey = "nobody-but-a-test"
			return d
		}, wantErr: sftpfetch.ErrAuth, errHas: []string{dsID}},
		{name: "wrong password is refused", ds: func(d materials.Datastore) materials.Datastore {
			d.Password = "not-the-password"
			return d
		}, wantErr: sftpfetch.ErrAuth, errHas: []string{dsID}},
		{name: "host key pin mismatch is refused", ds: func(d materials.Datastore) materials.Datastore {
			d.CertPEM = [][]byte{[]byte(otherKey)}
			return d
		}, wantErr: sftpfetch.ErrHostKey, errHas: []string{dsID, "presented host key SHA256:"}},
		{name: "insecure mode still enforces a pin", insecure: true, ds: func(d materials.Datastore) materials.Datastore {
			d.CertPEM = [][]byte{[]byte(otherKey)}
			return d
		}, wantErr: sftpfetch.ErrHostKey},
		{name: "no pin is refused", ds: func(d materials.Datastore) materials.Datastore {
			d.CertPEM = nil
			return d
		}, wantErr: sftpfetch.ErrHostKey, errHas: []string{"pins no host key", dsID}},
		{name: "no pin with InsecureIgnoreHostKey", insecure: true, ds: func(d materials.Datastore) materials.Datastore {
			d.CertPEM = nil
			return d
		}, readBytes: int64(len(data))},
		{name: "a dsCertPEM entry that is no key is refused", ds: func(d materials.Datastore) materials.Datastore {
			d.CertPEM = [][]byte{[]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")}
			return d
		}, errHas: []string{"dsCertPEM entry 0"}},
		{name: "larger than maxSizeBytes", ct: func(ct materials.ContentTree) materials.ContentTree {
			ct.MaxSizeBytes = 1 << 20
			return ct
		}, wantErr: device.ErrTooLarge, errHas: []string{"maxSizeBytes", "declares"}},
	}
	if _, err := srv.WriteFile("images/corrupt.raw", devicetest.Corrupt(data)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ct := ds, tree(len(data), want)
			if tc.ds != nil {
				d = tc.ds(d)
			}
			if tc.ct != nil {
				ct = tc.ct(ct)
			}
			core, logs := observer.New(zapcore.DebugLevel)
			f := &sftpfetch.Fetcher{Logger: zap.New(core), InsecureIgnoreHostKey: tc.insecure}
			before := len(srv.BytesRead(filepath.Join(srv.Root, "images", filepath.Base(ct.URL))))
			blob := materials.Blob{Digest: want, Size: int64(len(data))}
			res, store := fetch(t, f, d, ct, blob, data[:tc.partial], tc.free)

			wantOK := tc.wantErr == nil && !tc.retryable && len(tc.errHas) == 0
			switch {
			case wantOK && res.err != nil:
				t.Fatalf("fetch: %v", res.err)
			case !wantOK && res.err == nil:
				t.Fatalf("fetch succeeded, want an error")
			}
			if tc.wantErr != nil && !errors.Is(res.err, tc.wantErr) {
				t.Errorf("error %v, want %v", res.err, tc.wantErr)
			}
			var re *device.RetryableError
			if got := errors.As(res.fetchErr, &re); got != tc.retryable && res.fetchErr != nil {
				t.Errorf("retryable = %v, want %v: %v", got, tc.retryable, res.fetchErr)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(res.err.Error(), s) {
					t.Errorf("error %q lacks %q", res.err, s)
				}
			}
			// No secret in an error or in a log line at debug level.
			var text bytes.Buffer
			if res.err != nil {
				text.WriteString(res.err.Error())
			}
			for _, e := range logs.All() {
				fmt.Fprintf(&text, "%s %v\n", e.Message, e.ContextMap())
			}
			secrets := []string{d.APIKey, d.Password}
			for _, line := range strings.Split(d.Password, "\n") {
				if len(line) > 16 && !strings.HasPrefix(line, "-----") {
					secrets = append(secrets, line) // a PEM key's body, line by line
				}
			}
			for _, secret := range secrets {
				if strings.Contains(text.String(), secret) {
					t.Errorf("a secret appears in the error or log: %s", text.String())
				}
			}
			if logs.Len() == 0 {
				t.Errorf("nothing was logged at debug level (the secret check would be empty)")
			}
			if !wantOK {
				return
			}
			got, err := os.ReadFile(store.Path(want))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("committed blob differs (%v)", err)
			}
			last := res.progress[len(res.progress)-1]
			if last != [2]int64{int64(len(data)), int64(len(data))} {
				t.Errorf("last progress %v, want done = known = %d", last, len(data))
			}
			for i := 1; i < len(res.progress); i++ {
				if res.progress[i][0] < res.progress[i-1][0] {
					t.Errorf("progress went back: %v", res.progress)
				}
			}
			if res.progress[0][0] != int64(tc.partial) {
				t.Errorf("first progress %v, want the offset %d", res.progress[0], tc.partial)
			}
			if tc.readBytes > 0 {
				reads := srv.BytesRead(srv.file)
				if len(reads) <= before {
					t.Fatalf("sshd logged no close of %s:\n%s", srv.file, srv.Log())
				}
				if n := reads[len(reads)-1]; n != tc.readBytes {
					t.Errorf("the server sent %d bytes, want %d", n, tc.readBytes)
				}
			}
		})
	}
}

func newAuthorizedKey(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(ssh.MarshalAuthorizedKey(sp))
}

func newPrivatePEM(t *testing.T) string {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(blk))
}

func TestTarget(t *testing.T) {
	tests := []struct {
		fqdn, dpath, url string
		addr, file       string
		errHas           string
	}{
		{"sftp.example.com", "/srv/images", "disk.qcow2", "sftp.example.com:22", "/srv/images/disk.qcow2", ""},
		{"10.0.0.5:2222", "images", "v1/disk.raw", "10.0.0.5:2222", "images/v1/disk.raw", ""},
		{"sftp://h:2022/base", "images", "/disk.raw", "h:2022", "/base/images/disk.raw", ""},
		{"[::1]:2200", "", "disk.raw", "[::1]:2200", "disk.raw", ""},
		{"::1", "/d", "disk.raw", "[::1]:22", "/d/disk.raw", ""},
		{"h", "/d", "../etc/shadow", "", "", "climbs out of dpath"},
		{"h", "/d", "", "", "", "url is empty"},
		{"", "/d", "x", "", "", "no host"},
		{"https://h", "/d", "x", "", "", "not sftp"},
		{"sftp://u:pw@h", "/d", "x", "", "", "carries a user"},
	}
	for _, tc := range tests {
		t.Run(tc.fqdn+" "+tc.url, func(t *testing.T) {
			addr, file, err := sftpfetch.Target(materials.Datastore{ID: dsID, FQDN: tc.fqdn, Path: tc.dpath}, tc.url)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want one with %q", err, tc.errHas)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Errorf("error shows the fqdn's password: %v", err)
				}
				return
			}
			if err != nil || addr != tc.addr || file != tc.file {
				t.Errorf("Target = %q, %q, %v; want %q, %q", addr, file, err, tc.addr, tc.file)
			}
		})
	}
}

// cutConn drops the link once it has read after bytes.
type cutConn struct {
	net.Conn
	left int64
}

func (c *cutConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.Conn.Close()
		return 0, errors.New("link dropped by the test")
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= int64(n)
	return n, err
}

// TestCutResumed drops the link mid-download: the fetch is retryable and
// the ingest keeps what arrived; the next fetch seeks to that offset, and
// the server reads only the rest of the file for it.
func TestCutResumed(t *testing.T) {
	data := devicetest.Body(4 << 20)
	srv := startServer(t, data)
	want := materials.Blob{Digest: digest.FromBytes(data), Size: int64(len(data))}
	req := device.FetchRequest{Datastore: srv.datastore(), ContentTree: tree(len(data), want.Digest), Blob: want}
	store := blobdir.New(t.TempDir())
	ctx := context.Background()
	cutting := &sftpfetch.Fetcher{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &cutConn{Conn: c, left: 1 << 20}, nil
	}}
	in, err := store.Ingest(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	err = cutting.Fetch(ctx, req, in, func(int64, int64) {})
	var re *device.RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("a dropped link: %v, want a retryable error", err)
	}
	offset := in.Offset()
	in.Close()
	if offset <= 0 || offset >= int64(len(data)) {
		t.Fatalf("the ingest holds %d bytes after the cut, want part of %d", offset, len(data))
	}
	before := len(srv.BytesRead(srv.file))
	in, err = store.Ingest(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if in.Offset() != offset {
		t.Fatalf("the resume opens at %d, want %d", in.Offset(), offset)
	}
	if err := (&sftpfetch.Fetcher{}).Fetch(ctx, req, in, func(int64, int64) {}); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if err := in.Commit(ctx, 0); err != nil {
		t.Fatalf("commit after the resume: %v", err)
	}
	// The cut session's close may be logged late; the resumed one read
	// exactly the rest.
	found := false
	for _, n := range srv.BytesRead(srv.file)[before:] {
		found = found || n == int64(len(data))-offset
	}
	if !found {
		t.Errorf("no session read the %d bytes after offset %d: %v", int64(len(data))-offset, offset, srv.BytesRead(srv.file))
	}
}

func splitAddr(t testing.TB, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}
