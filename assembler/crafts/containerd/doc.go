// Package containerd keeps blobs in containerd's content store as EVE
// does, a device.TreeStore and ImageDeleter: blobs written inside their
// content tree's lease, labelled as edgewright's, sealed into an image
// record once the tree is whole.
package containerd
