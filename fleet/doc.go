// Package fleet simulates what a config does to many devices before it
// ships: each device is an in-memory device (assembler/sim) in one shared
// World of datastores, reconciled by the real architect, foreman and
// executor. A Spec generates the fleet's configs (volumes per device, a
// mix of content and blank volumes over shared content trees, free disk
// per device); a Change is a rollout applied to every device's config.
// Converge reports, per device and in total, the rounds to converge, the
// remodels by action, bytes downloaded and written, peak disk against the
// disk's size, held remodels by reason code, and the devices that would
// not converge.
//
// Configs are generated again from the Spec at every reconcile rather
// than kept, and immutable materials (the World's objects, the datastores)
// are shared, so a device costs only its own state: its volumes, blobs and
// journal.
//
// Beyond one process: devices are independent, so a controller that
// needs more than one machine holds runs a shard of device indexes per
// job in the batch or stream engine it already has (each job builds the
// same Spec and World, simulates Devices [lo, hi), and emits its
// Report; Reports add up field by field). Up to the fleet size one
// process holds (see bench/RESULTS.md for the measured bytes per device
// and reconciles per CPU second) no distributed engine is needed.
package fleet
