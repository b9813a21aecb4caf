package gcsfetch

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/internal/dsconn"
	"github.com/edgewright/edgewright/assembler/crafts/internal/fetchbody"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// Fetcher is a device.Fetcher for Google Cloud Storage datastores.
type Fetcher struct {
	Logger *zap.Logger
	// Transport is cloned per fetch (to add the datastore's CA
	// certificates); http.DefaultTransport when nil.
	Transport *http.Transport

	// tokens and pins are kept between fetches; a Fetcher is not copied
	// once used.
	tokens memo[tokenKey, token]
	pins   memo[pinKey, int64]
}

var _ device.Fetcher = (*Fetcher)(nil)

// ErrAuth: Google refused the datastore's service account key, or the
// token it gave.
var ErrAuth = errors.New("google storage credentials refused")

// AuthError names the datastore whose key was refused and what refused
// it, and nothing of the key.
type AuthError struct {
	Datastore string
	Bucket    string
	// Code is the token endpoint's OAuth error ("token: 400
	// invalid_grant") or the storage status ("storage: 403").
	Code string
	// Anonymous: the datastore has no key, and the bucket is not public.
	Anonymous bool
}

func (e *AuthError) Error() string {
	if e.Anonymous {
		return fmt.Sprintf("%v: google-storage datastore %s (bucket %s) refused an anonymous read (the datastore's password holds no service account key): %s", ErrAuth, e.Datastore, e.Bucket, e.Code)
	}
	return fmt.Sprintf("%v: google-storage datastore %s (bucket %s) refused its service account key (the datastore's password): %s", ErrAuth, e.Datastore, e.Bucket, e.Code)
}
func (e *AuthError) Unwrap() error { return ErrAuth }

// Object is where a content tree's blob is in Cloud Storage.
type Object struct {
	// Endpoint is the JSON API's root, "" for Google's own
	// (https://storage.googleapis.com/storage/v1/).
	Endpoint string
	Bucket   string
	Name     string
}

// String is the object as a person reads it (no credentials are in it).
func (o Object) String() string {
	if o.Endpoint == "" {
		return "gs://" + o.Bucket + "/" + o.Name
	}
	return strings.TrimSuffix(o.Endpoint, "/storage/v1/") + "/" + o.Bucket + "/" + o.Name
}

// Locate reads a datastore and a content tree URL into an Object.
func Locate(ds materials.Datastore, rel string) (Object, error) {
	var o Object
	fqdn := strings.TrimSpace(ds.FQDN)
	switch strings.TrimSuffix(fqdn, "/") {
	case "", "storage.googleapis.com", "https://storage.googleapis.com":
	default:
		raw := fqdn
		if !strings.Contains(raw, "://") {
			raw = "https://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil {
			return o, fmt.Errorf("datastore %s: fqdn %q: %w", ds.ID, ds.FQDN, err)
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return o, fmt.Errorf("datastore %s: fqdn %q: scheme %q is not http or https", ds.ID, ds.FQDN, u.Scheme)
		}
		if u.User != nil {
			return o, fmt.Errorf("datastore %s: fqdn carries credentials: the service account key goes in password", ds.ID)
		}
		if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return o, fmt.Errorf("datastore %s: fqdn %q has a path: the bucket goes in dpath", ds.ID, u.Scheme+"://"+u.Host+u.Path)
		}
		if u.Host == "" {
			return o, fmt.Errorf("datastore %s: fqdn %q: no host", ds.ID, ds.FQDN)
		}
		o.Endpoint = u.Scheme + "://" + u.Host + "/storage/v1/"
	}
	bucket, key, err := dsconn.BucketKey(ds, rel, "bucket")
	if err != nil {
		return o, err
	}
	o.Bucket, o.Name = bucket, key
	return o, nil
}

// googleOrigin is Cloud Storage's own XML API origin.
const googleOrigin = "https://storage.googleapis.com"

// origin is where the object is read (the XML API: GET /bucket/object),
// the one origin its token is sent to.
func (o Object) origin() string {
	if o.Endpoint == "" {
		return googleOrigin
	}
	return strings.TrimSuffix(o.Endpoint, "/storage/v1/")
}

