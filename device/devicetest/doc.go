// Package devicetest is the conformance suite every device runs: the real
// one on a root directory and the in-memory one of assembler/sim (in the
// manner of containerd's content testsuite). Run drives the real executor
// through the same sequence of Blueprints on a Rig and checks the
// Floorplan after each converge against what the Blueprint asks for; it
// returns those Floorplans normalised to Shapes, so a test can also check
// that two devices ended every step alike. ContainerdSpace is the space
// strategy on a device whose downloads go to containerd, its content
// directory known: overlay on the containerd blob, its image record kept
// while the overlay reads it, then record and blob gone after the volume
// (the real device runs it against a confined containerd, skipping where
// none can run and failing under CI=true). Journal checks a device's
// journal against the rules of package journal. RunFetcher checks a
// device.Fetcher against the contract every fetcher keeps whatever its
// datastore (resume at the ingest's offset, the body bounds, terminal and
// retryable failures, cancellation, no secret in an error or a log line);
// each fetcher of assembler/crafts runs it against its real server (the
// chunk fetcher over its chunked path, from a seed). The
// in-memory device's fetcher moves no bytes, so it is held to the
// contract by Run instead.
package devicetest
