package azurefetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/internal/dsconn"
	"github.com/edgewright/edgewright/assembler/crafts/internal/fetchbody"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// Fetcher is a device.Fetcher for Azure Blob datastores.
type Fetcher struct {
	Logger *zap.Logger
	// Transport is cloned per fetch (to add the datastore's CA
	// certificates); http.DefaultTransport when nil.
	Transport *http.Transport
}

var _ device.Fetcher = (*Fetcher)(nil)

// ErrAuth: the service refused the datastore's account key.
var ErrAuth = errors.New("azure blob credentials refused")

// AuthError names the datastore whose key was refused, its account and
// the service's error code, and nothing of the key.
type AuthError struct {
	Datastore string
	Account   string
	Code      string // AuthenticationFailed, AuthorizationFailure, 403, ...
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%v: azure-blob datastore %s refused the key of account %s (the datastore's password): %s", ErrAuth, e.Datastore, e.Account, e.Code)
}
func (e *AuthError) Unwrap() error { return ErrAuth }

// Blob is where a content tree's blob is in Azure Blob storage.
type Blob struct {
	// Service is the account's endpoint: https://<account>.blob.core.windows.net,
	// or an explicit http(s)://host[:port]/<account>.
	Service   string
	Account   string
	Container string
	Name      string
}

// String is the blob's URL (no credentials are in it).
func (b Blob) String() string {
	return b.Service + "/" + b.Container + "/" + b.Name
}

// Storage account names are 3 to 24 lower-case letters and digits; the
// check keeps a hostile fqdn from steering the endpoint's host.
var accountName = regexp.MustCompile(`^[a-z0-9]{3,24}$`)

// Locate reads a datastore and a content tree URL into a Blob.
func Locate(ds materials.Datastore, rel string) (Blob, error) {
	var b Blob
	fqdn := strings.TrimSpace(ds.FQDN)
	apiKey := strings.TrimSpace(ds.APIKey)
	switch {
	case fqdn == "":
		if apiKey == "" {
			return b, fmt.Errorf("datastore %s: names no storage account: set fqdn to <account>.blob.core.windows.net or apiKey to the account", ds.ID)
		}
		b.Account = apiKey
		b.Service = "https://" + apiKey + ".blob.core.windows.net"
	default:
		raw := fqdn
		if !strings.Contains(raw, "://") {
			raw = "https://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil {
			return b, fmt.Errorf("datastore %s: fqdn %q: %w", ds.ID, ds.FQDN, err)
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return b, fmt.Errorf("datastore %s: fqdn %q: scheme %q is not http or https", ds.ID, ds.FQDN, u.Scheme)
		}
		if u.User != nil {
			return b, fmt.Errorf("datastore %s: fqdn carries credentials: the account goes in apiKey, its key in password", ds.ID)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return b, fmt.Errorf("datastore %s: fqdn %q has a query: the key goes in password", ds.ID, u.Scheme+"://"+u.Host+u.Path)
		}
		if u.Host == "" {
			return b, fmt.Errorf("datastore %s: fqdn %q: no host", ds.ID, ds.FQDN)
		}
		switch p := strings.Trim(u.Path, "/"); {
		case p != "" && strings.Contains(p, "/"):
			return b, fmt.Errorf("datastore %s: fqdn %q: only the account may follow the host; the container goes in dpath", ds.ID, ds.FQDN)
		case p != "":
			// An explicit endpoint: the account is the path's one element.
			b.Account = p
			b.Service = u.Scheme + "://" + u.Host + "/" + p
		default:
			label, rest, _ := strings.Cut(u.Hostname(), ".")
			if label == "blob" && apiKey != "" {
				// The cloud's suffix alone (blob.core.windows.net): the
				// account is apiKey's.
				b.Account = apiKey
				b.Service = u.Scheme + "://" + apiKey + "." + u.Host
				break
			}
			if !strings.HasPrefix(rest, "blob.") {
				if apiKey == "" {
					return b, fmt.Errorf("datastore %s: fqdn %q names no storage account: want <account>.blob.core.windows.net, http(s)://host[:port]/<account>, or the account in apiKey", ds.ID, ds.FQDN)
				}
				// A custom domain or a private endpoint's name: the account
				// signs, the host only routes.
				b.Account = apiKey
			} else {
				b.Account = label
			}
			b.Service = u.Scheme + "://" + u.Host
		}
	}
	if !accountName.MatchString(b.Account) {
		return b, fmt.Errorf("datastore %s: storage account %q is not 3 to 24 lower-case letters and digits", ds.ID, b.Account)
	}
	if apiKey != "" && apiKey != b.Account {
		return b, fmt.Errorf("datastore %s: apiKey names storage account %q, fqdn names %q", ds.ID, apiKey, b.Account)
	}
	bucket, key, err := dsconn.BucketKey(ds, rel, "container")
	if err != nil {
		return b, err
	}
	b.Container, b.Name = bucket, key
	return b, nil
}

func (f *Fetcher) client(ds materials.Datastore, b Blob) (*azblob.Client, *http.Transport, error) {
	tr, err := dsconn.Transport(f.Transport, ds)
	if err != nil {
		return nil, nil, err
	}
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		// The service never redirects a blob's GET; a redirect would carry
		// the signed headers elsewhere. The 3xx is the answer.
		return http.ErrUseLastResponse
	}}
	opts := &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: hc,
		// One attempt: the executor retries with its own backoff and
		// budget, and a dead endpoint must fail fast to the next datastore.
		Retry:     policy.RetryOptions{MaxRetries: -1},
		Telemetry: policy.TelemetryOptions{Disabled: true},
	}}
	var c *azblob.Client
	if ds.Password == "" {
		c, err = azblob.NewClientWithNoCredential(b.Service+"/", opts)
	} else {
		var cred *azblob.SharedKeyCredential
		if cred, err = azblob.NewSharedKeyCredential(b.Account, ds.Password); err != nil {
			// The decoder's error names a byte offset, never the key.
			return nil, nil, device.Terminal("datastore %s: password is not a base64 account key: %w", ds.ID, err)
		}
		c, err = azblob.NewClientWithSharedKeyCredential(b.Service+"/", cred, opts)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("datastore %s: endpoint %s: %w", ds.ID, b.Service, err)
	}
	return c, tr, nil
}

