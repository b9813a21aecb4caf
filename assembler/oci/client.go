package oci

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/materials"
)

// Options configure a Client.
type Options struct {
	// Username and Password are the datastore's apiKey and password. They
	// answer a Basic challenge or authenticate to a Bearer token realm.
	Username, Password string
	// RootCAs are extra PEM certificates trusted besides the system's
	// (the datastore's dsCertPEM).
	RootCAs [][]byte
	// Transport is the base round tripper; nil means a clone of
	// http.DefaultTransport with RootCAs. Tests inject faults here.
	Transport http.RoundTripper
	// PlainHTTP forces plain HTTP; refused unless the host is loopback.
	PlainHTTP bool
	// Platform picks a manifest from an index; zero means linux/amd64.
	Platform Platform
	// Logger gets debug lines (never credentials); nil means none.
	Logger *zap.Logger
	// UserAgent; empty means "edgewright".
	UserAgent string
}

// Client talks to one registry.
type Client struct {
	reg      Registry
	hc       *http.Client
	user     string
	pass     string
	platform Platform
	log      *zap.Logger
	ua       string

	mu       sync.Mutex
	scheme   string           // resolved scheme; "" until negotiated
	tokens   map[string]token // by scope
	basic    bool             // the registry answered with a Basic challenge
	lastAuth challenge        // the last Bearer challenge, realm and service reused for new scopes
}

type token struct {
	value   string
	expires time.Time
}

// New makes a client for the registry a datastore fqdn names. A plain-HTTP
// request for a non-loopback host fails here with *InsecureError, before
// anything is dialed.
func New(fqdn string, opts Options) (*Client, error) {
	reg, err := ParseDatastore(fqdn)
	if err != nil {
		return nil, err
	}
	if opts.PlainHTTP {
		if !IsLoopback(reg.Host) {
			return nil, &InsecureError{Host: reg.Host}
		}
		reg.Scheme = "http"
	}
	rt := opts.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if len(opts.RootCAs) > 0 {
			pool, err := CertPool(opts.RootCAs)
			if err != nil {
				return nil, fmt.Errorf("datastore %s: %w", reg.Host, err)
			}
			t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		rt = t
	}
	c := &Client{
		reg:      reg,
		user:     opts.Username,
		pass:     opts.Password,
		platform: opts.Platform,
		log:      opts.Logger,
		ua:       opts.UserAgent,
		scheme:   reg.Scheme,
		tokens:   map[string]token{},
	}
	if c.platform == (Platform{}) {
		c.platform = DefaultPlatform
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.ua == "" {
		c.ua = "edgewright"
	}
	c.hc = &http.Client{
		Transport: rt,
		// Registries redirect blob GETs to storage; the redirect keeps
		// the plain-HTTP rule, and credentials stay with their origin.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" && !IsLoopback(req.URL.Host) {
				return &InsecureError{Host: req.URL.Host}
			}
			return CheckRedirect(req, via)
		},
	}
	return c, nil
}

// FromDatastore makes a client for a container-registry datastore, with
// its apiKey and password as credentials and its dsCertPEM as extra roots.
// opts' own credentials and roots, when set, win.
func FromDatastore(ds materials.Datastore, opts Options) (*Client, error) {
	if ds.Type != materials.DatastoreContainerRegistry && ds.Type != materials.DatastoreUnknown {
		return nil, fmt.Errorf("datastore %s: type %q is not %q", ds.ID, ds.Type, materials.DatastoreContainerRegistry)
	}
	if opts.Username == "" && opts.Password == "" {
		opts.Username, opts.Password = ds.APIKey, ds.Password
	}
	if opts.RootCAs == nil {
		opts.RootCAs = ds.CertPEM
	}
	c, err := New(ds.FQDN, opts)
	if err != nil {
		return nil, fmt.Errorf("datastore %s: %w", ds.ID, err)
	}
	return c, nil
}

// Registry is the registry this client talks to.
func (c *Client) Registry() Registry { return c.reg }

// ParseReference parses a content tree URL relative to this registry.
func (c *Client) ParseReference(contentURL string) (Reference, error) {
	return ParseReference(c.reg, contentURL)
}

// request describes one idempotent GET or HEAD, rebuilt for each try.
type request struct {
	method string
	repo   string // for the pull scope
	path   string // after /v2/
	header http.Header
}

