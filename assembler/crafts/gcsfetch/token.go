package gcsfetch

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

const (
	// googleTokenURL is where a key without token_uri exchanges its JWT.
	googleTokenURL = "https://oauth2.googleapis.com/token"
	// scopeReadOnly is all a fetch needs: the token cannot write or delete.
	scopeReadOnly = "https://www.googleapis.com/auth/devstorage.read_only"
	// googleUniverse is Google's own cloud; a key of another universe
	// (a partner cloud) has no token endpoint to exchange a JWT at.
	googleUniverse = "googleapis.com"
	// maxKeyBytes bounds the password read as a key: the console's key
	// file is about 2.3 KB.
	maxKeyBytes = 64 << 10
	// maxTokenBody bounds a token endpoint's answer (Google's is under
	// 2 KB), refused or not.
	maxTokenBody = 64 << 10
	// maxTokenBytes bounds the access token itself (Google's are at most
	// 2 KB); it goes into a header of every read.
	maxTokenBytes = 8 << 10
	// earlyExpiry: a cached token is renewed this long before the token
	// endpoint said it expires (as Google's own clients do), so none
	// expires between the cache and the storage endpoint.
	earlyExpiry = 225 * time.Second
	// assertionLife is how long a signed JWT is good for (Google's limit).
	assertionLife = time.Hour
	// clockSkew backdates a JWT's issue time, so a device clock slightly
	// ahead of Google's does not make the assertion "not yet valid".
	clockSkew = 10 * time.Second
)

// serviceAccount is what the fetcher reads of a service account key
// file; nothing in it names a command or a file to read.
type serviceAccount struct {
	Type           string `json:"type"`
	ClientEmail    string `json:"client_email"`
	PrivateKey     string `json:"private_key"`
	PrivateKeyID   string `json:"private_key_id"`
	TokenURI       string `json:"token_uri"`
	UniverseDomain string `json:"universe_domain"`
}

// account is a parsed service account key: who signs, with what, and
// where the signed JWT is exchanged for a token.
type account struct {
	email, keyID string
	key          *rsa.PrivateKey
	tokenURL     string
	// selfSigned: the key is of another universe than Google's, where
	// there is no token exchange: the JWT, with the scope in it, is
	// itself the bearer token (as Google's own clients do there).
	selfSigned bool
}

// parseKey reads a datastore's password as a service account key. Its
// errors name what is wrong (the type found, a syntax error's offset),
// never any of the key.
func parseKey(ds materials.Datastore) (*account, error) {
	refuse := func(format string, a ...any) error {
		return device.Terminal("datastore %s: password is not a service account key (JSON of type service_account): "+format, append([]any{ds.ID}, a...)...)
	}
	if len(ds.Password) > maxKeyBytes {
		return nil, refuse("%d bytes, more than the %d a key file may be", len(ds.Password), maxKeyBytes)
	}
	var sa serviceAccount
	if err := json.Unmarshal([]byte(ds.Password), &sa); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			// The syntax error's text quotes a character of the password.
			return nil, refuse("not JSON (syntax error at byte %d)", se.Offset)
		}
		return nil, refuse("a field of the wrong JSON type")
	}
	if sa.Type != "service_account" {
		if len(sa.Type) > 40 {
			return nil, refuse("its type is %d bytes long", len(sa.Type))
		}
		return nil, refuse("its type is %q", sa.Type)
	}
	if sa.ClientEmail == "" {
		return nil, refuse("client_email is empty")
	}
	if sa.PrivateKey == "" {
		return nil, refuse("private_key is empty")
	}
	key, why := rsaKey(sa.PrivateKey)
	if why != "" {
		return nil, refuse("%s", why)
	}
	a := &account{email: sa.ClientEmail, keyID: sa.PrivateKeyID, key: key, tokenURL: googleTokenURL}
	if ud := strings.TrimSpace(sa.UniverseDomain); ud != "" && ud != googleUniverse {
		a.selfSigned = true
		return a, nil
	}
	if sa.TokenURI != "" {
		u, why := tokenURI(sa.TokenURI)
		if why != "" {
			return nil, refuse("%s", why)
		}
		a.tokenURL = u
	}
	return a, nil
}

// rsaKey is the key's RSA private key, PEM or bare DER, PKCS #8 or
// PKCS #1; else why not (never quoting the key).
func rsaKey(text string) (*rsa.PrivateKey, string) {
	der := []byte(text)
	if b, _ := pem.Decode(der); b != nil {
		der = b.Bytes
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Sprintf("private_key is a %T, not an RSA key (RS256 is what Google signs with)", k)
		}
		return rk, ""
	}
	if rk, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return rk, ""
	}
	return nil, "private_key is not an RSA private key in PKCS #8 or PKCS #1"
}

// tokenURI is the key's token endpoint, an http(s) URL with a host and
// no credentials of its own; else why not.
func tokenURI(raw string) (string, string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", "token_uri does not parse"
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Sprintf("token_uri scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return "", "token_uri has no host"
	case u.User != nil:
		return "", "token_uri carries credentials"
	}
	return u.String(), ""
}

// token is an access token and when to stop using it.
type token struct {
	value string
	// renew is when the token is to be replaced (zero: use it once).
	renew time.Time
}

