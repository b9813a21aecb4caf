// Package gcsfetch fetches blobs from EVE's Google Cloud Storage
// datastores (DsGoogleStorage = 7) through cloud.google.com/go/storage,
// into an ingest, resuming at the ingest's offset with a ranged read.
//
// dpath's first element is the bucket, the rest a prefix the content
// tree's URL is joined to (the object's name); a URL may not climb out of
// it. password is a service account key, the JSON file the console gives;
// only type "service_account" is accepted, because other credential
// configurations (external accounts and the like) can make the client
// run a command or read a file named in them, which a config from the
// controller must never do. The token asked for is read-only
// (devstorage.read_only), and is fetched before the download so that a
// refused key is told apart from a dead link. An empty password means
// anonymous reads of a public bucket. fqdn is empty or
// storage.googleapis.com for Google, or an endpoint "http(s)://host[:port]"
// (an emulator, a private endpoint); a path after the host is refused.
// dsCertPEM entries join the system CA pool.
//
// The object is read as stored (ReadCompressed: GCS ignores a Range on
// an object it would decompress), bounded by the content tree's
// maxSizeBytes, the blob's descriptor size and the free space, whichever
// is smallest (*device.TooLargeError). Connection failures, 5xx and 429
// are device.Retryable (the library's own retries are off: the
// executor's backoff decides); a refused key or a 401/403 is a terminal
// *AuthError naming the datastore, and nothing of the key. The key signs
// only its token request, the token goes only to the datastore's
// endpoint (redirects are not followed), and neither is ever logged: the
// library's own logger is a discarding one whatever the environment says.
package gcsfetch
