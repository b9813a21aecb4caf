package materials

import "fmt"

// Severity says whether a Diagnostic blocks the material it concerns.
type Severity string

const (
	// SeverityError blocks the material it concerns (and, in a Blueprint,
	// every destructive remodel).
	SeverityError Severity = "error"
	// SeverityWarning is reported and otherwise ignored.
	SeverityWarning Severity = "warning"
)

// Diagnostic is one problem found by a stage: where (a field path such as
// `volumes[2].origin.downloadContentTreeID`, or a file path for the
// inspector), the offending value, and what is wrong with it.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Path     string   `json:"path"`
	Value    string   `json:"value"`
	Message  string   `json:"message"`
}

func (d Diagnostic) String() string {
	return fmt.Sprintf("%s: %s: %s (value %q)", d.Severity, d.Path, d.Message, d.Value)
}

// Diagnostics is a list with helpers for the common questions.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errors returns only the error diagnostics.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == SeverityError {
			out = append(out, d)
		}
	}
	return out
}
