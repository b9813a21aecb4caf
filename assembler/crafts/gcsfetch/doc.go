// Package gcsfetch fetches blobs from EVE's Google Cloud Storage
// datastores (DsGoogleStorage = 7) into an ingest, resuming at the
// ingest's offset with a ranged read. It is a small client over net/http
// of Cloud Storage's XML API (GET /bucket/object, one request a fetch)
// and of Google's OAuth 2.0 service account flow, not Google's Cloud
// client libraries, which would add some 25 MB to an agent's binary.
//
// dpath's first element is the bucket, the rest a prefix the content
// tree's URL is joined to (the object's name); a URL may not climb out of
// it. password is a service account key, the JSON file the console gives;
// only type "service_account" with an RSA private_key is accepted, and of
// it only client_email, private_key, private_key_id, token_uri and
// universe_domain are read: other credential configurations (external
// accounts and the like) name a command to run or a file to read, which
// a config from the controller must never make the device do. The key
// signs a JWT (RS256) exchanged at its token_uri (Google's
// oauth2.googleapis.com when empty) for a read-only token
// (devstorage.read_only); a key of another universe than googleapis.com
// has no token exchange, and its self-signed JWT is the token, as
// Google's own clients do there. The token is fetched before the read,
// so that a refused key is told apart from a dead link, and kept for the
// next fetches from the same storage endpoint until 225 s before it
// expires; a kept token the endpoint refuses (401) is dropped and the
// read sent once more with a new one. An empty password means anonymous
// reads of a public bucket. fqdn is empty or storage.googleapis.com for
// Google, or an endpoint "http(s)://host[:port]" (an emulator, a private
// endpoint); a path after the host is refused. dsCertPEM entries join
// the system CA pool.
//
// The object is read as stored (Accept-Encoding: gzip: Cloud Storage
// ignores a Range on an object it would decompress), bounded by the
// content tree's maxSizeBytes, the blob's descriptor size and the free
// space, whichever is smallest (*device.TooLargeError). A whole-object
// read is checked against the CRC32C the server holds (x-goog-hash); a
// mismatch discards it. The generation a partial was read from
// (x-goog-generation) is remembered, and its resume asks for that
// generation only, so a resume never joins two objects' bytes; when the
// generation is gone the partial is dropped. (A partial this process did
// not begin resumes unpinned; the digest at commit is the check.)
// Connection failures, 5xx, 408 and 429 are device.Retryable (there are
// no retries inside: the executor's backoff decides); a refused key or a
// 401/403 is a terminal *AuthError naming the datastore, and nothing of
// the key. Every body read from the servers but the object's is bounded
// (the token answer, a refusal, whose code alone is kept). The key signs
// only its token request, which goes only to token_uri; the token goes
// only to the datastore's storage endpoint, set on each request (not by
// a transport); redirects are not followed by either (the 3xx is the
// answer); neither the key, the JWT nor the token is ever logged.
package gcsfetch
