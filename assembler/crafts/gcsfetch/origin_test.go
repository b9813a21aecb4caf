package gcsfetch_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/gcsfetch"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// elsewhere is another host on loopback that records what reaches it.
type elsewhere struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD path authorization"
}

func startElsewhere(t *testing.T) *elsewhere {
	e := &elsewhere{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.seen = append(e.seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		e.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *elsewhere) requests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.seen...)
}

// redirectFor answers path with a redirect to target.
func redirectFor(path string, code int, target string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				next.ServeHTTP(w, r)
				return
			}
			http.Redirect(w, r, target, code)
		})
	}
}

// TestCredentialsStayWithTheirOrigin: the signed assertion goes only to
// the key's token_uri and the token only to the storage endpoint; a
// redirect of either is the answer, not followed, so the host it names
// sees nothing; and the token request carries no bearer token.
func TestCredentialsStayWithTheirOrigin(t *testing.T) {
	data := devicetest.Body(64<<10 + 5)
	want := digest.FromBytes(data)
	g := testenv.StartGCS(t, "images")
	g.Put("images", "edge/disk.raw", data)
	ds := datastore(g)
	tests := []struct {
		name   string
		inject func(e *elsewhere) func(http.Handler) http.Handler
		errHas []string
	}{
		{name: "the read redirected to another host", errHas: []string{"302", "not followed"},
			inject: func(e *elsewhere) func(http.Handler) http.Handler {
				return redirectFor("/images/edge/disk.raw", http.StatusFound, e.URL+"/images/edge/disk.raw")
			}},
		{name: "the read redirected, method kept, to another host", errHas: []string{"307", "not followed"},
			inject: func(e *elsewhere) func(http.Handler) http.Handler {
				return redirectFor("/images/edge/disk.raw", http.StatusTemporaryRedirect, e.URL+"/steal")
			}},
		{name: "the token request redirected to another host", errHas: []string{dsID, "token: 307"},
			inject: func(e *elsewhere) func(http.Handler) http.Handler {
				return redirectFor("/token", http.StatusTemporaryRedirect, e.URL+"/token")
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startElsewhere(t)
			g.Inject(tc.inject(e))
			defer g.Inject(nil)
			before := len(g.Requests())
			req := device.FetchRequest{Datastore: ds, ContentTree: tree(len(data), want), Blob: materials.Blob{Digest: want, Size: int64(len(data))}}
			res := fetch(t, &gcsfetch.Fetcher{}, nil, req, nil)
			if res.err == nil {
				t.Fatal("fetch succeeded through a redirect")
			}
			t.Logf("error: %v", res.err)
			for _, s := range tc.errHas {
				if !strings.Contains(res.err.Error(), s) {
					t.Errorf("error %q lacks %q", res.err, s)
				}
			}
			if got := e.requests(); len(got) != 0 {
				t.Errorf("the other host was sent %q", got)
			}
			for _, r := range g.Requests()[before:] {
				if r.Path == "/token" && r.Token != "" {
					t.Errorf("the token request carried a bearer token")
				}
			}
		})
	}
}

// TestTokenKeptPerStorageOrigin: a token kept from one datastore's
// storage endpoint is not sent to another datastore's endpoint, even
// with the same key: that one gets a token of its own.
func TestTokenKeptPerStorageOrigin(t *testing.T) {
	data := devicetest.Body(10<<10 + 1)
	want := digest.FromBytes(data)
	g := testenv.StartGCS(t, "images")
	g.Put("images", "edge/disk.raw", data)
	h := testenv.StartGCS(t, "images")
	h.Put("images", "edge/disk.raw", data)
	f := &gcsfetch.Fetcher{}
	req := device.FetchRequest{Datastore: datastore(g), ContentTree: tree(len(data), want), Blob: materials.Blob{Digest: want, Size: int64(len(data))}}
	if res := fetch(t, f, nil, req, nil); res.err != nil {
		t.Fatalf("fetch from the first endpoint: %v", res.err)
	}
	// The same key (its token_uri is g's), another storage endpoint.
	req.Datastore.FQDN = h.URL
	res := fetch(t, f, nil, req, nil)
	if !errors.Is(res.err, gcsfetch.ErrAuth) {
		t.Fatalf("fetch from the second endpoint: %v, want it refused (g's token is not h's)", res.err)
	}
	sentToG := map[string]bool{}
	tokenRequests := 0
	for _, r := range g.Requests() {
		if r.Path == "/token" {
			tokenRequests++
		} else if r.Token != "" {
			sentToG[r.Token] = true
		}
	}
	if tokenRequests != 2 {
		t.Errorf("%d token requests, want 2 (one per storage endpoint)", tokenRequests)
	}
	for _, r := range h.Requests() {
		if r.Token == "" {
			t.Errorf("the second endpoint got a read without a token: %+v", r)
		}
		if sentToG[r.Token] {
			t.Errorf("the token kept for %s was sent to %s", g.URL, h.URL)
		}
	}
}

