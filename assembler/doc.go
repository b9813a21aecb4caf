// Package assembler is the executor: it carries out a Plan on a device.
// It walks the plan's DAG under per-key locks and per-action concurrency
// limits, records intent and completion in the device's crash-safe
// journal, retries with backoff, and reports progress. It does no I/O of
// its own: everything it touches goes through package device's roles
// (files, lock, journal, blob stores, fetchers, volume and container
// builders). A real root directory's are in assembler/crafts/... (wired by
// crafts.Open; New fills in rootdir, httpfetch, blobdir and qemu for
// whatever Options leave empty); the in-memory device, assembler/sim,
// implements every role, and device/devicetest holds the suite both pass.
//
// Converge is the whole reconcile loop for an edge agent: survey, plan,
// apply, until the plan is empty or only held remodels remain. Between
// survey and plan it scouts (scout.go): the fetchers that can
// (device.Scout) say what each download's datastore offers, a chunk index
// and the bytes to fetch given the local seeds, and the plan is made with
// those facts (foreman.Options.Offers), which the foreman checks are
// still true of the Floorplan. A scout that fails only leaves no facts.
package assembler
