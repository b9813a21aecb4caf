// Package foreman diffs a Blueprint against a Floorplan into a staged,
// explained construction Plan. It is pure: no I/O, no clock (time is an
// option), no goroutines, no global state; the same inputs give the same
// plan byte for byte. Guards hold destructive remodels back with a reason
// instead of failing the plan.
package foreman
