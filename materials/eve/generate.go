// Package eve is the wire-compatible protobuf schema edgewright shares with
// LF Edge EVE: the controller config subset (config.proto, devcommon.proto)
// and the info/metrics subset (info.proto, metrics.proto). Field names,
// numbers and enum values are EVE's, so a real controller's config decodes
// unchanged; the proto package is edgewright's own so that this code can
// live in one binary with EVE's generated API.
//
// The generated *.pb.go files are committed. Regenerate with
// `go generate ./materials/eve/` (needs protoc 3.21.12 and protoc-gen-go
// v1.36.12 on PATH: `go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12`).
package eve

//go:generate protoc -I. -I/usr/include --go_out=. --go_opt=paths=source_relative devcommon.proto config.proto info.proto metrics.proto
