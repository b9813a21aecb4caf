// Package testenv starts the real components edgewright's tests run
// against (a confined containerd daemon, qemu-img) and decides whether a
// test may skip when one is missing: on a laptop it skips, under CI=true it
// fails.
package testenv
