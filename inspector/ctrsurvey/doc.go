// Package ctrsurvey surveys a containerd daemon for the inspector: one
// namespace's blobs (complete, and partial ingests with their offsets) and
// image records with the blobs each reaches. Daemon is an
// inspector.ContentStore; set it as inspector.Options.Containerd.
//
// It talks to containerd's gRPC API directly. It is a package of its own
// so that package inspector, and every program that surveys only files,
// does not import gRPC, protobuf or containerd's API.
package ctrsurvey
