// Package architect turns a controller config (EVE's EdgeDevConfig, binary
// protobuf or proto-JSON) into a Blueprint, reporting every problem as a
// Diagnostic with its field path rather than stopping at the first. An error
// withholds only the material it concerns; the rest of the Blueprint stands.
//
// A signed content tree (SignatureInfo) is carried, but its signature is not
// checked by edgewright (there are no roots to chain to; upstream deprecates
// it): a warning at contentInfo[i].siginfo says so once per tree, and the
// caller must verify it if required.
package architect
