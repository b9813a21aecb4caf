package architect

import "testing"

// TestCanonicalUUID: every accepted spelling comes out lower case, and an
// id already canonical is the caller's own string, not a copy.
func TestCanonicalUUID(t *testing.T) {
	for _, tc := range []struct {
		in, want, problem string
	}{
		{in: "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11", want: "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11"},
		{in: "5B8C3C1E-4F0E-4A8E-9F4D-2A7C1B6E0D11", want: "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11"},
		{in: "5b8c3c1e-4F0e-4a8e-9f4d-2a7c1b6e0d11", want: "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11"},
		{in: "00000000-0000-0000-0000-000000000000", problem: msgNilUUID},
		{in: "{5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d1}", problem: msgNotUUID},
		{in: "5b8c3c1e+4f0e-4a8e-9f4d-2a7c1b6e0d11", problem: msgNotUUID},
		{in: "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d1g", problem: msgNotUUID},
		{in: "", problem: msgNotUUID},
	} {
		id, problem := canonicalUUID(tc.in)
		if id != tc.want || problem != tc.problem {
			t.Errorf("canonicalUUID(%q) = %q, %q; want %q, %q", tc.in, id, problem, tc.want, tc.problem)
		}
	}
	in := "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11"
	if n := testing.AllocsPerRun(10, func() { canonicalUUID(in) }); n != 0 {
		t.Errorf("canonicalUUID of a canonical id allocates %v times; want 0 (kept, not copied)", n)
	}
}
