package s3fetch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/s3fetch"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

const dsID = "6e1d2c3b-4a59-4f8e-9d7c-0b1a2c3d4e51"

// toServer dials the test server whatever host a request names, so
// virtual-host names (<bucket>.s3.test) reach it.
func toServer(s *testenv.S3) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, s.Host)
	}
	return tr
}

func tree(size int, sha digest.Digest) materials.ContentTree {
	return materials.ContentTree{ID: "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e03", URL: "disk.raw", Format: materials.FormatRaw,
		SHA256: sha.Encoded(), MaxSizeBytes: uint64(size), Datastores: []string{dsID}}
}

type result struct {
	err, fetchErr error
	progress      [][2]int64
	store         *blobdir.Store
	offset        int64 // the ingest's offset after the fetch
}

// fetch runs one Fetch into a blob directory ingest that holds partial
// already, then commits it.
func fetch(t *testing.T, f *s3fetch.Fetcher, store *blobdir.Store, req device.FetchRequest, partial []byte) result {
	t.Helper()
	if store == nil {
		store = blobdir.New(t.TempDir())
	}
	got := devicetest.FetchInto(t, f, store, req, partial)
	return result{err: got.Err, fetchErr: got.FetchErr, progress: got.Progress, store: store, offset: got.Offset}
}