// TestTokenRenewal: a token is kept for the next fetches until 225 s
// before it expires; one the storage endpoint refuses is renewed once,
// and a new token refused is the answer.
func TestTokenRenewal(t *testing.T) {
	data := devicetest.Body(10<<10 + 3)
	want := digest.FromBytes(data)
	const obj = "/images/edge/disk.raw"
	tests := []struct {
		name string
		// lifetime is the tokens' expires_in.
		lifetime int
		// between runs after the first fetch.
		between func(g *testenv.GCS)
		// secondErr is what the second fetch gives.
		secondErr error
		// tokenRequests over both fetches, reads in the second.
		tokenRequests, secondReads int
		// sameToken: the second read carried the first one's token.
		sameToken bool
	}{
		{name: "a token good for an hour serves the next fetch", lifetime: 3600, tokenRequests: 1, secondReads: 1, sameToken: true},
		{name: "a token due to expire within 225 s is renewed before the read", lifetime: 200, tokenRequests: 2, secondReads: 1},
		{name: "a token without expires_in is used once", lifetime: 0, tokenRequests: 2, secondReads: 1},
		{name: "a kept token the endpoint refuses is renewed and the read sent again", lifetime: 3600,
			between: func(g *testenv.GCS) { g.ExpireTokens() }, tokenRequests: 2, secondReads: 2},
		{name: "a renewed token refused is the answer, not a loop", lifetime: 3600,
			between: func(g *testenv.GCS) { g.Inject(statusFor(obj, http.StatusUnauthorized)) }, secondErr: gcsfetch.ErrAuth, tokenRequests: 2, secondReads: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := testenv.StartGCS(t, "images")
			g.Put("images", "edge/disk.raw", data)
			g.SetTokenLifetime(tc.lifetime)
			f := &gcsfetch.Fetcher{}
			req := device.FetchRequest{Datastore: datastore(g), ContentTree: tree(len(data), want), Blob: materials.Blob{Digest: want, Size: int64(len(data))}}
			if res := fetch(t, f, nil, req, nil); res.err != nil {
				t.Fatalf("first fetch: %v", res.err)
			}
			first := g.Requests()
			if tc.between != nil {
				tc.between(g)
			}
			res := fetch(t, f, nil, req, nil)
			if tc.secondErr == nil && res.err != nil || !errors.Is(res.err, tc.secondErr) {
				t.Fatalf("second fetch: %v, want %v", res.err, tc.secondErr)
			}
			tokens, firstToken := 0, ""
			for _, r := range first {
				if r.Path == obj {
					firstToken = r.Token
				}
			}
			var reads []testenv.GCSRequest
			for i, r := range g.Requests() {
				switch {
				case r.Path == "/token":
					tokens++
				case r.Path == obj && i >= len(first):
					reads = append(reads, r)
				}
			}
			if tokens != tc.tokenRequests {
				t.Errorf("%d token requests, want %d", tokens, tc.tokenRequests)
			}
			if len(reads) != tc.secondReads {
				t.Fatalf("the second fetch read %d times (%+v), want %d", len(reads), reads, tc.secondReads)
			}
			if got := reads[len(reads)-1].Token == firstToken; got != tc.sameToken {
				t.Errorf("the second fetch's last read carried the first token: %v, want %v", got, tc.sameToken)
			}
		})
	}
}

