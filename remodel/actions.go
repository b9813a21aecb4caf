package remodel

// ActionFacts are what edgewright knows of one action, declared once:
// the renderers, the summary, the plan's order, the guards and the
// executor's limits all read them from here. An action's work is the
// executor's own table (assembler), which a test checks covers every
// action listed here.
type ActionFacts struct {
	Action Action
	// Symbol marks the action in RenderText, as `terraform plan` does.
	Symbol string
	// Phrase names its count in the summary line ("2 to download").
	Phrase string
	// Destructive actions can lose data: no plan from an invalid
	// Blueprint carries them, and guards hold them.
	Destructive bool
	// Concurrency is how many the executor runs at once by default.
	Concurrency int
}

// actionTable lists every action in precedence order (earlier runs first
// when nothing else orders two remodels).
var actionTable = [...]ActionFacts{
	{Action: ActionResolve, Symbol: "@", Phrase: "to resolve", Concurrency: 2}, // a tag pinned at a digest
	{Action: ActionDownload, Symbol: "↓", Phrase: "to download", Concurrency: 3},
	{Action: ActionVerify, Symbol: "✓", Phrase: "to verify", Concurrency: 2},
	{Action: ActionAdopt, Symbol: ">", Phrase: "to adopt", Concurrency: 2},
	{Action: ActionCreate, Symbol: "+", Phrase: "to create", Concurrency: 2},
	{Action: ActionPurge, Symbol: "~", Phrase: "to purge", Destructive: true, Concurrency: 2},
	{Action: ActionResize, Symbol: "^", Phrase: "to resize", Concurrency: 2}, // grow
	{Action: ActionDelete, Symbol: "-", Phrase: "to delete", Destructive: true, Concurrency: 4},
}

// Actions lists every action in precedence order.
var Actions = func() []Action {
	out := make([]Action, len(actionTable))
	for i, f := range actionTable {
		out[i] = f.Action
	}
	return out
}()

// Facts returns the action's facts; false for an action edgewright does
// not know.
func (a Action) Facts() (ActionFacts, bool) {
	for _, f := range actionTable {
		if f.Action == a {
			return f, true
		}
	}
	return ActionFacts{}, false
}

// Precedence is the action's place in the table; unknown actions sort
// last.
func (a Action) Precedence() int {
	for i, f := range actionTable {
		if f.Action == a {
			return i
		}
	}
	return len(actionTable)
}

// Destructive reports whether the action can lose data.
func (a Action) Destructive() bool {
	f, _ := a.Facts()
	return f.Destructive
}
