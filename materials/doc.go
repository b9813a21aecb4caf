// Package materials is edgewright's vocabulary: the atoms of desired and
// actual storage state (datastores, content trees, blobs, volumes), the
// Blueprint an architect draws from a controller config, the Floorplan an
// inspector surveys from disk, and the Diagnostics every stage reports.
//
// The subpackage materials/eve holds the wire-compatible protobuf schema for
// the controller config and the info/metrics messages. This package imports
// nothing else of edgewright's.
package materials
