// Package remodel holds the construction Plan and its Remodels (one action
// each, with the typed payload that action carries), their JSON encoding,
// and their rendering for people in the manner of `terraform plan`. It is
// the contract between the foreman, which makes a Plan, and the assembler,
// which carries it out.
//
// Every action is declared once, in actions.go: its constant, its payload
// type and its row in the action table (symbol, phrase, precedence,
// destructiveness, disk charge, default concurrency). The executor keeps
// the one column this package cannot hold, the work itself, in its own
// table, and its tests check that table has a row for every action here,
// taking the payload type declared here.
package remodel