// mediaURL is the object's XML API URL, pinned to a generation when gen > 0.
func (o Object) mediaURL(gen int64) string {
	segs := strings.Split(o.Name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u := o.origin() + "/" + url.PathEscape(o.Bucket) + "/" + strings.Join(segs, "/")
	if gen > 0 {
		u += "?generation=" + strconv.FormatInt(gen, 10)
	}
	return u
}

func noRedirect(*http.Request, []*http.Request) error {
	// Cloud Storage never redirects a read or a token request; a redirect
	// would carry the token or the signed assertion elsewhere. The 3xx is
	// the answer.
	return http.ErrUseLastResponse
}

// maxErrorBody bounds what is read of a refusal: only its code is kept.
const maxErrorBody = 16 << 10

// Fetch copies the blob into dst from dst.Offset() on.
func (f *Fetcher) Fetch(ctx context.Context, req device.FetchRequest, dst device.Ingest, progress func(done, known int64)) error {
	log := f.Logger
	if log == nil {
		log = zap.NewNop()
	}
	ds := req.Datastore
	o, err := Locate(ds, req.ContentTree.URL)
	if err != nil {
		return err
	}
	where := o.String()
	offset, err := fetchbody.Resume(req, dst)
	if err != nil {
		return err
	}
	pk := pinKey{ds: ds.ID, object: where, digest: string(req.Blob.Digest)}
	gen := int64(0)
	if offset > 0 {
		gen = f.pinned(pk)
	}
	log.Debug("google storage fetch", zap.String("datastore", ds.ID), zap.String("object", where),
		zap.Bool("serviceAccount", ds.Password != ""), zap.Int64("offset", offset), zap.Int64("generation", gen), zap.String("digest", string(req.Blob.Digest)))
	var acct *account
	if ds.Password != "" {
		if acct, err = parseKey(ds); err != nil {
			return err
		}
	}
	tr, err := dsconn.Transport(f.Transport, ds)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, CheckRedirect: noRedirect}

	resp, err := f.get(ctx, hc, ds, o, acct, offset, gen)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	s := resp.StatusCode
	switch {
	case s == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		// The partial already holds everything; Commit checks it.
		f.unpin(pk)
		progress(offset, offset)
		return nil
	case s == http.StatusNotFound && gen > 0:
		// The generation the partial came from is gone (replaced, not
		// kept): its bytes must not be completed with another's.
		f.unpin(pk)
		_ = dst.Truncate()
		return device.Retryable(fmt.Errorf("fetch %s: generation %d, which the partial was read from, is gone: starting again from zero", where, gen))
	case s != http.StatusOK && s != http.StatusPartialContent:
		return refused(ds, o, resp)
	}
	if err := f.pinGeneration(resp, pk, gen, where, dst); err != nil {
		return err
	}
	body, known, err := bodyOf(resp, offset, where, dst, log)
	if err != nil {
		return err
	}
	done, err := fetchbody.LimitFor(req, offset).Copy(ctx, req, dst, body, where, offset, known, progress)
	if err != nil {
		if errors.Is(err, errBadCRC) {
			// The whole body arrived and does not match the CRC32C the
			// server holds: none of it is worth keeping.
			f.unpin(pk)
			_ = dst.Truncate()
		}
		return err
	}
	f.unpin(pk)
	log.Debug("google storage fetched", zap.String("datastore", ds.ID), zap.String("object", where), zap.Int64("bytes", done-offset))
	return nil
}

// pinGeneration pins the object's generation that the answer comes from,
// so a resume reads the same one. An answer from another generation than
// the pinned one voids the partial.
func (f *Fetcher) pinGeneration(resp *http.Response, pk pinKey, gen int64, where string, dst device.Ingest) error {
	if g := resp.Header.Get("X-Goog-Generation"); g != "" {
		got, err := strconv.ParseInt(g, 10, 64)
		if err != nil || got <= 0 {
			return fmt.Errorf("fetch %s: x-goog-generation %.30q is not a generation", where, g)
		}
		if gen > 0 && got != gen {
			f.unpin(pk)
			_ = dst.Truncate()
			return device.Retryable(fmt.Errorf("fetch %s: asked for generation %d, got %d", where, gen, got))
		}
		f.pin(pk, got)
	}
	return nil
}

// bodyOf is the answer's body from offset and the object's size when
// known: a whole read is checked against the CRC32C the server holds; an
// answer that is not the range asked for voids the partial.
func bodyOf(resp *http.Response, offset int64, where string, dst device.Ingest, log *zap.Logger) (io.Reader, int64, error) {
	known := int64(0)
	var body io.Reader = resp.Body
	if resp.StatusCode == http.StatusOK {
		if offset > 0 {
			// The server ignored the Range: start again from zero.
			log.Info("server ignored Range, restarting from 0", zap.String("object", where), zap.Int64("offset", offset))
			_ = dst.Truncate()
			return nil, 0, device.Retryable(fmt.Errorf("fetch %s: the server ignored Range bytes=%d-", where, offset))
		}
		known = max(resp.ContentLength, 0)
		if want, ok := storedCRC(resp); ok {
			body = &crcReader{r: resp.Body, want: want, h: crc32.New(castagnoli)}
		}
	} else {
		start, total, ok := fetchbody.ParseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			// Not the range asked for: start again from zero next time.
			_ = dst.Truncate()
			return nil, 0, device.Retryable(fmt.Errorf("fetch %s: the body starts at byte %d, not %d (Content-Range %.60q)", where, start, offset, resp.Header.Get("Content-Range")))
		}
		known = max(total, 0)
	}
	return body, known, nil
}

