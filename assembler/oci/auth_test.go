package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// tokenServer is a loopback registry token endpoint: it checks basic
// credentials and issues `tok-<n>` tokens for the asked scope.
type tokenServer struct {
	user, pass string
	mu         sync.Mutex
	issued     map[string]string // token → scope
	requests   []string          // scope of each request
	auths      []string          // Authorization header of each request
	url        string            // the realm on its own origin
	handler    http.Handler
	// sameOrigin serves the realm from the registry's origin (/token),
	// the only realm the datastore's credentials may go to.
	sameOrigin bool
}

func newTokenServer(t *testing.T, user, pass string) *tokenServer {
	ts := &tokenServer{user: user, pass: pass, issued: map[string]string{}}
	ts.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		scope := r.URL.Query().Get("scope")
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.requests = append(ts.requests, scope)
		ts.auths = append(ts.auths, r.Header.Get("Authorization"))
		if !ok || u != ts.user || p != ts.pass || r.URL.Query().Get("service") != "edge-test" {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		tok := fmt.Sprintf("tok-%d", len(ts.issued))
		ts.issued[tok] = scope
		json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 300})
	})
	s := httptest.NewServer(ts.handler)
	t.Cleanup(s.Close)
	ts.url = s.URL + "/token"
	return ts
}

// requireBearer wraps a registry to demand a token for the repository's
// pull scope, as distribution's token auth does.
func (ts *tokenServer) requireBearer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			h.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/token" && ts.sameOrigin {
			ts.handler.ServeHTTP(w, r)
			return
		}
		realm := ts.url
		if ts.sameOrigin {
			realm = "http://" + r.Host + "/token"
		}
		repo := strings.TrimPrefix(r.URL.Path, "/v2/")
		if i := strings.Index(repo, "/manifests/"); i >= 0 {
			repo = repo[:i]
		} else if i := strings.Index(repo, "/blobs/"); i >= 0 {
			repo = repo[:i]
		}
		scope := "repository:" + repo + ":pull"
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		ts.mu.Lock()
		got, ok := ts.issued[tok]
		ts.mu.Unlock()
		if !ok || got != scope {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="edge-test",scope=%q`, realm, scope))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func requireBasic(user, pass string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="edge"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

// pullAll resolves, walks and fetches every blob of repo:v1.
func pullAll(ctx context.Context, c *Client, repo string) error {
	ref, err := c.ParseReference(repo + ":v1")
	if err != nil {
		return err
	}
	top, err := c.Resolve(ctx, ref)
	if err != nil {
		return err
	}
	tree, err := c.Walk(ctx, ref.Repository, top)
	if err != nil {
		return err
	}
	for _, d := range append([]Descriptor{tree.Config}, tree.Layers...) {
		var sink bufSink
		if _, err := c.FetchBlob(ctx, ref.Repository, d, &sink, Resume{}); err != nil {
			return err
		}
	}
	return nil
}

func TestTokenAuth(t *testing.T) {
	ctx := context.Background()
	const user, pass = "edge-device", "s3cret-Pa55"
	ts := newTokenServer(t, user, pass)
	ts.sameOrigin = true
	reg := newTestRegistry(t, ts.requireBearer)
	img := randomImage(t, 4096, 2)
	pushImage(t, reg.push, "private/app:v1", img)
	pushImage(t, reg.push, "private/other:v1", img)

	core, logs := observer.New(zapcore.DebugLevel)
	c, err := New("docker://"+reg.serve, Options{Username: user, Password: pass, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"private/app", "private/app", "private/other"} {
		if err := pullAll(ctx, c, repo); err != nil {
			t.Fatalf("pull %s: %v", repo, err)
		}
	}
	// One token per scope, reused for every request in it.
	ts.mu.Lock()
	reqs := append([]string(nil), ts.requests...)
	ts.mu.Unlock()
	want := []string{"repository:private/app:pull", "repository:private/other:pull"}
	if strings.Join(reqs, ",") != strings.Join(want, ",") {
		t.Fatalf("token requests %q, want %q", reqs, want)
	}
	var all bytes.Buffer
	for _, e := range logs.All() {
		fmt.Fprintf(&all, "%s %v\n", e.Message, e.ContextMap())
	}
	if all.Len() == 0 {
		t.Fatal("no debug log lines to check")
	}
	if strings.Contains(all.String(), pass) || strings.Contains(all.String(), "tok-") {
		t.Fatalf("log leaks a credential:\n%s", all.String())
	}

	// Wrong password: a typed error that names neither secret.
	bad, _ := New("docker://"+reg.serve, Options{Username: user, Password: "wrong-pass"})
	err = pullAll(ctx, bad, "private/app")
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want AuthError", err)
	}
	if strings.Contains(err.Error(), "wrong-pass") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func TestBasicAuth(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t, requireBasic("u", "p"))
	pushImage(t, reg.push, "basic:v1", randomImage(t, 2048, 1))
	tests := []struct {
		user, pass string
		wantErr    bool
	}{
		{"u", "p", false},
		{"u", "nope", true},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.user+":"+tt.pass, func(t *testing.T) {
			c, _ := New("docker://"+reg.serve, Options{Username: tt.user, Password: tt.pass})
			err := pullAll(ctx, c, "basic")
			var ae *AuthError
			if tt.wantErr != errors.As(err, &ae) {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

// TestTokenRealmMustBeTLS: a Bearer challenge pointing credentials at a
// plain-HTTP realm off loopback is refused before anything is sent there.
func TestTokenRealmMustBeTLS(t *testing.T) {
	reg := newTestRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				h.ServeHTTP(w, r)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://auth.example.com/token",service="x"`)
			w.WriteHeader(http.StatusUnauthorized)
		})
	})
	var d dialRecorder
	c, _ := New("docker://"+reg.serve, Options{Username: "u", Password: "secret", PlainHTTP: true, Transport: d.transport()})
	_, err := c.Resolve(context.Background(), Reference{Repository: "app", Tag: "v1"})
	var ae *AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "auth.example.com") {
		t.Fatalf("err = %v, want AuthError naming the realm host", err)
	}
	close(d.addrs)
	for a := range d.addrs {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("dialed %s", a)
		}
	}
}

