// Package assembler carries out a Plan: the only package that changes disk
// or talks to the network. It walks the plan's DAG under per-key locks and
// per-action concurrency limits, records intent and completion in a
// crash-safe journal (package journal), retries with backoff, reports
// progress, and does the work through small craft interfaces (Fetcher,
// BlobStore, VolumeBuilder, ContainerBuilder, Resolver) that a simulator
// can swap. Converge is the whole reconcile loop for an edge agent:
// survey, plan, apply, until the plan is empty or only held remodels
// remain.
package assembler
