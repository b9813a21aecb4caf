// Package inspector surveys what really exists under a root (volume files in
// both layouts, a blob directory, a containerd content store, the
// assembler's journal) and returns a deterministic Floorplan. It reads only
// headers, never follows a symlink out of the root, and reports what it
// cannot read or parse instead of failing.
package inspector