// Fetch copies the blob into dst from dst.Offset() on.
func (f *Fetcher) Fetch(ctx context.Context, req device.FetchRequest, dst device.Ingest, progress func(done, known int64)) error {
	log := f.Logger
	if log == nil {
		log = zap.NewNop()
	}
	ds := req.Datastore
	b, err := Locate(ds, req.ContentTree.URL)
	if err != nil {
		return err
	}
	where := b.String()
	offset, err := fetchbody.Resume(req, dst)
	if err != nil {
		return err
	}
	log.Debug("azure blob fetch", zap.String("datastore", ds.ID), zap.String("blob", where),
		zap.Bool("sharedKey", ds.Password != ""), zap.Int64("offset", offset), zap.String("digest", string(req.Blob.Digest)))
	c, tr, err := f.client(ds, b)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	resp, err := c.DownloadStream(ctx, b.Container, b.Name, &azblob.DownloadStreamOptions{Range: azblob.HTTPRange{Offset: offset}})
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && offset > 0 && (re.StatusCode == http.StatusRequestedRangeNotSatisfiable || re.ErrorCode == "InvalidRange") {
			// The partial already holds everything; Commit checks it.
			progress(offset, offset)
			return nil
		}
		return f.classify(ctx, ds, b, err)
	}
	defer resp.Body.Close()
	size := int64(-1)
	if resp.ContentLength != nil {
		size = *resp.ContentLength
	}
	known := int64(0)
	if resp.ContentRange != nil && *resp.ContentRange != "" {
		cr := *resp.ContentRange
		start, total, ok := fetchbody.ParseContentRange(cr)
		if !ok || start != offset {
			// Not the range asked for: start again from zero next time.
			_ = dst.Truncate()
			return device.Retryable(fmt.Errorf("fetch %s: Content-Range %q does not start at %d", where, cr, offset))
		}
		if total > 0 {
			known = total
		} else if size >= 0 {
			known = offset + size
		}
	} else {
		if offset > 0 {
			log.Info("server ignored Range, restarting from 0", zap.String("blob", where), zap.Int64("offset", offset))
			if err := dst.Truncate(); err != nil {
				return err
			}
			offset = 0
		}
		known = max(size, 0)
	}
	done, err := fetchbody.LimitFor(req, offset).Copy(ctx, req, dst, resp.Body, where, offset, known, progress)
	if err != nil {
		return err
	}
	log.Debug("azure blob fetched", zap.String("datastore", ds.ID), zap.String("blob", where), zap.Int64("bytes", done-offset))
	return nil
}

// classify turns the SDK's error into the executor's vocabulary. It never
// wraps a *azcore.ResponseError's text, which carries the service's whole
// answer (for a bad signature, the string it signed).
func (f *Fetcher) classify(ctx context.Context, ds materials.Datastore, b Blob, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		// No answer at all: a refused or dropped connection, a timeout.
		return device.Retryable(fmt.Errorf("fetch %s: %w", b, err))
	}
	code, s := re.ErrorCode, re.StatusCode
	switch code {
	case "AuthenticationFailed", "AuthorizationFailure", "AuthorizationPermissionMismatch", "InvalidAuthenticationInfo", "NoAuthenticationInformation", "AccountIsDisabled":
		return &AuthError{Datastore: ds.ID, Account: b.Account, Code: code}
	case "ServerBusy", "OperationTimedOut", "InternalError":
		return device.Retryable(fmt.Errorf("fetch %s: %d %s", b, s, code))
	}
	if code == "" {
		code = http.StatusText(s)
	}
	switch {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return &AuthError{Datastore: ds.ID, Account: b.Account, Code: strconv.Itoa(s)}
	case s >= 500 || s == http.StatusTooManyRequests || s == http.StatusRequestTimeout:
		return device.Retryable(fmt.Errorf("fetch %s: %d %s", b, s, code))
	}
	return fmt.Errorf("fetch %s: %d %s", b, s, code)
}
