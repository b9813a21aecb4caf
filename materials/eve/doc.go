// Package eve is the wire-compatible protobuf schema edgewright shares with
// LF Edge EVE: the controller config subset (config.proto, devcommon.proto)
// and the info/metrics subset (info.proto, metrics.proto). Field names,
// numbers and enum values are EVE's, so a real controller's config decodes
// unchanged; the proto package (edgewright.eve) is edgewright's own so that
// this code can share a binary with EVE's generated API.
//
// The generated *.pb.go files are committed; generate.go says how to
// regenerate them.
package eve
