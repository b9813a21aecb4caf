package sftpfetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"

	"github.com/edgewright/edgewright/assembler/crafts/internal/fetchbody"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// Fetcher is a device.Fetcher for SFTP datastores.
type Fetcher struct {
	Logger *zap.Logger
	// InsecureIgnoreHostKey accepts any host key from a datastore that pins
	// none (a lab, a first contact checked by other means). A pin, when
	// there is one, is always enforced.
	InsecureIgnoreHostKey bool
	// DialTimeout bounds the TCP connect and the SSH handshake; 30s when 0.
	DialTimeout time.Duration
	// DialContext opens the TCP connection (a proxy, a test's faulty
	// link); a net.Dialer's when nil.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ device.Fetcher = (*Fetcher)(nil)

// ErrHostKey: the server's host key is not pinned, or not the pinned one.
var ErrHostKey = errors.New("sftp host key refused")

// HostKeyError says why a server's host key was refused.
type HostKeyError struct {
	Datastore string
	Addr      string
	// NotPinned: the datastore's dsCertPEM holds no public key and
	// InsecureIgnoreHostKey is off; nothing was dialled.
	NotPinned bool
	// Got is the SHA256 fingerprint the server presented; Pinned those of
	// the keys the datastore pins.
	Got    string
	Pinned []string
}

func (e *HostKeyError) Error() string {
	if e.NotPinned {
		return fmt.Sprintf("%v: sftp datastore %s (%s) pins no host key: put the server's public key in authorized_keys form (ssh-ed25519 AAAA...) in its dsCertPEM, or opt in to InsecureIgnoreHostKey", ErrHostKey, e.Datastore, e.Addr)
	}
	return fmt.Sprintf("%v: sftp datastore %s (%s) presented host key %s, not one of the pinned %s", ErrHostKey, e.Datastore, e.Addr, e.Got, strings.Join(e.Pinned, ", "))
}
func (e *HostKeyError) Unwrap() error { return ErrHostKey }

// ErrAuth: the server refused the datastore's credentials.
var ErrAuth = errors.New("sftp credentials refused")

// AuthError names the datastore whose credentials the server refused, and
// nothing of the credentials.
type AuthError struct {
	Datastore string
	Addr      string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%v: sftp datastore %s (%s) refused its user and password (the datastore's apiKey and password)", ErrAuth, e.Datastore, e.Addr)
}
func (e *AuthError) Unwrap() error { return ErrAuth }

// Target is where a content tree's file is: the server's host:port and
// the file's path on it.
func Target(ds materials.Datastore, rel string) (addr, file string, err error) {
	host := strings.TrimSpace(ds.FQDN)
	prefix := ""
	if i := strings.Index(host, "://"); i >= 0 {
		u, perr := url.Parse(host)
		if perr != nil {
			return "", "", fmt.Errorf("datastore %s: fqdn %q: %w", ds.ID, ds.FQDN, perr)
		}
		if u.Scheme != "sftp" && u.Scheme != "ssh" {
			return "", "", fmt.Errorf("datastore %s: fqdn %q: scheme %q is not sftp", ds.ID, ds.FQDN, u.Scheme)
		}
		if u.User != nil {
			// Credentials belong in apiKey and password, never in a string
			// that is shown.
			return "", "", fmt.Errorf("datastore %s: fqdn carries a user: put it in apiKey", ds.ID)
		}
		host, prefix = u.Host, u.Path
	} else if h, p, ok := strings.Cut(host, "/"); ok {
		host, prefix = h, p
	}
	if host == "" {
		return "", "", fmt.Errorf("datastore %s: fqdn %q: no host", ds.ID, ds.FQDN)
	}
	if _, _, serr := net.SplitHostPort(host); serr != nil {
		// No port (or a bare IPv6 address): SSH's own.
		host = net.JoinHostPort(strings.Trim(host, "[]"), "22")
	}
	rel = strings.TrimSpace(rel)
	if rel == "" {
		return "", "", fmt.Errorf("datastore %s: content tree url is empty", ds.ID)
	}
	for _, e := range strings.Split(rel, "/") {
		if e == ".." {
			return "", "", fmt.Errorf("datastore %s: content tree url %q climbs out of dpath", ds.ID, rel)
		}
	}
	base := path.Join(prefix, ds.Path)
	file = path.Join(base, strings.TrimLeft(rel, "/"))
	if strings.HasPrefix(prefix, "/") || strings.HasPrefix(ds.Path, "/") {
		file = path.Join("/", file)
	}
	return host, file, nil
}

// pins reads the host keys a datastore pins from its dsCertPEM entries.
func pins(ds materials.Datastore) ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	for i, entry := range ds.CertPEM {
		rest := bytes.TrimSpace(entry)
		for len(rest) > 0 {
			k, _, _, next, err := ssh.ParseAuthorizedKey(rest)
			if err != nil {
				// An entry we cannot read must not quietly leave the
				// server unpinned.
				return nil, fmt.Errorf("datastore %s: dsCertPEM entry %d is not an SSH public key in authorized_keys form (ssh-ed25519 AAAA...)", ds.ID, i)
			}
			keys = append(keys, k)
			rest = bytes.TrimSpace(next)
		}
	}
	return keys, nil
}

// auth is how the datastore's password logs in: as a private key when it
// is one, else as a password (and keyboard-interactive with it).
func auth(ds materials.Datastore) ([]ssh.AuthMethod, error) {
	pw := ds.Password
	if strings.HasPrefix(strings.TrimSpace(pw), "-----BEGIN ") {
		signer, err := ssh.ParsePrivateKey([]byte(strings.TrimSpace(pw)))
		if err != nil {
			var pp *ssh.PassphraseMissingError
			if errors.As(err, &pp) {
				return nil, fmt.Errorf("datastore %s: the private key in password is passphrase-protected; give it unencrypted", ds.ID)
			}
			// The parser's own words might quote the key: leave them out.
			return nil, fmt.Errorf("datastore %s: password holds a PEM block that is not a private key ssh can read", ds.ID)
		}
		return []ssh.AuthMethod{ssh.PublicKeys(signer)}, nil
	}
	answer := func(user, instruction string, questions []string, echos []bool) ([]string, error) {
		out := make([]string, len(questions))
		for i := range out {
			out[i] = pw
		}
		return out, nil
	}
	return []ssh.AuthMethod{ssh.Password(pw), ssh.KeyboardInteractive(answer)}, nil
}

func (f *Fetcher) clientConfig(ds materials.Datastore, addr string) (*ssh.ClientConfig, error) {
	if ds.APIKey == "" {
		return nil, fmt.Errorf("datastore %s: sftp needs a user in apiKey", ds.ID)
	}
	methods, err := auth(ds)
	if err != nil {
		return nil, err
	}
	keys, err := pins(ds)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{User: ds.APIKey, Auth: methods}
	if len(keys) == 0 {
		if !f.InsecureIgnoreHostKey {
			return nil, &HostKeyError{Datastore: ds.ID, Addr: addr, NotPinned: true}
		}
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey()
		return cfg, nil
	}
	var fps []string
	seen := map[string]bool{}
	for _, k := range keys {
		fps = append(fps, ssh.FingerprintSHA256(k))
		// Ask for the pinned key types, so a server with several host keys
		// presents the pinned one.
		algs := []string{k.Type()}
		if k.Type() == ssh.KeyAlgoRSA {
			algs = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, a := range algs {
			if !seen[a] {
				seen[a] = true
				cfg.HostKeyAlgorithms = append(cfg.HostKeyAlgorithms, a)
			}
		}
	}
	cfg.HostKeyCallback = func(_ string, _ net.Addr, got ssh.PublicKey) error {
		for _, k := range keys {
			if bytes.Equal(k.Marshal(), got.Marshal()) {
				return nil
			}
		}
		return &HostKeyError{Datastore: ds.ID, Addr: addr, Got: ssh.FingerprintSHA256(got), Pinned: fps}
	}
	return cfg, nil
}

// dial connects and logs in, honouring ctx; the caller closes the client.
func (f *Fetcher) dial(ctx context.Context, ds materials.Datastore, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	timeout := f.DialTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dialer := f.DialContext
	if dialer == nil {
		dialer = (&net.Dialer{}).DialContext
	}
	conn, err := dialer(dctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, device.Retryable(fmt.Errorf("sftp datastore %s: %w", ds.ID, err))
	}
	// The handshake has no context of its own: a deadline, and a close
	// when ctx ends.
	_ = conn.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	stopped := stop()
	if err != nil {
		conn.Close()
		var hk *HostKeyError
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.As(err, &hk):
			return nil, hk
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, &AuthError{Datastore: ds.ID, Addr: addr}
		case !stopped:
			return nil, device.Retryable(fmt.Errorf("sftp datastore %s (%s): handshake took longer than %v", ds.ID, addr, timeout))
		}
		// A dropped connection, a reset, a server that is starting: worth
		// another try.
		return nil, device.Retryable(fmt.Errorf("sftp datastore %s (%s): %w", ds.ID, addr, err))
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// Fetch copies the blob into dst from dst.Offset() on.
func (f *Fetcher) Fetch(ctx context.Context, req device.FetchRequest, dst device.Ingest, progress func(done, known int64)) error {
	log := f.Logger
	if log == nil {
		log = zap.NewNop()
	}
	ds := req.Datastore
	addr, file, err := Target(ds, req.ContentTree.URL)
	if err != nil {
		return err
	}
	where := "sftp://" + addr + path.Join("/", file)
	log.Debug("sftp fetch", zap.String("datastore", ds.ID), zap.String("addr", addr), zap.String("path", file),
		zap.Int64("offset", dst.Offset()), zap.String("digest", string(req.Blob.Digest)))
	cfg, err := f.clientConfig(ds, addr)
	if err != nil {
		return err
	}
	sshc, err := f.dial(ctx, ds, addr, cfg)
	if err != nil {
		return err
	}
	defer sshc.Close()
	// A read blocked on a dead link ends when ctx does.
	defer context.AfterFunc(ctx, func() { sshc.Close() })()
	sc, err := sftp.NewClient(sshc)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return device.Retryable(fmt.Errorf("sftp datastore %s (%s): start sftp subsystem: %w", ds.ID, addr, err))
	}
	defer sc.Close()
	fh, err := sc.Open(file)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("fetch %s: %w", where, err)
		}
		return device.Retryable(fmt.Errorf("fetch %s: open: %w", where, err))
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return device.Retryable(fmt.Errorf("fetch %s: stat: %w", where, err))
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("fetch %s: not a regular file (%v)", where, st.Mode().Type())
	}
	known := max(st.Size(), 0)
	// A partial longer than the file is not its prefix either.
	offset, err := fetchbody.ResumeWithin(req, dst, known)
	if err != nil {
		return err
	}
	limit := fetchbody.LimitFor(req, offset)
	if offset == known && (limit.Bytes == 0 || known <= limit.Bytes) {
		// The partial holds the whole file; Commit checks it.
		progress(offset, known)
		return nil
	}
	if _, err := fh.Seek(offset, io.SeekStart); err != nil {
		return device.Retryable(fmt.Errorf("fetch %s: seek to %d: %w", where, offset, err))
	}
	done, err := limit.Copy(ctx, req, dst, fh, where, offset, known, progress)
	if err != nil {
		return err
	}
	log.Debug("sftp fetched", zap.String("datastore", ds.ID), zap.String("path", file), zap.Int64("bytes", done-offset))
	return nil
}
