package remodel

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"
)

// HeldSymbol marks a held remodel.
const HeldSymbol = "!"

// RenderText writes the plan for people: remodels grouped by stage, each
// with its symbol, target, reason and dependencies; then the held ones,
// the grace clocks to record, the diagnostics and the summary line.
// Digests are shortened to 12 hex digits; the JSON form keeps them whole.
func RenderText(w io.Writer, p *Plan) error {
	bw := bufio.NewWriter(w)
	line := func(format string, args ...any) {
		bw.WriteString(ShortenDigests(fmt.Sprintf(format, args...)))
		bw.WriteByte('\n')
	}
	fp := p.Fingerprint
	if fp == "" {
		fp = "(none)"
	}
	line("Plan made at %s from floorplan %s", p.MadeAt.UTC().Format(time.RFC3339), fp)
	stage := -1
	for i := range p.Remodels {
		r := &p.Remodels[i]
		if r.Stage != stage {
			stage = r.Stage
			line("")
			line("Stage %d", stage)
		}
		head := fmt.Sprintf("  %s %s %s", symbol(r.Action), r.Action, r.Target)
		if r.Payload != nil {
			if d := r.Payload.Detail(r.Target); d != "" {
				head += " (" + d + ")"
			}
		}
		if r.Bytes > 0 {
			head += " [" + Bytes(r.Bytes) + "]"
		}
		line("%s", head)
		line("      %s", r.Reason)
		for _, d := range r.DependsOn {
			line("      after %s", d)
		}
	}
	if len(p.Held) > 0 {
		line("")
		line("Held")
		for _, h := range p.Held {
			line("  %s [%s] %s %s: %s", HeldSymbol, h.Code, h.Action, h.Target, h.Reason)
		}
	}
	if len(p.Unreferenced) > 0 {
		line("")
		line("Unreferenced (grace clocks to record)")
		for _, u := range p.Unreferenced {
			line("  %s since %s", u.Target, u.Since.UTC().Format(time.RFC3339))
		}
	}
	if len(p.Diagnostics) > 0 {
		line("")
		line("Diagnostics")
		for _, d := range p.Diagnostics {
			line("  %s", d)
		}
	}
	line("")
	text := p.Summary.Text
	if text == "" {
		text = Summarize(p).Text
	}
	line("%s", text)
	return bw.Flush()
}

func symbol(a Action) string {
	if f, ok := a.Facts(); ok {
		return f.Symbol
	}
	return "?"
}

// Bytes renders a byte count for people: exact below 1 KiB, else with a
// binary unit and up to one decimal.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f := float64(n)
	i := -1
	for (f >= unit || f <= -unit) && i < len(units)-1 {
		f /= unit
		i++
	}
	s := strconv.FormatFloat(f, 'f', 1, 64)
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		s = s[:len(s)-2]
	}
	return s + " " + units[i]
}

// ShortenDigests replaces every `sha256:` followed by 64 hex digits with
// its first 12 digits and an ellipsis.
func ShortenDigests(s string) string {
	const prefix = "sha256:"
	const full = 64
	out := []byte(nil)
	last := 0
	for i := 0; i+len(prefix)+full <= len(s); i++ {
		if s[i] != 's' || s[i:i+len(prefix)] != prefix {
			continue
		}
		j := i + len(prefix)
		if !allHex(s[j:j+full]) || (j+full < len(s) && isHex(s[j+full])) {
			continue
		}
		out = append(out, s[last:j+12]...)
		out = append(out, "…"...)
		last = j + full
		i = last - 1
	}
	if out == nil {
		return s
	}
	return string(append(out, s[last:]...))
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