// jwt signs a claim set with the key (RS256, RFC 7515). aud is the
// token endpoint for an exchange, "" for a self-signed token.
func (a *account) jwt(now time.Time, aud string) (string, error) {
	head := struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid,omitempty"`
	}{"RS256", "JWT", a.keyID}
	iat := now.Add(-clockSkew)
	claims := struct {
		Iss   string `json:"iss"`
		Sub   string `json:"sub,omitempty"`
		Scope string `json:"scope"`
		Aud   string `json:"aud,omitempty"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}{Iss: a.email, Scope: scopeReadOnly, Aud: aud, Iat: iat.Unix(), Exp: iat.Add(assertionLife).Unix()}
	if aud == "" {
		claims.Sub = a.email
	}
	h, err := json.Marshal(head)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signed := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign the token request: %w", err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// newToken gets a token for the account: from its token endpoint by a
// JWT-bearer grant (RFC 7523), or self-signed in another universe. hc
// follows no redirect: the assertion goes only to the endpoint the key
// names, which is its audience.
func newToken(ctx context.Context, hc *http.Client, ds materials.Datastore, o Object, a *account) (token, error) {
	now := time.Now()
	if a.selfSigned {
		v, err := a.jwt(now, "")
		if err != nil {
			return token{}, device.Terminal("datastore %s: %v", ds.ID, err)
		}
		return token{value: v, renew: now.Add(assertionLife - clockSkew - earlyExpiry)}, nil
	}
	assertion, err := a.jwt(now, a.tokenURL)
	if err != nil {
		return token{}, device.Terminal("datastore %s: %v", ds.ID, err)
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return token{}, device.Terminal("datastore %s: token_uri: %v", ds.ID, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return token{}, ctx.Err()
		}
		return token{}, device.Retryable(fmt.Errorf("datastore %s: token request: %w", ds.ID, err))
	}
	defer resp.Body.Close()
	s := resp.StatusCode
	body, err := readBounded(resp.Body, maxTokenBody)
	var tooLong *tooLongError
	switch {
	case ctx.Err() != nil:
		return token{}, ctx.Err()
	case errors.As(err, &tooLong) && s >= 200 && s <= 299:
		return token{}, device.Terminal("datastore %s: token request: %d answered more than %d bytes", ds.ID, s, maxTokenBody)
	case errors.As(err, &tooLong):
		// A refusal is one by its status; its body is not read further.
		body = nil
	case err != nil:
		return token{}, device.Retryable(fmt.Errorf("datastore %s: token request: %d: read the answer: %w", ds.ID, s, err))
	}
	switch {
	case s >= 500 || s == http.StatusTooManyRequests || s == http.StatusRequestTimeout:
		return token{}, device.Retryable(fmt.Errorf("datastore %s: token request: %d", ds.ID, s))
	case s < 200 || s > 299:
		var refused struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &refused)
		code := "token: " + strconv.Itoa(s)
		if word(refused.Error) {
			code += " " + refused.Error
		}
		return token{}, &AuthError{Datastore: ds.ID, Bucket: o.Bucket, Code: code}
	}
	return tokenFrom(ds, s, body, now)
}

// tokenFrom reads a token endpoint's 2xx answer: a Bearer access token
// that can go in a header, renewed earlyExpiry before it expires (or
// used once when the answer gives no lifetime).
func tokenFrom(ds materials.Datastore, s int, body []byte, now time.Time) (token, error) {
	var got struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		return token{}, device.Retryable(fmt.Errorf("datastore %s: token request: %d with an answer that is not a token (JSON)", ds.ID, s))
	}
	switch {
	case got.AccessToken == "":
		return token{}, device.Retryable(fmt.Errorf("datastore %s: token request: %d with no access_token", ds.ID, s))
	case len(got.AccessToken) > maxTokenBytes || !headerSafe(got.AccessToken):
		return token{}, device.Terminal("datastore %s: token request: %d with an access_token that cannot be a header (%d bytes)", ds.ID, s, len(got.AccessToken))
	case got.TokenType != "" && !strings.EqualFold(got.TokenType, "Bearer"):
		return token{}, device.Terminal("datastore %s: token request: token_type %.20q, not Bearer", ds.ID, got.TokenType)
	}
	t := token{value: got.AccessToken}
	if got.ExpiresIn > 0 && time.Duration(got.ExpiresIn)*time.Second > earlyExpiry {
		t.renew = now.Add(time.Duration(got.ExpiresIn)*time.Second - earlyExpiry)
	}
	return t, nil
}

// word: s is a short token of the kind OAuth error codes and Cloud
// Storage reasons are (invalid_grant, AccessDenied), safe to put in an
// error; anything else from the server stays out of it.
func word(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// headerSafe: s is visible ASCII, as a bearer token is (RFC 6750).
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// tooLongError: a body went past its bound.
type tooLongError struct{ limit int64 }

func (e *tooLongError) Error() string { return fmt.Sprintf("more than %d bytes", e.limit) }

// readBounded reads all of r, or fails past limit bytes.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, &tooLongError{limit}
	}
	return b.Bytes(), nil
}

// tokenKey names a cached token: the key it came from (by digest, so the
// cache holds no key) and the one storage origin it may be sent to.
type tokenKey struct {
	key    [sha256.Size]byte
	origin string
}

// maxCachedTokens bounds the cache: a device has a handful of datastores.
const maxCachedTokens = 64

// cachedToken is the fetcher's token for a key and storage origin, when
// it has one not yet due for renewal.
func (f *Fetcher) cachedToken(k tokenKey) (token, bool) {
	t, ok := f.tokens.get(k)
	if ok && time.Now().Before(t.renew) {
		return t, true
	}
	return token{}, false
}

// keepToken caches a token that may be used more than once.
func (f *Fetcher) keepToken(k tokenKey, t token) {
	if t.renew.IsZero() {
		return
	}
	f.tokens.put(k, t, maxCachedTokens)
}