// get sends the ranged read, with the datastore's token when it has a
// key. A cached token the storage endpoint refuses (revoked, or expired
// early) is dropped and the read sent once more with a new one.
func (f *Fetcher) get(ctx context.Context, hc *http.Client, ds materials.Datastore, o Object, acct *account, offset, gen int64) (*http.Response, error) {
	tk := tokenKey{key: sha256.Sum256([]byte(ds.Password)), origin: o.origin()}
	for attempt := 0; ; attempt++ {
		hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, o.mediaURL(gen), nil)
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", o, err)
		}
		// Read the object as stored: Cloud Storage ignores a Range on an
		// object it would decompress, and the digest is of the stored
		// bytes. Set here, Go's transport does not decompress either.
		hreq.Header.Set("Accept-Encoding", "gzip")
		if offset > 0 {
			hreq.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		}
		cached := false
		if acct != nil {
			t, ok := f.cachedToken(tk)
			if !ok {
				if t, err = newToken(ctx, hc, ds, o, acct); err != nil {
					return nil, err
				}
				f.keepToken(tk, t)
			}
			cached = ok
			// Set on this request only (not by a transport), so no
			// redirect or other host ever sees it.
			hreq.Header.Set("Authorization", "Bearer "+t.value)
		}
		resp, err := hc.Do(hreq)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// No answer at all: a refused or dropped connection, a timeout.
			return nil, device.Retryable(fmt.Errorf("fetch %s: %w", o, err))
		}
		if resp.StatusCode == http.StatusUnauthorized && cached && attempt == 0 {
			resp.Body.Close()
			f.tokens.drop(tk)
			continue
		}
		return resp, nil
	}
}

// refused turns a status other than a body into the executor's
// vocabulary. It keeps only the status and the server's short code for
// it (the XML <Code>, or the JSON reason), nothing else of the body.
func refused(ds materials.Datastore, o Object, resp *http.Response) error {
	s := resp.StatusCode
	reason := errorCode(resp)
	if reason == "" {
		reason = http.StatusText(s)
	}
	switch {
	case s == http.StatusNotFound && reason == "NoSuchBucket":
		return fmt.Errorf("fetch %s: 404 no such bucket", o)
	case s == http.StatusNotFound:
		return fmt.Errorf("fetch %s: 404 no such object", o)
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return &AuthError{Datastore: ds.ID, Bucket: o.Bucket, Code: "storage: " + strconv.Itoa(s) + " " + reason, Anonymous: ds.Password == ""}
	case s >= 500 || s == http.StatusTooManyRequests || s == http.StatusRequestTimeout:
		return device.Retryable(fmt.Errorf("fetch %s: %d %s", o, s, reason))
	case s >= 300 && s < 400:
		return fmt.Errorf("fetch %s: %d %s: not followed (Cloud Storage does not redirect a read; the token stays with its origin)", o, s, reason)
	}
	return fmt.Errorf("fetch %s: %d %s", o, s, reason)
}

// errorCode is a refusal's code: <Error><Code> of the XML API, or
// error.errors[0].reason of the JSON one; "" when neither is a word.
func errorCode(resp *http.Response) string {
	body, err := readBounded(resp.Body, maxErrorBody)
	if err != nil {
		return ""
	}
	var x struct {
		Code string `xml:"Code"`
	}
	if xml.Unmarshal(body, &x) == nil && word(x.Code) {
		return x.Code
	}
	var j struct {
		Error struct {
			Errors []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &j) == nil && len(j.Error.Errors) > 0 && word(j.Error.Errors[0].Reason) {
		return j.Error.Errors[0].Reason
	}
	return ""
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// storedCRC is the CRC32C Cloud Storage holds of the object
// (x-goog-hash: crc32c=<base64 big-endian>), when the body is the stored
// bytes: not when the server decompressed it.
func storedCRC(resp *http.Response) (uint32, bool) {
	if resp.Header.Get("X-Goog-Stored-Content-Encoding") == "gzip" && resp.Header.Get("Content-Encoding") != "gzip" {
		return 0, false
	}
	for _, h := range resp.Header.Values("X-Goog-Hash") {
		for _, kv := range strings.Split(h, ",") {
			v, ok := strings.CutPrefix(strings.TrimSpace(kv), "crc32c=")
			if !ok {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil || len(b) != 4 {
				return 0, false
			}
			return binary.BigEndian.Uint32(b), true
		}
	}
	return 0, false
}

// errBadCRC: the whole body arrived, and is not what the server stores.
var errBadCRC = errors.New("crc32c of the body differs from the object's (x-goog-hash)")

// crcReader checks a whole object's body against its CRC32C at EOF.
type crcReader struct {
	r    io.Reader
	h    hash.Hash32
	want uint32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if errors.Is(err, io.EOF) && c.h.Sum32() != c.want {
		return n, errBadCRC
	}
	return n, err
}

// pinKey names a partial ingest a fetch of this fetcher began.
type pinKey struct{ ds, object, digest string }

// maxPins bounds the generations remembered: one per partial fetch.
const maxPins = 256

// pinned is the generation the partial of k was read from, 0 when this
// fetcher did not begin it (then the digest at commit is the check).
func (f *Fetcher) pinned(k pinKey) int64 {
	gen, _ := f.pins.get(k)
	return gen
}

func (f *Fetcher) pin(k pinKey, gen int64) {
	f.pins.put(k, gen, maxPins)
}

func (f *Fetcher) unpin(k pinKey) { f.pins.drop(k) }