// TestResumePinnedToGeneration: a resume asks for the generation its
// partial was read from, so the object replaced meanwhile is never
// joined to it: read from the kept generation of a versioned bucket, or
// dropped when that generation is gone.
func TestResumePinnedToGeneration(t *testing.T) {
	data := devicetest.Body(1<<20 + 77)
	other := devicetest.Corrupt(data)
	want := digest.FromBytes(data)
	const cut = 300<<10 + 1
	tests := []struct {
		name      string
		versioned bool
		// after the resume
		wantErr   bool
		offset    int64
		getStatus int
	}{
		{name: "versioned: the resume reads the kept generation", versioned: true, offset: int64(len(data)), getStatus: http.StatusPartialContent},
		{name: "not versioned: the generation is gone, the partial dropped", wantErr: true, offset: 0, getStatus: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := testenv.StartGCS(t)
			g.CreateBucket("images", tc.versioned)
			g.Put("images", "edge/disk.raw", data)
			store := blobdir.New(t.TempDir())
			f := &gcsfetch.Fetcher{}
			req := device.FetchRequest{Datastore: datastore(g), ContentTree: tree(len(data), want), Blob: materials.Blob{Digest: want, Size: int64(len(data))}}
			g.Inject(testenv.CutAfter(cut))
			first := fetch(t, f, store, req, nil)
			g.Inject(nil)
			if first.offset != cut {
				t.Fatalf("the cut fetch left %d bytes (%v), want %d", first.offset, first.fetchErr, cut)
			}
			g.Put("images", "edge/disk.raw", other)
			before := len(g.Requests())
			second := fetch(t, f, store, req, nil)
			var re *device.RetryableError
			switch {
			case tc.wantErr && !errors.As(second.fetchErr, &re):
				t.Errorf("resume: %v, want a retryable error", second.fetchErr)
			case !tc.wantErr && second.err != nil:
				t.Errorf("resume: %v", second.err)
			}
			if second.offset != tc.offset {
				t.Errorf("the ingest holds %d bytes after the resume, want %d", second.offset, tc.offset)
			}
			var gets []testenv.GCSRequest
			for _, r := range g.Requests()[before:] {
				if r.Path == "/images/edge/disk.raw" {
					gets = append(gets, r)
				}
			}
			if len(gets) != 1 || !strings.HasPrefix(gets[0].Query, "generation=") || gets[0].Range != "bytes="+strconv.Itoa(cut)+"-" || gets[0].Status != tc.getStatus {
				t.Errorf("the resume sent %+v, want one GET with generation=, Range bytes=%d-, answered %d", gets, cut, tc.getStatus)
			}
			if !tc.wantErr {
				if got, err := os.ReadFile(store.Path(want)); err != nil || !bytes.Equal(got, data) {
					t.Errorf("the resumed blob is not the first generation's (%v)", err)
				}
			}
		})
	}
}

// answer serves path with a status, headers and body of the test's.
func answer(path string, status int, header map[string]string, body []byte) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				next.ServeHTTP(w, r)
				return
			}
			for k, v := range header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			_, _ = w.Write(body)
		})
	}
}

// flipLast passes the server's answer with the body's last byte changed
// (headers, x-goog-hash among them, as they were).
func flipLast(path string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			b := rec.Body.Bytes()
			if len(b) > 0 {
				b[len(b)-1] ^= 1
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(b)
		})
	}
}

// TestHostileAnswers: what the servers send is read bounded, and only a
// short code of a refusal reaches an error.
func TestHostileAnswers(t *testing.T) {
	data := devicetest.Body(200<<10 + 9)
	want := digest.FromBytes(data)
	g := testenv.StartGCS(t, "images")
	g.Put("images", "edge/disk.raw", data)
	const obj = "/images/edge/disk.raw"
	json := map[string]string{"Content-Type": "application/json"}
	huge := bytes.Repeat([]byte("A"), 1<<20)
	tests := []struct {
		name      string
		inject    func(http.Handler) http.Handler
		wantErr   error
		retryable bool
		errHas    []string
		errLacks  []string
		offset    int64 // the ingest's after the fetch
	}{
		{name: "a whole body that is not the stored object's crc32c is dropped", inject: flipLast(obj),
			retryable: true, errHas: []string{"crc32c"}},
		{name: "a token answer past 64 KiB", inject: answer("/token", 200, json, append([]byte(`{"access_token":"`), huge...)),
			errHas: []string{"token request", "more than 65536 bytes"}},
		{name: "a refusal past 64 KiB is still a refusal", inject: answer("/token", 400, json, huge),
			wantErr: gcsfetch.ErrAuth, errHas: []string{"token: 400"}, errLacks: []string{"AAAA"}},
		{name: "a token answer that is not JSON", inject: answer("/token", 200, json, []byte("<html>hello</html>")),
			retryable: true, errHas: []string{"not a token"}},
		{name: "an access token that cannot be a header", inject: answer("/token", 200, json, []byte(`{"access_token":"ya29.a\r\nX-Evil: 1","expires_in":3600}`)),
			errHas: []string{"cannot be a header"}},
		{name: "a token of another type than Bearer", inject: answer("/token", 200, json, []byte(`{"access_token":"ya29.abc","token_type":"MAC"}`)),
			errHas: []string{"not Bearer"}},
		{name: "an OAuth error that is not a code stays out of the error", inject: answer("/token", 400, json, []byte(`{"error":"<script>alert(1)</script>"}`)),
			wantErr: gcsfetch.ErrAuth, errHas: []string{"token: 400"}, errLacks: []string{"script"}},
		{name: "a 403 with a huge body names its status only", inject: answer(obj, 403, nil, huge),
			wantErr: gcsfetch.ErrAuth, errHas: []string{"storage: 403 Forbidden"}, errLacks: []string{"AAAA"}},
		{name: "a 403 with the XML API's code names it", inject: answer(obj, 403, map[string]string{"Content-Type": "application/xml"},
			[]byte(`<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code><Message>fetch@x does not have storage.objects.get</Message></Error>`)),
			wantErr: gcsfetch.ErrAuth, errHas: []string{"storage: 403 AccessDenied"}, errLacks: []string{"storage.objects.get"}},
		{name: "a 404 NoSuchBucket", inject: answer(obj, 404, nil, []byte(`<Error><Code>NoSuchBucket</Code></Error>`)),
			errHas: []string{"404 no such bucket"}},
		{name: "a 206 from elsewhere than asked", inject: answer(obj, 206, map[string]string{"Content-Range": "bytes 5-9/10"}, []byte("hello")),
			retryable: true, errHas: []string{"starts at byte 5, not 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g.Inject(tc.inject)
			defer g.Inject(nil)
			req := device.FetchRequest{Datastore: datastore(g), ContentTree: tree(len(data), want), Blob: materials.Blob{Digest: want, Size: int64(len(data))}}
			res := fetch(t, &gcsfetch.Fetcher{}, nil, req, nil)
			if res.fetchErr == nil {
				t.Fatalf("fetch succeeded (commit: %v)", res.err)
			}
			t.Logf("error: %v", res.err)
			if tc.wantErr != nil && !errors.Is(res.err, tc.wantErr) {
				t.Errorf("error %v, want %v", res.err, tc.wantErr)
			}
			var re *device.RetryableError
			if got := errors.As(res.fetchErr, &re); got != tc.retryable {
				t.Errorf("retryable = %v, want %v", got, tc.retryable)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(res.err.Error(), s) {
					t.Errorf("error %q lacks %q", res.err, s)
				}
			}
			for _, s := range tc.errLacks {
				if strings.Contains(res.err.Error(), s) {
					t.Errorf("error %q has %q of the server's body", res.err, s)
				}
			}
			if res.offset != tc.offset {
				t.Errorf("the ingest holds %d bytes, want %d", res.offset, tc.offset)
			}
		})
	}
}

