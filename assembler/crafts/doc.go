// Package crafts wires the standard crafts of a real device: HTTP and
// HTTPS datastores (httpfetch), the blob directory under the root
// (blobdir) or containerd (containerd), qemu-img volumes (qemu), OCI
// registries and container volumes (registry), Azure Blob and Google
// Cloud Storage datastores (azurefetch, gcsfetch), plus whatever fetchers
// the caller adds for other datastore types. The edge agent, the CLI and the
// quickstart all start from Open, so none of them wires crafts by hand.
// The in-memory device (assembler/sim) has crafts of its own.
package crafts