// do sends r, negotiating the scheme and answering auth challenges. The
// caller closes the body. A non-2xx answer is returned as *HTTPError, except
// the statuses in ok.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	scheme, err := c.schemeFor(ctx)
	if err != nil {
		return nil, err
	}
	scope := "repository:" + r.repo + ":pull"
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, r.method, scheme+"://"+c.reg.Host+"/v2/"+r.path, nil)
		if err != nil {
			return nil, fmt.Errorf("registry %s: build request: %w", c.reg.Host, err)
		}
		for k, v := range r.header {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", c.ua)
		c.authorize(req, scope)
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.method, req.URL.Redacted(), err)
		}
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 {
			if resp.StatusCode == http.StatusUnauthorized {
				drain(resp)
				return nil, &AuthError{Host: c.reg.Host, Scope: scope, Why: "registry answered 401 to our credentials"}
			}
			if resp.StatusCode >= 300 {
				defer drain(resp)
				return nil, httpError(req, resp)
			}
			return resp, nil
		}
		ch := parseChallenge(resp.Header.Values("WWW-Authenticate"))
		drain(resp)
		if err := c.answer(ctx, ch, scope); err != nil {
			return nil, err
		}
	}
}

// schemeFor returns the scheme to use, negotiating it once for docker://
// datastores: TLS, and for a loopback host only, plain HTTP when the TLS
// attempt fails, as Docker treats localhost as an insecure registry.
func (c *Client) schemeFor(ctx context.Context) (string, error) {
	c.mu.Lock()
	s := c.scheme
	c.mu.Unlock()
	if s != "" {
		return s, nil
	}
	if !IsLoopback(c.reg.Host) {
		c.mu.Lock()
		c.scheme = "https"
		c.mu.Unlock()
		return "https", nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+c.reg.Host+"/v2/", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.hc.Do(req)
	s = "https"
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("registry %s: %w", c.reg.Host, ctx.Err())
		}
		// Nothing listening says nothing about TLS: decide next time.
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return "", fmt.Errorf("registry %s: %w", c.reg.Host, err)
		}
		c.log.Debug("loopback registry does not speak TLS; using plain HTTP", zap.String("host", c.reg.Host), zap.Error(err))
		s = "http"
	} else {
		drain(resp)
	}
	c.mu.Lock()
	c.scheme = s
	c.mu.Unlock()
	return s, nil
}

func (c *Client) authorize(req *http.Request, scope string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tokens[scope]; ok && time.Now().Before(t.expires) {
		req.Header.Set("Authorization", "Bearer "+t.value)
		return
	}
	if c.basic && (c.user != "" || c.pass != "") {
		req.SetBasicAuth(c.user, c.pass)
	}
}

// answer handles a 401's challenge: remember Basic, or fetch a token.
func (c *Client) answer(ctx context.Context, ch challenge, scope string) error {
	switch ch.scheme {
	case "basic":
		if c.user == "" && c.pass == "" {
			return &AuthError{Host: c.reg.Host, Scope: scope, Why: "registry wants basic credentials and the datastore has none"}
		}
		c.mu.Lock()
		c.basic = true
		c.mu.Unlock()
		return nil
	case "bearer":
		if ch.params["realm"] == "" {
			return &AuthError{Host: c.reg.Host, Scope: scope, Why: "Bearer challenge without a realm"}
		}
		c.mu.Lock()
		c.lastAuth = ch
		c.mu.Unlock()
		return c.fetchToken(ctx, ch, scope)
	default:
		return &AuthError{Host: c.reg.Host, Scope: scope, Why: fmt.Sprintf("unsupported challenge %q", ch.scheme)}
	}
}

