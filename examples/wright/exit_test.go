package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestExitCodes: every subcommand keeps the one table of exit codes for
// --help, unknown flags and missing flags, and prints the table in its
// --help; the top level does the same for its own mistakes.
func TestExitCodes(t *testing.T) {
	if len(commands) < 5 {
		t.Fatalf("only %d commands registered", len(commands))
	}
	for name := range commands {
		for _, tc := range []struct {
			args []string
			code int
		}{
			{[]string{name, "--help"}, exitOK},
			{[]string{name, "-h"}, exitOK},
			{[]string{"help", name}, exitOK},
			{[]string{name, "--no-such-flag"}, exitUsage},
			{[]string{name}, exitUsage},
			{[]string{name, "--root", "/nonexistent", "--config", "x", "stray"}, exitUsage},
		} {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != tc.code {
				t.Errorf("wright %s: exit %d, want %d\nstderr:\n%s", strings.Join(tc.args, " "), code, tc.code, errb.String())
			}
			if tc.code == exitOK && !strings.Contains(out.String(), exitCodeDoc) {
				t.Errorf("wright %s: stdout lacks the exit code table:\n%s", strings.Join(tc.args, " "), out.String())
			}
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "<command> --help"},
		{[]string{"nope"}, exitUsage, `unknown command "nope"`},
		{[]string{"--help"}, exitOK, "<command> --help"},
		{[]string{"help"}, exitOK, exitCodeDoc},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code {
			t.Errorf("wright %v: exit %d, want %d", tc.args, code, tc.code)
		}
		if !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("wright %v: output lacks %q:\n%s%s", tc.args, tc.want, out.String(), errb.String())
		}
	}
}

// TestNamespaceDefault: every subcommand that talks to containerd
// defaults to the namespace apply stores blobs in.
func TestNamespaceDefault(t *testing.T) {
	for _, name := range []string{"apply", "plan", "survey", "status", "check"} {
		var out, errb bytes.Buffer
		run([]string{name, "--help"}, &out, &errb)
		if !strings.Contains(out.String(), `(default "edgewright")`) {
			t.Errorf("wright %s --help: --namespace does not default to edgewright:\n%s", name, out.String())
		}
	}
}
