// Package ctrstore keeps content trees in containerd's content store: it
// ingests blobs inside a per-content-tree lease under a ref derived from the
// digest (so an interrupted ingest resumes from containerd's recorded
// offset), commits them with the expected digest, an ownership label and
// the gc reference labels that tie index → manifests → config and layers,
// and names the tree with an image record `<content-tree-id>-<URL>`.
//
// Deleting a content tree removes only its image record and its lease;
// collecting the blobs is containerd's garbage collector's job. Blobs
// without edgewright's ownership label are never deleted or relabelled.
package ctrstore
