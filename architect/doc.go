// Package architect turns a controller config (EVE's EdgeDevConfig, binary
// protobuf or proto-JSON) into a Blueprint, reporting every problem as a
// Diagnostic with its field path rather than stopping at the first. An error
// withholds only the material it concerns; the rest of the Blueprint stands.
//
// A proto-JSON config may use EVE's proto or JSON field names and may start
// with a UTF-8 BOM. A JSON field that EVE's schema (eve-api, see
// upstreamnames.go) does not have is a warning at its path, e.g.
// contentInfo[0].readOnlyy, "unknown field (not in EVE's schema): ignored";
// a field EVE has but edgewright does not model (networks, baseos,
// configItems, ...) is ignored in silence, contents and all. Past 100 such
// warnings, one more at "config" counts the rest. A binary config
// keeps unknown fields as protobuf does, without a warning.
//
// A signed content tree (SignatureInfo) is carried, but its signature is not
// checked by edgewright (there are no roots to chain to; upstream deprecates
// it): a warning at contentInfo[i].siginfo says so once per tree, and the
// caller must verify it if required.
package architect
