package gcsfetch_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/gcsfetch"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

const dsID = "7f3a9c5e-1d2b-4e6f-8a0c-5b7d9e1f3a84"

func tree(size int, sha digest.Digest) materials.ContentTree {
	return materials.ContentTree{ID: "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e07", URL: "disk.raw", Format: materials.FormatRaw,
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
func fetch(t *testing.T, f *gcsfetch.Fetcher, store *blobdir.Store, req device.FetchRequest, partial []byte) result {
	t.Helper()
	if store == nil {
		store = blobdir.New(t.TempDir())
	}
	got := devicetest.FetchInto(t, f, store, req, partial)
	return result{err: got.Err, fetchErr: got.FetchErr, progress: got.Progress, store: store, offset: got.Offset}
}

func datastore(g *testenv.GCS) materials.Datastore {
	return materials.Datastore{ID: dsID, Type: materials.DatastoreGoogleStorage, FQDN: g.URL, Path: "images/edge",
		Password: string(g.CredentialsJSON), HasCredentials: true}
}

// secrets are what must appear in no error and no log line: the key's
// PEM body and every token the server issued.
func secrets(t *testing.T, credsJSON string) []string {
	var sa struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal([]byte(credsJSON), &sa); err != nil || sa.PrivateKey == "" {
		return nil
	}
	lines := strings.Split(sa.PrivateKey, "\n")
	return []string{lines[1], lines[len(lines)/2], "ya29."}
}

func TestFetchFromGCS(t *testing.T) {
	data := devicetest.Body(3<<20 + 321)
	want := digest.FromBytes(data)
	g := testenv.StartGCS(t, "images")
	g.Put("images", "edge/disk.raw", data)
	g.Put("images", "edge/corrupt.raw", devicetest.Corrupt(data))
	ds := datastore(g)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	wrongJSON, err := testenv.ServiceAccountJSON(otherKey, g.Email, g.URL+"/token")
	if err != nil {
		t.Fatal(err)
	}
	deadToken, err := testenv.ServiceAccountJSON(otherKey, g.Email, "http://"+testenv.DeadAddr(t)+"/token")
	if err != nil {
		t.Fatal(err)
	}
	// A credential configuration that would run a command: it must be
	// refused before anything reads it further.
	pwned := filepath.Join(t.TempDir(), "pwned")
	external := fmt.Sprintf(`{"type":"external_account","audience":"//iam.googleapis.com/x","subject_token_type":"urn:ietf:params:oauth:token-type:jwt",
		"token_url":%q,"credential_source":{"executable":{"command":"/usr/bin/touch %s","timeout_millis":5000}}}`, g.URL+"/token", pwned)
	objPath := "/images/edge/disk.raw"
	with := func(f func(*materials.Datastore)) materials.Datastore { d := ds; f(&d); return d }

	tests := []struct {
		name      string
		ds        materials.Datastore
		ct        func(materials.ContentTree) materials.ContentTree
		partial   int
		free      int64
		inject    func(http.Handler) http.Handler
		wantErr   error
		retryable bool
		errHas    []string
		// what the GET of the object looked like
		getRange  string
		getStatus int
		orStatus  int // also right
	}{
		{name: "whole object, digest verified", ds: ds, getStatus: 200},
		{name: "resume is a ranged GET from the offset", ds: ds, partial: 1<<20 + 7, getRange: "bytes=1048583-", getStatus: 206},
		// Google answers 416; the fake server may answer an empty 206.
		{name: "a partial holding everything", ds: ds, partial: len(data), getRange: "bytes=" + strconv.Itoa(len(data)) + "-", getStatus: 416, orStatus: 206},
		{name: "a 416 to a partial holding everything", ds: ds, partial: len(data), inject: statusFor(objPath, http.StatusRequestedRangeNotSatisfiable),
			getRange: "bytes=" + strconv.Itoa(len(data)) + "-", getStatus: 416},
		{name: "corrupted body is a digest mismatch at commit", ds: ds, ct: func(ct materials.ContentTree) materials.ContentTree { ct.URL = "corrupt.raw"; return ct },
			wantErr: device.ErrDigestMismatch, errHas: []string{string(want)}},
		{name: "wrong key is refused at the token endpoint, naming the datastore", ds: with(func(d *materials.Datastore) { d.Password = string(wrongJSON) }),
			wantErr: gcsfetch.ErrAuth, errHas: []string{dsID, "images", "token: 400 invalid_grant"}},
		{name: "no key: storage refuses the anonymous read", ds: with(func(d *materials.Datastore) { d.Password = "" }),
			wantErr: gcsfetch.ErrAuth, errHas: []string{dsID, "refused an anonymous read", "storage: 401"}},
		{name: "an external account configuration is refused unread", ds: with(func(d *materials.Datastore) { d.Password = external }),
			errHas: []string{dsID, "not a service account key", `"external_account"`}},
		{name: "password that is not JSON", ds: with(func(d *materials.Datastore) { d.Password = "hunter2-not-json" }),
			errHas: []string{dsID, "not a service account key"}},
		{name: "larger than maxSizeBytes", ds: ds, ct: func(ct materials.ContentTree) materials.ContentTree { ct.MaxSizeBytes = 1 << 20; return ct },
			wantErr: device.ErrTooLarge, errHas: []string{"maxSizeBytes", "declares"}},
		{name: "503 is retryable", ds: ds, retryable: true, errHas: []string{"503"}, inject: statusFor(objPath, http.StatusServiceUnavailable)},
		{name: "429 is retryable", ds: ds, retryable: true, errHas: []string{"429"}, inject: statusFor(objPath, http.StatusTooManyRequests)},
		{name: "token endpoint 503 is retryable", ds: ds, retryable: true, errHas: []string{"token request: 503"}, inject: statusFor("/token", http.StatusServiceUnavailable)},
		{name: "token endpoint not listening is retryable", ds: with(func(d *materials.Datastore) { d.Password = string(deadToken) }), retryable: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := tree(len(data), want)
			if tc.ct != nil {
				ct = tc.ct(ct)
			}
			g.Inject(tc.inject)
			defer g.Inject(nil)
			core, logs := observer.New(zapcore.DebugLevel)
			f := &gcsfetch.Fetcher{Logger: zap.New(core)}
			before := len(g.Requests())
			req := device.FetchRequest{Datastore: tc.ds, ContentTree: ct, Blob: materials.Blob{Digest: want, Size: int64(len(data))}, FreeBytes: tc.free}
			res := fetch(t, f, nil, req, data[:tc.partial])

			wantOK := tc.wantErr == nil && !tc.retryable && len(tc.errHas) == 0
			switch {
			case wantOK && res.err != nil:
				t.Fatalf("fetch: %v", res.err)
			case !wantOK && res.err == nil:
				t.Fatalf("fetch succeeded, want an error")
			}
			if res.err != nil {
				t.Logf("error: %v", res.err)
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
			if _, err := os.Stat(pwned); err == nil {
				t.Fatalf("the external account's command ran")
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
			for _, secret := range append(secrets(t, string(g.CredentialsJSON)), secrets(t, tc.ds.Password)...) {
				if strings.Contains(text.String(), secret) {
					t.Errorf("a secret (%q) appears in the error or log:\n%s", secret, text.String())
				}
			}
			if strings.Contains(text.String(), "hunter2") {
				t.Errorf("the password appears in the error or log:\n%s", text.String())
			}
			var get *testenv.GCSRequest
			for _, r := range g.Requests()[before:] {
				if r.Method == http.MethodGet && strings.HasSuffix(r.Path, ct.URL) {
					get = &r
				}
			}
			if tc.getStatus != 0 {
				switch {
				case get == nil:
					t.Fatalf("the server saw no GET of the object: %+v", g.Requests()[before:])
				case get.Range != tc.getRange || (get.Status != tc.getStatus && get.Status != tc.orStatus):
					t.Errorf("GET Range %q answered %d, want %q answered %d", get.Range, get.Status, tc.getRange, tc.getStatus)
				case get.Path != objPath:
					t.Errorf("GET path %q, want %q", get.Path, objPath)
				}
			}
			if !wantOK {
				return
			}
			got, err := os.ReadFile(res.store.Path(want))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("committed blob differs (%v)", err)
			}
			if last := res.progress[len(res.progress)-1]; last != [2]int64{int64(len(data)), int64(len(data))} {
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

// TestCutResumed drops the link mid-body and refuses the library's own
// reopen: the fetch is retryable and keeps what arrived, and the next one
// asks for the rest only.
func TestCutResumed(t *testing.T) {
	data := devicetest.Body(2<<20 + 99)
	want := digest.FromBytes(data)
	g := testenv.StartGCS(t, "images")
	g.Put("images", "disk.raw", data)
	ds := datastore(g)
	ds.Path = "images"
	const cut = 1<<20 + 3
	var once sync.Once
	cutter := testenv.CutAfter(cut)
	g.Inject(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/images/disk.raw" {
				next.ServeHTTP(w, r)
				return
			}
			first := false
			once.Do(func() { first = true })
			if first {
				cutter(next).ServeHTTP(w, r)
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		})
	})
	store := blobdir.New(t.TempDir())
	req := device.FetchRequest{Datastore: ds, ContentTree: tree(len(data), want), Blob: materials.Blob{Digest: want, Size: int64(len(data))}}
	f := &gcsfetch.Fetcher{}
	first := fetch(t, f, store, req, nil)
	var re *device.RetryableError
	if !errors.As(first.fetchErr, &re) {
		t.Fatalf("a cut body: %v, want a retryable error", first.fetchErr)
	}
	if first.offset != cut {
		t.Fatalf("the ingest holds %d bytes after the cut (%v), want %d", first.offset, first.fetchErr, cut)
	}
	g.Inject(nil)
	before := len(g.Requests())
	second := fetch(t, f, store, req, nil)
	if second.err != nil {
		t.Fatalf("resume: %v", second.err)
	}
	var gets []testenv.GCSRequest
	for _, r := range g.Requests()[before:] {
		if r.Path == "/images/disk.raw" {
			gets = append(gets, r)
		}
	}
	if len(gets) != 1 || gets[0].Range != "bytes="+strconv.Itoa(cut)+"-" || gets[0].Status != http.StatusPartialContent {
		t.Errorf("the resume sent %+v, want one GET with Range bytes=%d- answered 206", gets, cut)
	}
	if got, err := os.ReadFile(store.Path(want)); err != nil || !bytes.Equal(got, data) {
		t.Errorf("resumed blob differs (%v)", err)
	}
}

func TestLocate(t *testing.T) {
	tests := []struct {
		fqdn, dpath, url string
		want             gcsfetch.Object
		errHas           string
	}{
		{"", "images", "disk.qcow2", gcsfetch.Object{Bucket: "images", Name: "disk.qcow2"}, ""},
		{"storage.googleapis.com", "/images/edge/", "/v1/disk.raw", gcsfetch.Object{Bucket: "images", Name: "edge/v1/disk.raw"}, ""},
		{"https://storage.googleapis.com/", "b", "x", gcsfetch.Object{Bucket: "b", Name: "x"}, ""},
		{"http://127.0.0.1:4443", "b", "a/x", gcsfetch.Object{Endpoint: "http://127.0.0.1:4443/storage/v1/", Bucket: "b", Name: "a/x"}, ""},
		{"gcs.example.com:8443", "b", "x", gcsfetch.Object{Endpoint: "https://gcs.example.com:8443/storage/v1/", Bucket: "b", Name: "x"}, ""},
		{"https://gcs.example.com/images", "b", "x", gcsfetch.Object{}, "bucket goes in dpath"},
		{"storage.googleapis.com", "", "x", gcsfetch.Object{}, "names no bucket"},
		{"", "b/p", "../../etc", gcsfetch.Object{}, "climbs out"},
		{"", "b", "", gcsfetch.Object{}, "url is empty"},
		{"ftp://h", "b", "x", gcsfetch.Object{}, "not http"},
		{"https://u:SECRETpw@h", "b", "x", gcsfetch.Object{}, "fqdn carries credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.fqdn+" "+tc.dpath+" "+tc.url, func(t *testing.T) {
			got, err := gcsfetch.Locate(materials.Datastore{ID: dsID, FQDN: tc.fqdn, Path: tc.dpath}, tc.url)
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

// statusFor answers code to requests for one path and passes the rest.
func statusFor(path string, code int) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				next.ServeHTTP(w, r)
				return
			}
			w.WriteHeader(code)
		})
	}
}