// A token realm on another origin than the registry never receives the
// datastore's Basic credentials: it is asked anonymously and here refuses.
func TestTokenRealmOtherOriginGetsNoCredentials(t *testing.T) {
	ctx := context.Background()
	const user, pass = "edge-device", "s3cret-Pa55"
	ts := newTokenServer(t, user, pass)
	reg := newTestRegistry(t, ts.requireBearer)
	pushImage(t, reg.push, "private/app:v1", randomImage(t, 1024, 1))
	c, err := New("docker://"+reg.serve, Options{Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	err = pullAll(ctx, c, "private/app")
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("pull with a foreign realm: %v, want an AuthError", err)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.auths) == 0 {
		t.Fatal("the realm was never asked")
	}
	for i, a := range ts.auths {
		if a != "" {
			t.Fatalf("token request %d to a foreign realm carried Authorization %q", i, a)
		}
	}
}

// A registry that redirects blob GETs to another port of the same host
// (its storage) must not hand that origin the datastore's credentials.
func TestBlobRedirectOtherPortGetsNoCredentials(t *testing.T) {
	ctx := context.Background()
	const user, pass = "edge-device", "s3cret-Pa55"
	reg := newTestRegistry(t, nil)
	pushImage(t, reg.push, "private/app:v1", randomImage(t, 1024, 1))
	var mu sync.Mutex
	var storage []string
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		storage = append(storage, r.Header.Get("Authorization"))
		mu.Unlock()
		r2 := r.Clone(r.Context())
		r2.URL.Scheme, r2.URL.Host, r2.RequestURI = "http", reg.push, ""
		r2.Header.Del("Authorization")
		resp, err := http.DefaultClient.Do(r2)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(store.Close)
	front := httptest.NewServer(requireBasic(user, pass)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/") {
			http.Redirect(w, r, store.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Scheme, r2.URL.Host, r2.RequestURI = "http", reg.push, ""
		resp, err := http.DefaultClient.Do(r2)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})))
	t.Cleanup(front.Close)
	c, err := New("docker://"+hostOf(front.URL), Options{Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	if err := pullAll(ctx, c, "private/app"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(storage) == 0 {
		t.Fatal("no blob went through the storage origin")
	}
	for i, a := range storage {
		if a != "" {
			t.Fatalf("storage request %d (another port) carried Authorization %q", i, a)
		}
	}
}
