// Package assembler carries out a Plan: the only package that changes disk
// or talks to the network. It walks the plan's DAG under per-key locks and
// per-action concurrency limits, records intent and completion in a
// crash-safe journal, retries with backoff, reports progress, and does the
// work through small craft interfaces (fetch, store, build) that a simulator
// can swap.
package assembler
