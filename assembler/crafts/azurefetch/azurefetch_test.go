package azurefetch_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/edgewright/edgewright/assembler/crafts/azurefetch"
	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

const dsID = "4c2e8a61-7b3d-4f9e-a1c5-2d6b8e0f3a72"

func tree(size int, sha digest.Digest) materials.ContentTree {
	return materials.ContentTree{ID: "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e06", URL: "disk.raw", Format: materials.FormatRaw,
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
func fetch(t *testing.T, f *azurefetch.Fetcher, store *blobdir.Store, req device.FetchRequest, partial []byte) result {
	t.Helper()
	if store == nil {
		store = blobdir.New(t.TempDir())
	}
	got := devicetest.FetchInto(t, f, store, req, partial)
	return result{err: got.Err, fetchErr: got.FetchErr, progress: got.Progress, store: store, offset: got.Offset}
}

func datastore(az *testenv.Azurite) materials.Datastore {
	return materials.Datastore{ID: dsID, Type: materials.DatastoreAzureBlob, FQDN: az.Service(), Path: "images/edge",
		APIKey: az.Account, Password: az.Key, HasCredentials: true}
}

func TestFetchFromAzurite(t *testing.T) {
	ctx := context.Background()
	data := devicetest.Body(3<<20 + 321)
	want := digest.FromBytes(data)
	az := testenv.StartAzurite(t, "images")
	for name, b := range map[string][]byte{"edge/disk.raw": data, "edge/corrupt.raw": devicetest.Corrupt(data)} {
		if err := az.Put(ctx, "images", name, b); err != nil {
			t.Fatal(err)
		}
	}
	ds := datastore(az)
	otherKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 32))
	objPath := "/" + az.Account + "/images/edge/disk.raw"

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
		// what the GET of the blob looked like
		getPath, getRange string
		getStatus         int
		orStatus          int // also right
	}{
		{name: "whole blob, digest verified", ds: ds, getPath: objPath, getStatus: 200},
		{name: "account from apiKey alone is checked against the fqdn's", ds: func() materials.Datastore { d := ds; d.APIKey = ""; return d }(), getPath: objPath, getStatus: 200},
		{name: "resume is a ranged GET from the offset", ds: ds, partial: 1<<20 + 7, getPath: objPath, getRange: "bytes=1048583-", getStatus: 206},
		// Azure answers 416 InvalidRange, Azurite an empty 206.
		{name: "a partial holding everything", ds: ds, partial: len(data), getRange: "bytes=" + strconv.Itoa(len(data)) + "-", getStatus: 416, orStatus: 206},
		{name: "a 416 to a partial holding everything", ds: ds, partial: len(data), inject: status(http.StatusRequestedRangeNotSatisfiable),
			getRange: "bytes=" + strconv.Itoa(len(data)) + "-", getStatus: 416},
		{name: "corrupted body is a digest mismatch at commit", ds: ds, ct: func(ct materials.ContentTree) materials.ContentTree { ct.URL = "corrupt.raw"; return ct },
			wantErr: device.ErrDigestMismatch, errHas: []string{string(want)}},
		{name: "wrong key is refused, naming the datastore and account", ds: func() materials.Datastore { d := ds; d.Password = otherKey; return d }(),
			wantErr: azurefetch.ErrAuth, errHas: []string{dsID, az.Account, "refused the key"}},
		{name: "a key that is not base64 is refused before a request", ds: func() materials.Datastore { d := ds; d.Password = "not a key: hunter2!"; return d }(),
			errHas: []string{dsID, "not a base64 account key"}},
		{name: "larger than maxSizeBytes", ds: ds, ct: func(ct materials.ContentTree) materials.ContentTree { ct.MaxSizeBytes = 1 << 20; return ct },
			wantErr: device.ErrTooLarge, errHas: []string{"maxSizeBytes", "declares"}},
		{name: "503 is retryable", ds: ds, retryable: true, errHas: []string{"503"}, inject: status(http.StatusServiceUnavailable)},
		{name: "429 is retryable", ds: ds, retryable: true, errHas: []string{"429"}, inject: status(http.StatusTooManyRequests)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := tree(len(data), want)
			if tc.ct != nil {
				ct = tc.ct(ct)
			}
			az.Inject(tc.inject)
			defer az.Inject(nil)
			core, logs := observer.New(zapcore.DebugLevel)
			f := &azurefetch.Fetcher{Logger: zap.New(core)}
			before := len(az.Requests())
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
			if res.err != nil {
				t.Logf("error: %v", res.err)
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
			// apiKey is the account's name, public in every URL; the key
			// is the secret.
			for _, secret := range []string{tc.ds.Password, az.Key, "hunter2"} {
				if secret != "" && strings.Contains(text.String(), secret) {
					t.Errorf("a secret (%q) appears in the error or log:\n%s", secret, text.String())
				}
			}
			var get *testenv.AzureRequest
			for _, r := range az.Requests()[before:] {
				if r.Method == http.MethodGet && strings.HasSuffix(r.Path, ct.URL) {
					get = &r
				}
			}
			if tc.getStatus != 0 {
				switch {
				case get == nil:
					t.Fatalf("the server saw no GET of the blob: %+v", az.Requests()[before:])
				case get.Range != tc.getRange || (get.Status != tc.getStatus && get.Status != tc.orStatus):
					t.Errorf("GET Range %q answered %d, want %q answered %d", get.Range, get.Status, tc.getRange, tc.getStatus)
				case tc.getPath != "" && get.Path != tc.getPath:
					t.Errorf("GET path %q, want %q", get.Path, tc.getPath)
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

// TestCutResumed drops the link mid-body: the fetch is retryable and
// keeps what arrived, and the next one asks Azurite for the rest only.
func TestCutResumed(t *testing.T) {
	ctx := context.Background()
	data := devicetest.Body(2<<20 + 99)
	want := digest.FromBytes(data)
	az := testenv.StartAzurite(t, "images")
	if err := az.Put(ctx, "images", "disk.raw", data); err != nil {
		t.Fatal(err)
	}
	ds := datastore(az)
	ds.Path = "images"
	const cut = 1<<20 + 3
	az.Inject(testenv.CutAfter(cut))
	store := blobdir.New(t.TempDir())
	req := device.FetchRequest{Datastore: ds, ContentTree: tree(len(data), want), Blob: materials.Blob{Digest: want, Size: int64(len(data))}}
	f := &azurefetch.Fetcher{}
	first := fetch(t, f, store, req, nil)
	var re *device.RetryableError
	if !errors.As(first.fetchErr, &re) {
		t.Fatalf("a cut body: %v, want a retryable error", first.fetchErr)
	}
	if first.offset != cut {
		t.Fatalf("the ingest holds %d bytes after the cut (%v), want %d", first.offset, first.fetchErr, cut)
	}
	az.Inject(nil)
	before := len(az.Requests())
	second := fetch(t, f, store, req, nil)
	if second.err != nil {
		t.Fatalf("resume: %v", second.err)
	}
	reqs := az.Requests()[before:]
	if len(reqs) != 1 || reqs[0].Range != "bytes="+strconv.Itoa(cut)+"-" || reqs[0].Status != http.StatusPartialContent {
		t.Errorf("the resume sent %+v, want one GET with Range bytes=%d- answered 206", reqs, cut)
	}
	if got, err := os.ReadFile(store.Path(want)); err != nil || !bytes.Equal(got, data) {
		t.Errorf("resumed blob differs (%v)", err)
	}
}

func TestLocate(t *testing.T) {
	tests := []struct {
		fqdn, apiKey, dpath, url string
		want                     azurefetch.Blob
		errHas                   string
	}{
		{"edgeimages.blob.core.windows.net", "", "images", "disk.qcow2",
			azurefetch.Blob{Service: "https://edgeimages.blob.core.windows.net", Account: "edgeimages", Container: "images", Name: "disk.qcow2"}, ""},
		{"https://edgeimages.blob.core.windows.net/", "edgeimages", "/images/edge/", "/v1/disk.raw",
			azurefetch.Blob{Service: "https://edgeimages.blob.core.windows.net", Account: "edgeimages", Container: "images", Name: "edge/v1/disk.raw"}, ""},
		{"edgeimages.blob.core.chinacloudapi.cn", "", "c", "x",
			azurefetch.Blob{Service: "https://edgeimages.blob.core.chinacloudapi.cn", Account: "edgeimages", Container: "c", Name: "x"}, ""},
		{"", "edgeimages", "c", "x",
			azurefetch.Blob{Service: "https://edgeimages.blob.core.windows.net", Account: "edgeimages", Container: "c", Name: "x"}, ""},
		{"http://127.0.0.1:10000/devstoreaccount1", "", "c", "a/b",
			azurefetch.Blob{Service: "http://127.0.0.1:10000/devstoreaccount1", Account: "devstoreaccount1", Container: "c", Name: "a/b"}, ""},
		{"blob.core.windows.net", "edgeimages", "c", "x",
			azurefetch.Blob{Service: "https://edgeimages.blob.core.windows.net", Account: "edgeimages", Container: "c", Name: "x"}, ""},
		{"https://blob.core.usgovcloudapi.net", "edgeimages", "c", "x",
			azurefetch.Blob{Service: "https://edgeimages.blob.core.usgovcloudapi.net", Account: "edgeimages", Container: "c", Name: "x"}, ""},
		{"blob.core.windows.net", "", "c", "x", azurefetch.Blob{}, "names no storage account"},
		{"images.example.com", "edgeimages", "c", "x",
			azurefetch.Blob{Service: "https://images.example.com", Account: "edgeimages", Container: "c", Name: "x"}, ""},
		{"images.example.com", "", "c", "x", azurefetch.Blob{}, "names no storage account"},
		{"", "", "c", "x", azurefetch.Blob{}, "names no storage account"},
		{"edgeimages.blob.core.windows.net", "otheracct", "c", "x", azurefetch.Blob{}, `apiKey names storage account "otheracct"`},
		{"Evil.Host:1@x.blob.core.windows.net", "", "c", "x", azurefetch.Blob{}, "fqdn carries credentials"},
		{"https://127.0.0.1:10000/acct/images", "", "c", "x", azurefetch.Blob{}, "the container goes in dpath"},
		{"https://h/acct?sig=SECRETsig", "", "c", "x", azurefetch.Blob{}, "has a query"},
		{"https://h/Not_An_Account", "", "c", "x", azurefetch.Blob{}, "is not 3 to 24"},
		{"ftp://x.blob.core.windows.net", "", "c", "x", azurefetch.Blob{}, "not http or https"},
		{"x1y.blob.core.windows.net", "", "", "x", azurefetch.Blob{}, "names no container"},
		{"x1y.blob.core.windows.net", "", "c/p", "../../etc", azurefetch.Blob{}, "climbs out"},
		{"x1y.blob.core.windows.net", "", "c", "", azurefetch.Blob{}, "url is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.fqdn+" "+tc.apiKey+" "+tc.dpath+" "+tc.url, func(t *testing.T) {
			got, err := azurefetch.Locate(materials.Datastore{ID: dsID, FQDN: tc.fqdn, APIKey: tc.apiKey, Path: tc.dpath}, tc.url)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want one with %q", err, tc.errHas)
				}
				if strings.Contains(err.Error(), "SECRETsig") {
					t.Errorf("error shows the fqdn's signature: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Locate = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func status(code int) func(http.Handler) http.Handler {
	return func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })
	}
}
