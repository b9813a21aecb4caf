// Package remodel holds the construction Plan and its Remodels (one action
// each: resolve, download, verify, create, purge-generation, adopt, delete,
// resize), their JSON encoding, and their rendering for people in the manner
// of `terraform plan`. It is the contract between the foreman, which makes a
// Plan, and the assembler, which carries it out.
package remodel