func TestFetchFromS3(t *testing.T) {
	data := devicetest.Body(3<<20 + 321)
	want := digest.FromBytes(data)
	srv := testenv.StartS3(t, "images")
	for key, b := range map[string][]byte{"edge/disk.raw": data, "edge/corrupt.raw": devicetest.Corrupt(data)} {
		if err := srv.Put("images", key, b); err != nil {
			t.Fatal(err)
		}
	}
	ds := materials.Datastore{ID: dsID, Type: materials.DatastoreS3, FQDN: "http://" + srv.Host, Path: "images/edge",
		Region: srv.Region, APIKey: srv.AccessKey, Password: srv.SecretKey, HasCredentials: true}
	vhost := ds
	vhost.FQDN = "http://" + testenv.VirtualHostBase + ":" + port(srv.Host)

	tests := []struct {
		name      string
		ds        materials.Datastore
		lookup    s3fetch.Lookup
		ct        func(materials.ContentTree) materials.ContentTree
		partial   int
		free      int64
		inject    func(w http.ResponseWriter, r *http.Request) bool
		wantErr   error
		retryable bool
		errHas    []string
		// what the GET for the object looked like
		getHost, getPath, getRange string
		getStatus                  int
	}{
		{name: "path style, digest verified", ds: ds, getPath: "/images/edge/disk.raw", getStatus: 200},
		{name: "virtual-host style", ds: vhost, lookup: s3fetch.LookupVirtualHost,
			getHost: "images." + testenv.VirtualHostBase + ":" + port(srv.Host), getPath: "/edge/disk.raw", getStatus: 200},
		{name: "region found by asking the bucket", ds: func() materials.Datastore { d := ds; d.Region = ""; return d }(), getStatus: 200},
		{name: "resume is a ranged GET from the offset", ds: ds, partial: 1<<20 + 7, getRange: "bytes=1048583-", getStatus: 206},
		{name: "a partial holding everything", ds: ds, partial: len(data), getRange: "bytes=" + strconv.Itoa(len(data)) + "-", getStatus: 416},
		{name: "corrupted body is a digest mismatch", ds: ds, ct: func(ct materials.ContentTree) materials.ContentTree { ct.URL = "corrupt.raw"; return ct },
			wantErr: device.ErrDigestMismatch, errHas: []string{string(want)}},
		{name: "wrong secret is refused, naming the datastore", ds: func() materials.Datastore { d := ds; d.Password = "not-the-secret-at-all"; return d }(),
			wantErr: s3fetch.ErrAuth, errHas: []string{dsID, "SignatureDoesNotMatch"}},
		{name: "wrong access key is refused", ds: func() materials.Datastore { d := ds; d.APIKey = "AKNOTTHEKEY000000000"; return d }(),
			wantErr: s3fetch.ErrAuth, errHas: []string{dsID, "InvalidAccessKeyId"}},
		{name: "larger than maxSizeBytes", ds: ds, ct: func(ct materials.ContentTree) materials.ContentTree { ct.MaxSizeBytes = 1 << 20; return ct },
			wantErr: device.ErrTooLarge, errHas: []string{"maxSizeBytes", "declares"}},
		{name: "503 is retryable", ds: ds, retryable: true, errHas: []string{"503"}, inject: func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := tree(len(data), want)
			if tc.ct != nil {
				ct = tc.ct(ct)
			}
			srv.Inject(tc.inject)
			defer srv.Inject(nil)
			core, logs := observer.New(zapcore.DebugLevel)
			f := &s3fetch.Fetcher{Logger: zap.New(core), BucketLookup: tc.lookup, Transport: toServer(srv)}
			if tc.lookup != s3fetch.LookupVirtualHost {
				f.Transport = nil
			}
			before := len(srv.Requests())
			req := device.FetchRequest{Datastore: tc.ds, ContentTree: ct, Blob: materials.Blob{Digest: want, Size: int64(len(data))}, FreeBytes: tc.free}
			res := fetch(t, f, nil, req, data[:tc.partial])

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
			if got := errors.As(res.fetchErr, &re); res.fetchErr != nil && got != tc.retryable {
				t.Errorf("retryable = %v, want %v: %v", got, tc.retryable, res.fetchErr)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(res.err.Error(), s) {
					t.Errorf("error %q lacks %q", res.err, s)
				}
			}
			var text bytes.Buffer
			if res.err != nil {
				text.WriteString(res.err.Error())
			}
			for _, e := range logs.All() {
				fmt.Fprintf(&text, "%s %v\n", e.Message, e.ContextMap())
			}
			if logs.Len() == 0 {
				t.Errorf("nothing was logged at debug level (the secret check would be empty)")
			}
			for _, secret := range []string{tc.ds.APIKey, tc.ds.Password, srv.SecretKey} {
				if strings.Contains(text.String(), secret) {
					t.Errorf("a secret (%q) appears in the error or log:\n%s", secret, text.String())
				}
			}
			var get *testenv.S3Request
			for _, r := range srv.Requests()[before:] {
				if r.Method == http.MethodGet && strings.HasSuffix(r.Path, ct.URL) {
					get = &r
				}
			}
			if tc.getStatus != 0 {
				switch {
				case get == nil:
					t.Fatalf("the server saw no GET of the object: %+v", srv.Requests()[before:])
				case get.Range != tc.getRange || get.Status != tc.getStatus:
					t.Errorf("GET Range %q answered %d, want %q answered %d", get.Range, get.Status, tc.getRange, tc.getStatus)
				case tc.getPath != "" && get.Path != tc.getPath:
					t.Errorf("GET path %q, want %q", get.Path, tc.getPath)
				case tc.getHost != "" && get.Host != tc.getHost:
					t.Errorf("GET host %q, want %q", get.Host, tc.getHost)
				}
			}
			if !wantOK {
				return
			}
			got, err := os.ReadFile(res.store.Path(want))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("committed blob differs (%v)", err)
			}
			if last := res.progress[len(res.progress)-1]; tc.partial < len(data) && last != [2]int64{int64(len(data)), int64(len(data))} {
				t.Errorf("last progress %v, want done = known = %d", last, len(data))
			}
			for i := 1; i < len(res.progress); i++ {
				if res.progress[i][0] < res.progress[i-1][0] {
					t.Errorf("progress went back: %v", res.progress)
				}
			}
		})
	}
}

