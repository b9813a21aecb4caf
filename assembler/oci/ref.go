package oci

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Registry is where a container-registry datastore points: a host and the
// scheme policy its fqdn asked for.
type Registry struct {
	// Host is host[:port] as dialed.
	Host string
	// Scheme is "https", "http" (plain, loopback only) or "" for
	// docker://: TLS, falling back to plain HTTP for a loopback host only.
	Scheme string
	// Prefix is an optional repository prefix from the fqdn's path.
	Prefix string
}

// ParseDatastore parses a container-registry datastore's fqdn:
// `docker://host[:port][/prefix]`, `https://…`, `http://…` (loopback only)
// or a bare `host[:port]` (as docker://).
func ParseDatastore(fqdn string) (Registry, error) {
	s := strings.TrimSpace(fqdn)
	if s == "" {
		return Registry{}, fmt.Errorf("datastore fqdn %q: empty", fqdn)
	}
	if !strings.Contains(s, "://") {
		s = "docker://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return Registry{}, fmt.Errorf("datastore fqdn %q: %w", fqdn, err)
	}
	var r Registry
	switch u.Scheme {
	case "docker", "oci":
	case "https":
		r.Scheme = "https"
	case "http":
		r.Scheme = "http"
	default:
		return Registry{}, fmt.Errorf("datastore fqdn %q: scheme %q is not docker, https or http", fqdn, u.Scheme)
	}
	if u.Host == "" {
		return Registry{}, fmt.Errorf("datastore fqdn %q: no host", fqdn)
	}
	if u.User != nil {
		return Registry{}, fmt.Errorf("datastore fqdn %q: credentials belong in apiKey and password, not the fqdn", redactURL(u))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Registry{}, fmt.Errorf("datastore fqdn %q: query or fragment not allowed", fqdn)
	}
	r.Host = u.Host
	if h := u.Host; h == "docker.io" || h == "index.docker.io" {
		r.Host = "registry-1.docker.io"
	}
	r.Prefix = strings.Trim(u.Path, "/")
	if r.Prefix != "" && !repoRE.MatchString(r.Prefix) {
		return Registry{}, fmt.Errorf("datastore fqdn %q: path %q is not a repository prefix", fqdn, r.Prefix)
	}
	if r.Scheme == "http" && !IsLoopback(r.Host) {
		return Registry{}, &InsecureError{Host: r.Host}
	}
	return r, nil
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// IsLoopback reports whether host (host[:port]) names the loopback
// interface: localhost, 127.0.0.0/8 or ::1. Names are not resolved, as
// Docker does not resolve them for its insecure-registry default either.
func IsLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Reference is a content tree's URL within a registry: a repository and a
// tag or a digest.
type Reference struct {
	Repository string
	Tag        string
	Digest     digest.Digest
}

// String renders the reference as `repo@digest` or `repo:tag`.
func (r Reference) String() string {
	if r.Digest != "" {
		return r.Repository + "@" + r.Digest.String()
	}
	return r.Repository + ":" + r.Tag
}

// Ref is what the manifests endpoint is asked for: the digest if known,
// else the tag.
func (r Reference) Ref() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

var (
	repoRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// ParseReference parses a content tree URL `repo:tag`, `repo@sha256:…` or
// `repo:tag@sha256:…` (the digest wins) relative to reg. A bare `repo`
// means `repo:latest`, as Docker reads it. On Docker Hub a one-component
// repository gets the `library/` prefix.
func ParseReference(reg Registry, contentURL string) (Reference, error) {
	s := strings.TrimSpace(contentURL)
	if s == "" {
		return Reference{}, fmt.Errorf("content tree url %q: empty", contentURL)
	}
	var ref Reference
	if name, dg, ok := strings.Cut(s, "@"); ok {
		d, err := digest.Parse(dg)
		if err != nil {
			return Reference{}, fmt.Errorf("content tree url %q: digest %q: %w", contentURL, dg, err)
		}
		ref.Digest = d
		s = name
	}
	// The tag is after the last colon that follows the last slash (a
	// colon before a slash would be a host's port).
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		ref.Tag = s[i+1:]
		s = s[:i]
		if !tagRE.MatchString(ref.Tag) {
			return Reference{}, fmt.Errorf("content tree url %q: tag %q is not a valid tag", contentURL, ref.Tag)
		}
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest"
	}
	// A URL that repeats the registry host is accepted.
	if first, rest, ok := strings.Cut(s, "/"); ok && (first == reg.Host || (reg.Host == "registry-1.docker.io" && (first == "docker.io" || first == "index.docker.io"))) {
		s = rest
	}
	if reg.Prefix != "" {
		s = reg.Prefix + "/" + s
	}
	if reg.Host == "registry-1.docker.io" && !strings.Contains(s, "/") {
		s = "library/" + s
	}
	if !repoRE.MatchString(s) {
		return Reference{}, fmt.Errorf("content tree url %q: repository %q is not a valid repository name", contentURL, s)
	}
	ref.Repository = s
	return ref, nil
}

// MaxRedirects bounds the redirects one request follows.
const MaxRedirects = 5

// SameOrigin reports whether a and b share scheme, host and port (the
// default port filled in), the unit credentials are scoped to.
func SameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if strings.EqualFold(u.Scheme, "https") {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// CheckRedirect is the redirect rule for credentialed requests: at most
// MaxRedirects, never from https down to http, and Authorization only to
// the first request's origin. Go keeps Authorization on a redirect to
// another port of the same host, so it is decided here per request.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("redirect to %s: stopped after %d redirects, the bound", req.URL.Redacted(), MaxRedirects)
	}
	first := via[0]
	if strings.EqualFold(first.URL.Scheme, "https") && !strings.EqualFold(req.URL.Scheme, "https") {
		return fmt.Errorf("redirect from %s to %s: refused, https must not downgrade to %s", first.URL.Redacted(), req.URL.Redacted(), req.URL.Scheme)
	}
	if SameOrigin(req.URL, first.URL) {
		if a := first.Header.Get("Authorization"); a != "" {
			req.Header.Set("Authorization", a)
		}
	} else {
		req.Header.Del("Authorization")
	}
	return nil
}
