package testenv

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// GCS is an in-process Cloud Storage server (github.com/fsouza/fake-gcs-server's
// fakestorage, in memory) on a loopback port, behind Google's OAuth 2.0
// service account flow: its /token endpoint takes a JWT-bearer grant
// signed with the one service account key it knows (RS256), as
// oauth2.googleapis.com does, and every other request must carry a token
// it issued. So a wrong key is refused at the token endpoint and a
// missing token by storage, as Google refuses them. Every request is
// recorded (method, path, Range, status) and a fault may be injected.
type GCS struct {
	URL string // http://127.0.0.1:port
	// CredentialsJSON is the service account key (type service_account)
	// the server accepts; its token_uri is URL + "/token".
	CredentialsJSON []byte
	Email           string

	fake   *fakestorage.Server
	ts     *httptest.Server
	key    *rsa.PrivateKey
	mu     sync.Mutex
	tokens map[string]bool
	// lifetime is the expires_in of the tokens it issues (seconds).
	lifetime int
	reqs     []GCSRequest
	inject   func(next http.Handler) http.Handler
}

// GCSRequest is what the server saw of one request.
type GCSRequest struct {
	Method, Path, Range string
	// Query is the raw query (a read pinned to a generation has
	// generation=N).
	Query string
	// Token is the bearer token the request carried ("" for none).
	Token string
	// Status is what it answered (0 until it did).
	Status int
}

// StartGCS starts the server for a test, with the buckets made, and stops
// it when the test ends.
func StartGCS(t testing.TB, buckets ...string) *GCS {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	// fakestorage serves XML-API reads (GET /bucket/object) on its
	// public host only: that is this address.
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true, Scheme: "http", PublicHost: addr})
	if err != nil {
		l.Close()
		t.Fatalf("gcs: %v", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	g := &GCS{URL: "http://" + addr, Email: "fetch@edgewright-test.iam.gserviceaccount.com", fake: fake, key: key, tokens: map[string]bool{}, lifetime: 3600}
	if g.CredentialsJSON, err = ServiceAccountJSON(key, g.Email, g.URL+"/token"); err != nil {
		t.Fatal(err)
	}
	for _, b := range buckets {
		fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	inner := fake.HTTPHandler()
	g.ts = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &answerRecorder{ResponseWriter: w}
		bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		i := g.record(GCSRequest{Method: r.Method, Path: r.URL.Path, Range: r.Header.Get("Range"), Query: r.URL.RawQuery, Token: bearer})
		defer func() { g.setStatus(i, rec.status) }()
		g.mu.Lock()
		inject := g.inject
		g.mu.Unlock()
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				g.token(w, r)
				return
			}
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			g.mu.Lock()
			known := ok && g.tokens[tok]
			g.mu.Unlock()
			if !known {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"error":{"code":401,"message":"Invalid Credentials","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError"}]}}`)
				return
			}
			inner.ServeHTTP(w, r)
		})
		if inject != nil {
			h = inject(h)
		}
		h.ServeHTTP(rec, r)
	})}}
	g.ts.Start()
	t.Cleanup(func() {
		g.ts.Close()
		fake.Stop()
	})
	return g
}

// Put stores an object.
func (g *GCS) Put(bucket, name string, data []byte) {
	g.fake.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name, ContentType: "application/octet-stream"}, Content: data})
}

// CreateBucket makes a bucket; a versioned one keeps an object's older
// generations readable when it is replaced.
func (g *GCS) CreateBucket(name string, versioned bool) {
	g.fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name, VersioningEnabled: versioned})
}

// SetTokenLifetime sets the expires_in, in seconds, of the tokens issued
// from now on (3600, as Google's, until set).
func (g *GCS) SetTokenLifetime(seconds int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lifetime = seconds
}

// ExpireTokens makes every token issued so far refused (401), as Google
// refuses an expired or revoked one.
func (g *GCS) ExpireTokens() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.tokens)
}

// Requests is what the server has seen, in order.
func (g *GCS) Requests() []GCSRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GCSRequest(nil), g.reqs...)
}

// Inject sets (or with nil clears) a fault: f wraps the server's handler
// (token endpoint included) until cleared.
func (g *GCS) Inject(f func(next http.Handler) http.Handler) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inject = f
}

func (g *GCS) record(r GCSRequest) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reqs = append(g.reqs, r)
	return len(g.reqs) - 1
}

func (g *GCS) setStatus(i, status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	g.reqs[i].Status = status
}

// token answers a JWT-bearer grant (RFC 7523) as Google's token endpoint
// does: the assertion must be signed by the service account's key, name
// it as issuer and this endpoint as audience, and ask for a storage scope.
func (g *GCS) token(w http.ResponseWriter, r *http.Request) {
	refuse := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		refuse("invalid_request", "POST a form")
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		refuse("unsupported_grant_type", "Invalid grant_type")
		return
	}
	raw, err := VerifyJWT(&g.key.PublicKey, r.PostForm.Get("assertion"))
	if err != nil {
		refuse("invalid_grant", "Invalid JWT Signature.")
		return
	}
	var claims struct {
		Iss   string `json:"iss"`
		Aud   string `json:"aud"`
		Scope string `json:"scope"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		refuse("invalid_grant", "Invalid JWT claims")
		return
	}
	if claims.Iss != g.Email || claims.Aud != g.URL+"/token" || !strings.Contains(claims.Scope, "devstorage") {
		refuse("invalid_grant", "Invalid JWT: iss, aud or scope")
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := "ya29.test-" + hex.EncodeToString(b)
	g.mu.Lock()
	g.tokens[tok] = true
	lifetime := g.lifetime
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": lifetime, "token_type": "Bearer"})
}

// VerifyJWT checks a JWT's RS256 signature by pub and returns its claim
// set (JSON).
func VerifyJWT(pub *rsa.PublicKey, jwt string) ([]byte, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("jwt: %d parts, want 3", len(parts))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("jwt: signature: %w", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return nil, fmt.Errorf("jwt: not signed by the key (RS256): %w", err)
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("jwt: claims: %w", err)
	}
	return claims, nil
}

// ServiceAccountJSON is a service account key file for key, as the
// console writes one.
func ServiceAccountJSON(key *rsa.PrivateKey, email, tokenURI string) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(map[string]string{
		"type":           "service_account",
		"project_id":     "edgewright-test",
		"private_key_id": "0123456789abcdef",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "100000000000000000001",
		"token_uri":      tokenURI,
	}, "", "  ")
}
