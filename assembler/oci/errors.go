package oci

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"
)

// InsecureError refuses plain HTTP to a host that is not loopback. It is
// returned before any connection is made.
type InsecureError struct{ Host string }

func (e *InsecureError) Error() string {
	return fmt.Sprintf("plain HTTP to registry %s refused: only loopback registries (localhost, 127.0.0.0/8, ::1) may skip TLS", e.Host)
}

// HTTPError is a registry's refusal, with the distribution error code when
// the body carried one.
type HTTPError struct {
	Method, URL string
	Status      int
	Code        string
	Message     string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// NotFound reports whether the registry said the manifest or blob does not
// exist.
func (e *HTTPError) NotFound() bool { return e.Status == http.StatusNotFound }

// IsNotFound reports whether err is a registry's 404.
func IsNotFound(err error) bool {
	var h *HTTPError
	return errors.As(err, &h) && h.NotFound()
}

// AuthError says the registry refused our credentials (or wanted some and
// we had none).
type AuthError struct {
	Host  string
	Scope string
	Why   string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("registry %s: authentication for %q failed: %s", e.Host, e.Scope, e.Why)
}

// DigestMismatchError says the bytes fetched do not hash to the digest asked
// for. The sink has been truncated to 0.
type DigestMismatchError struct {
	Want, Got digest.Digest
	What      string
}

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("%s: digest mismatch: want %s, got %s", e.What, e.Want, e.Got)
}

// SizeMismatchError says the registry sent more or fewer bytes than the
// descriptor's size.
type SizeMismatchError struct {
	Digest    digest.Digest
	Want, Got int64
}

func (e *SizeMismatchError) Error() string {
	return fmt.Sprintf("blob %s: size mismatch: want %d bytes, got %d", e.Digest, e.Want, e.Got)
}

// UnsupportedMediaTypeError names a manifest media type this client does
// not walk (Docker schema 1, or something that is not a manifest at all).
type UnsupportedMediaTypeError struct {
	MediaType string
	Digest    digest.Digest
}

func (e *UnsupportedMediaTypeError) Error() string {
	return fmt.Sprintf("manifest %s: unsupported media type %q", e.Digest, e.MediaType)
}

// NoPlatformError says an index has no manifest for the wanted platform.
type NoPlatformError struct {
	Want      Platform
	Available []string
}

func (e *NoPlatformError) Error() string {
	return fmt.Sprintf("index has no manifest for platform %s (has: %s)", e.Want, strings.Join(e.Available, ", "))
}
