// Package sftpfetch fetches blobs from EVE's SFTP datastores (DsSFTP = 4)
// into an ingest, resuming at the ingest's offset.
//
// A datastore names its server in fqdn as host[:port] (port 22 when none;
// an "sftp://" prefix and a path after the host are accepted), the user in
// apiKey and the password in password. A password that is an OpenSSH or
// PEM private key ("-----BEGIN ...") logs in with that key instead. The
// file is dpath joined with the content tree's URL; a relative result is
// relative to the user's login directory, and a URL may not climb out of
// dpath.
//
// The server's host key must be pinned: each dsCertPEM entry holds one or
// more public keys in authorized_keys form ("ssh-ed25519 AAAA..."), and the
// server must present one of them. A datastore that pins none is refused
// with a *HostKeyError before anything is dialled, unless the Fetcher's
// InsecureIgnoreHostKey is set.
//
// The body is bounded by the content tree's maxSizeBytes, the blob's
// descriptor size and the free space, whichever is smallest
// (*device.TooLargeError); connection failures are device.Retryable;
// refused credentials are a terminal *AuthError that names the datastore
// and nothing it was given. Neither the user nor the password is ever
// logged or put in an error.
package sftpfetch
