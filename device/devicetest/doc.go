// Package devicetest is the conformance suite every device runs: the real
// one on a root directory and the in-memory one of assembler/sim (in the
// manner of containerd's content testsuite). Run drives the real executor
// through the same sequence of Blueprints on a Rig and checks the
// Floorplan after each converge against what the Blueprint asks for; it
// returns those Floorplans normalised to Shapes, so a test can also check
// that two devices ended every step alike. Journal checks a device's
// journal against the rules of package journal.
package devicetest
