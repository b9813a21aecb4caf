// Package architect turns a controller config (EVE's EdgeDevConfig, binary
// protobuf or proto-JSON) into a Blueprint, reporting every problem as a
// Diagnostic with its field path rather than stopping at the first. An error
// withholds only the material it concerns; the rest of the Blueprint stands.
package architect
