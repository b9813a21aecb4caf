// Package oci fetches content trees from OCI / Docker registries: it parses
// a container-registry datastore and a content tree's URL, resolves a tag
// to a digest, walks index → manifest → config and layers, and fetches
// blobs resumably (HTTP Range) while verifying their digest in the same
// pass.
//
// It is a small hand-written distribution client over net/http rather than
// go-containerregistry's remote package, because edgewright needs three
// things remote does not give: a blob fetch that starts at an offset with
// `Range` and carries the hash state across attempts (remote always
// restarts a blob at byte 0), a sink the caller owns (a containerd ingest
// or a blob-directory file) instead of a layer object, and a plain-HTTP
// policy checked before any dial. go-containerregistry is still the
// registry the tests run against.
//
// Latching a resolved digest is not this package's job: Resolve returns the
// digest and media type, and the journal records them.
//
// Credentials (the datastore's apiKey as username and its password) are
// sent only in Authorization headers and never logged, and only to the
// registry's own scheme, host and port (SameOrigin). A redirect elsewhere
// (blob storage) is followed without them, https never redirects down to
// http, and at most MaxRedirects are followed (CheckRedirect, which the
// HTTP datastore fetcher uses too). A Bearer token realm is an origin as
// well: the datastore's Basic credentials go to it only when it is the
// registry's origin; a realm elsewhere is asked anonymously. Docker and
// containerd send them to any https realm the challenge names (Docker Hub's
// realm is auth.docker.io); we do not, so a private repository whose realm
// is another origin needs its realm on the registry's origin.
//
// Manifests and indexes are read up to MaxManifestSize and name at most
// MaxChildren layers or manifests; a blob body is cut at its descriptor's
// size.
package oci
