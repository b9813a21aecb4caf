package eve

// Regenerate the committed *.pb.go with `go generate ./materials/eve/`. It
// needs protoc 3.21.12 (Debian's protobuf-compiler, with the well-known
// types under /usr/include) and protoc-gen-go v1.36.12 on PATH:
// `go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12`.
// The output is byte for byte what is committed.

//go:generate protoc -I. -I/usr/include --go_out=. --go_opt=paths=source_relative devcommon.proto config.proto info.proto metrics.proto