// fetchToken runs the registry token flow: GET realm?service=&scope= with
// basic auth from the datastore's credentials, and caches the token per
// scope.
func (c *Client) fetchToken(ctx context.Context, ch challenge, scope string) error {
	realm, err := url.Parse(ch.params["realm"])
	if err != nil {
		return &AuthError{Host: c.reg.Host, Scope: scope, Why: fmt.Sprintf("realm %q: %v", ch.params["realm"], err)}
	}
	if realm.Scheme != "https" && !(realm.Scheme == "http" && IsLoopback(realm.Host)) {
		return &AuthError{Host: c.reg.Host, Scope: scope, Why: (&InsecureError{Host: realm.Host}).Error()}
	}
	q := realm.Query()
	if s := ch.params["service"]; s != "" {
		q.Set("service", s)
	}
	// The challenge's scope is what the registry wants for this request;
	// ours is the same for a pull and is the cache key.
	if s := ch.params["scope"]; s != "" {
		q.Set("scope", s)
	} else {
		q.Set("scope", scope)
	}
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", c.ua)
	// The datastore's credentials go to the realm only when it is the
	// registry's own origin; a realm elsewhere gets an anonymous token
	// request (docker would send them anywhere the challenge names).
	if (c.user != "" || c.pass != "") && SameOrigin(realm, c.origin()) {
		req.SetBasicAuth(c.user, c.pass)
	} else if c.user != "" || c.pass != "" {
		c.log.Info("token realm is another origin than the registry: asking it without the datastore's credentials", zap.String("realm", realm.Host), zap.String("registry", c.reg.Host))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("registry %s: token for %q: %w", c.reg.Host, scope, err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return &AuthError{Host: c.reg.Host, Scope: scope, Why: fmt.Sprintf("token endpoint %s answered %d", realm.Host, resp.StatusCode)}
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return &AuthError{Host: c.reg.Host, Scope: scope, Why: fmt.Sprintf("token response: %v", err)}
	}
	t := body.Token
	if t == "" {
		t = body.AccessToken
	}
	if t == "" {
		return &AuthError{Host: c.reg.Host, Scope: scope, Why: "token response has no token"}
	}
	life := time.Duration(body.ExpiresIn) * time.Second
	if life < 60*time.Second {
		life = 60 * time.Second // the spec's default minimum
	}
	c.mu.Lock()
	c.tokens[scope] = token{value: t, expires: time.Now().Add(life - 10*time.Second)}
	c.mu.Unlock()
	c.log.Debug("registry token cached", zap.String("host", c.reg.Host), zap.String("scope", scope), zap.Duration("life", life))
	return nil
}

type challenge struct {
	scheme string
	params map[string]string
}

// parseChallenge reads the first usable WWW-Authenticate value:
// `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
func parseChallenge(values []string) challenge {
	for _, v := range values {
		scheme, rest, _ := cutSpace(v)
		ch := challenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
		for rest != "" {
			var key, val string
			rest = strings.TrimLeft(rest, " ,")
			i := strings.IndexByte(rest, '=')
			if i < 0 {
				break
			}
			key, rest = strings.ToLower(strings.TrimSpace(rest[:i])), strings.TrimSpace(rest[i+1:])
			if len(rest) > 0 && rest[0] == '"' {
				j := 1
				var b []byte
				for ; j < len(rest) && rest[j] != '"'; j++ {
					if rest[j] == '\\' && j+1 < len(rest) {
						j++
					}
					b = append(b, rest[j])
				}
				val = string(b)
				if j < len(rest) {
					j++
				}
				rest = rest[j:]
			} else {
				j := strings.IndexByte(rest, ',')
				if j < 0 {
					j = len(rest)
				}
				val, rest = strings.TrimSpace(rest[:j]), rest[j:]
			}
			ch.params[key] = val
		}
		if ch.scheme == "bearer" || ch.scheme == "basic" {
			return ch
		}
	}
	return challenge{}
}

func httpError(req *http.Request, resp *http.Response) error {
	e := &HTTPError{Method: req.Method, URL: req.URL.Redacted(), Status: resp.StatusCode}
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if req.Method != http.MethodHead && json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body) == nil && len(body.Errors) > 0 {
		e.Code, e.Message = body.Errors[0].Code, body.Errors[0].Message
	}
	return e
}

// drain reads a little of the body so the connection can be reused, then
// closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

func cutSpace(s string) (string, string, bool) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, "", false
	}
	return s[:i], strings.TrimSpace(s[i+1:]), true
}

// CertPool is the system's trusted roots plus a datastore's own
// certificates (dsCertPEM), for TLS to a datastore with a private CA.
func CertPool(pems [][]byte) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for i, pem := range pems {
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("dsCertPEM[%d]: no PEM certificate in it", i)
		}
	}
	return pool, nil
}

// origin is the registry's scheme, host and port as requests go to it.
func (c *Client) origin() *url.URL {
	c.mu.Lock()
	s := c.scheme
	c.mu.Unlock()
	if s == "" {
		s = "https"
	}
	return &url.URL{Scheme: s, Host: c.reg.Host}
}
