package remodel

import (
	"reflect"
	"testing"
)

// TestActionTable: every action is declared once, with a symbol of its
// own, a phrase and a concurrency the executor can use.
func TestActionTable(t *testing.T) {
	seenAction, seenSymbol, seenPayload := map[Action]bool{}, map[string]Action{}, map[reflect.Type]Action{}
	for i, f := range actionTable {
		if seenAction[f.Action] {
			t.Errorf("%s is declared twice", f.Action)
		}
		seenAction[f.Action] = true
		if other, dup := seenSymbol[f.Symbol]; dup || f.Symbol == "" || f.Symbol == HeldSymbol {
			t.Errorf("%s: symbol %q is empty, the held mark or %s's too", f.Action, f.Symbol, other)
		}
		seenSymbol[f.Symbol] = f.Action
		if f.Phrase == "" || f.Concurrency <= 0 {
			t.Errorf("%s: phrase %q, concurrency %d", f.Action, f.Phrase, f.Concurrency)
		}
		if f.payload == nil || f.PayloadType().Kind() != reflect.Pointer {
			t.Errorf("%s: no payload type, or not a pointer", f.Action)
		} else if other, dup := seenPayload[f.PayloadType()]; dup {
			t.Errorf("%s: payload %v is %s's too", f.Action, f.PayloadType(), other)
		} else {
			seenPayload[f.PayloadType()] = f.Action
		}
		if f.Action.Precedence() != i || Actions[i] != f.Action {
			t.Errorf("%s: precedence %d, Actions[%d] = %s", f.Action, f.Action.Precedence(), i, Actions[i])
		}
	}
	for _, a := range []Action{ActionResolve, ActionDownload, ActionVerify, ActionCreate, ActionPurge, ActionAdopt, ActionDelete, ActionResize, ActionSnapshot, ActionRollback, ActionDeleteSnapshot} {
		if !seenAction[a] {
			t.Errorf("%s has no row in the action table", a)
		}
	}
	if !ActionDelete.Destructive() || !ActionPurge.Destructive() || ActionCreate.Destructive() {
		t.Error("delete and purge are destructive, create is not")
	}
	if ActionSnapshot.Destructive() || !ActionRollback.Destructive() || !ActionDeleteSnapshot.Destructive() {
		t.Error("rollback and delete-snapshot are destructive, snapshot is not")
	}
	if !ActionSnapshot.ChargesDisk() || ActionDeleteSnapshot.ChargesDisk() {
		t.Error("a snapshot charges disk (a raw or container copy), a snapshot delete does not")
	}
	if !ActionCreate.ChargesDisk() || !ActionDownload.ChargesDisk() || ActionDelete.ChargesDisk() || ActionVerify.ChargesDisk() || Action("bogus").ChargesDisk() {
		t.Error("create and download charge disk; delete, verify and an unknown action do not")
	}
	if Action("bogus").Precedence() != len(actionTable) || Action("bogus").Destructive() {
		t.Error("an unknown action sorts last and is not destructive")
	}
}