// TestSelfSignedInAnotherUniverse: a key of another universe than
// googleapis.com has no token exchange there; its JWT, signed by the key
// with the read-only scope and no audience, is the bearer token, and no
// token endpoint is asked.
func TestSelfSignedInAnotherUniverse(t *testing.T) {
	g := testenv.StartGCS(t, "images")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// The console's key file of a partner cloud: the same, with its
	// universe named.
	var m map[string]string
	raw, err := testenv.ServiceAccountJSON(key, g.Email, g.URL+"/token")
	if err == nil {
		err = json.Unmarshal(raw, &m)
	}
	if err != nil {
		t.Fatal(err)
	}
	m["universe_domain"] = "partner-cloud.example"
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	ds := datastore(g)
	ds.Password = string(raw)
	data := []byte("x")
	want := digest.FromBytes(data)
	req := device.FetchRequest{Datastore: ds, ContentTree: tree(len(data), want), Blob: materials.Blob{Digest: want, Size: 1}}
	// The fake knows only tokens it issued: the read is refused, and
	// what it carried is checked here.
	res := fetch(t, &gcsfetch.Fetcher{}, nil, req, nil)
	if !errors.Is(res.err, gcsfetch.ErrAuth) {
		t.Fatalf("fetch: %v, want the fake's refusal", res.err)
	}
	var bearer string
	for _, r := range g.Requests() {
		if r.Path == "/token" {
			t.Errorf("the token endpoint was asked")
		}
		if r.Path == "/images/edge/disk.raw" {
			bearer = r.Token
		}
	}
	signed, err := testenv.VerifyJWT(&key.PublicKey, bearer)
	if err != nil {
		t.Fatalf("the read's bearer token: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(signed, &claims); err != nil {
		t.Fatalf("claims: %v", err)
	}
	if claims["iss"] != g.Email || claims["sub"] != g.Email || claims["scope"] != "https://www.googleapis.com/auth/devstorage.read_only" || claims["aud"] != nil {
		t.Errorf("claims %v, want iss = sub = %s, the read-only scope, no aud", claims, g.Email)
	}
}

// TestNoCloudClientLinked: the fetcher is net/http and the standard
// library; Google's Cloud client modules (some 25 MB in an agent's
// binary) must not come back.
func TestNoCloudClientLinked(t *testing.T) {
	out, err := exec.Command(testenv.LookPath(t, "go"), "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		for _, bad := range []string{"cloud.google.com/", "google.golang.org/api", "google.golang.org/grpc", "golang.org/x/oauth2", "go.opentelemetry.io/"} {
			if strings.HasPrefix(p, bad) {
				t.Errorf("gcsfetch depends on %s", p)
			}
		}
	}
}
