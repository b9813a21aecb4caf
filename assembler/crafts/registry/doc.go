// Package registry holds the crafts of container-registry content trees:
// a device.Resolver (tag to top blob), a device.Fetcher and Follower for
// OCI registries (manifests from the manifests endpoint, an index's
// manifest for this platform fetched with it, other blobs resumed with
// Range) and a device.ContainerBuilder that unpacks layers into a
// container volume (assembler/unpack).
package registry