// TestCutResumed cuts the body mid-download: the fetch is retryable and
// keeps what it verified-in-passing, and the next one asks for the rest
// only.
func TestCutResumed(t *testing.T) {
	data := devicetest.Body(2<<20 + 99)
	want := digest.FromBytes(data)
	srv := testenv.StartS3(t, "images")
	if err := srv.Put("images", "disk.raw", data); err != nil {
		t.Fatal(err)
	}
	ds := materials.Datastore{ID: dsID, Type: materials.DatastoreS3, FQDN: "http://" + srv.Host, Path: "images",
		Region: srv.Region, APIKey: srv.AccessKey, Password: srv.SecretKey}
	const cut = 1<<20 + 3
	srv.Inject(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || r.Header.Get("Range") != "" {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("Last-Modified", "Fri, 04 Dec 2026 10:00:00 GMT")
		w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
		w.WriteHeader(http.StatusOK)
		w.Write(data[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the link drops
	})
	store := blobdir.New(t.TempDir())
	req := device.FetchRequest{Datastore: ds, ContentTree: tree(len(data), want), Blob: materials.Blob{Digest: want, Size: int64(len(data))}}
	f := &s3fetch.Fetcher{}
	first := fetch(t, f, store, req, nil)
	var re *device.RetryableError
	if !errors.As(first.fetchErr, &re) {
		t.Fatalf("a cut body: %v, want a retryable error", first.fetchErr)
	}
	if first.offset != cut {
		t.Fatalf("the ingest holds %d bytes after the cut (%v), want %d", first.offset, first.fetchErr, cut)
	}
	srv.Inject(nil)
	before := len(srv.Requests())
	second := fetch(t, f, store, req, nil)
	if second.err != nil {
		t.Fatalf("resume: %v", second.err)
	}
	reqs := srv.Requests()[before:]
	if len(reqs) != 1 || reqs[0].Range != "bytes="+strconv.Itoa(cut)+"-" || reqs[0].Status != http.StatusPartialContent {
		t.Errorf("the resume sent %+v, want one GET with Range bytes=%d- answered 206", reqs, cut)
	}
	if got, err := os.ReadFile(store.Path(want)); err != nil || !bytes.Equal(got, data) {
		t.Errorf("resumed blob differs (%v)", err)
	}
}

func TestLocate(t *testing.T) {
	tests := []struct {
		fqdn, dpath, url string
		want             s3fetch.Object
		errHas           string
	}{
		{"s3.amazonaws.com", "images", "disk.qcow2", s3fetch.Object{Endpoint: "s3.amazonaws.com", Secure: true, Bucket: "images", Key: "disk.qcow2"}, ""},
		{"http://127.0.0.1:9000", "/images/edge/", "/v1/disk.raw", s3fetch.Object{Endpoint: "127.0.0.1:9000", Bucket: "images", Key: "edge/v1/disk.raw"}, ""},
		{"https://minio.lan:9000/", "b", "x", s3fetch.Object{Endpoint: "minio.lan:9000", Secure: true, Bucket: "b", Key: "x"}, ""},
		{"s3.example.com/images", "b", "x", s3fetch.Object{}, "bucket goes in dpath"},
		{"s3.example.com", "", "x", s3fetch.Object{}, "names no bucket"},
		{"s3.example.com", "b/p", "../../etc", s3fetch.Object{}, "climbs out"},
		{"s3.example.com", "b", "", s3fetch.Object{}, "url is empty"},
		{"ftp://h", "b", "x", s3fetch.Object{}, "not http"},
		{"https://AK:SECRETpw@h", "b", "x", s3fetch.Object{}, "fqdn carries credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.fqdn+" "+tc.dpath+" "+tc.url, func(t *testing.T) {
			got, err := s3fetch.Locate(materials.Datastore{ID: dsID, FQDN: tc.fqdn, Path: tc.dpath}, tc.url)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want one with %q", err, tc.errHas)
				}
				if strings.Contains(err.Error(), "SECRETpw") {
					t.Errorf("error shows the fqdn's secret: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Locate = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func port(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}
