package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/edgewright/edgewright/remodel"
)

// newLogger is the logger for operators. By default it prints warnings
// as one plain line each, without fields in JSON or stack traces; -v
// adds debug and info entries with stack traces on warnings, and
// --log-format json gives zap's JSON lines for machines.
func newLogger(format string, verbose bool, stderr io.Writer) (*zap.Logger, error) {
	level := zapcore.WarnLevel
	if verbose {
		level = zapcore.DebugLevel
	}
	ws := zapcore.AddSync(stderr)
	switch format {
	case "json":
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		opts := []zap.Option{}
		if verbose {
			opts = append(opts, zap.AddStacktrace(zapcore.WarnLevel))
		}
		return zap.New(zapcore.NewCore(enc, ws, level), opts...), nil
	case "text", "":
		if verbose {
			cfg := zap.NewDevelopmentEncoderConfig()
			return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(cfg), ws, level),
				zap.AddStacktrace(zapcore.WarnLevel)), nil
		}
		return zap.New(&lineCore{level: level, w: stderr, mu: &sync.Mutex{}}), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// lineCore writes an entry as "wright: warning: MESSAGE: ERROR (key=value, …)".
type lineCore struct {
	level  zapcore.Level
	w      io.Writer
	mu     *sync.Mutex
	fields []zapcore.Field
}

func (c *lineCore) Enabled(l zapcore.Level) bool { return l >= c.level }

func (c *lineCore) With(fs []zapcore.Field) zapcore.Core {
	n := *c
	n.fields = append(append([]zapcore.Field(nil), c.fields...), fs...)
	return &n
}

func (c *lineCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *lineCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(append([]zapcore.Field(nil), c.fields...), fs...) {
		f.AddTo(enc)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "wright: %s: ", levelWord(e.Level))
	// A remodel's id names its action and target; the apply's id is for
	// the journal.
	if r, ok := enc.Fields["remodel"]; ok {
		fmt.Fprintf(&b, "%v: ", r)
		for _, k := range []string{"remodel", "action", "target"} {
			delete(enc.Fields, k)
		}
	}
	delete(enc.Fields, "apply")
	b.WriteString(e.Message)
	if err, ok := enc.Fields["error"]; ok {
		fmt.Fprintf(&b, ": %v", err)
		delete(enc.Fields, "error")
	}
	delete(enc.Fields, "errorVerbose") // the stack of a wrapped error
	if len(enc.Fields) > 0 {
		keys := make([]string, 0, len(enc.Fields))
		for k := range enc.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			v := enc.Fields[k]
			if d, ok := v.(time.Duration); ok {
				v = d.Round(time.Millisecond)
			}
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteByte('\n')
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := io.WriteString(c.w, remodel.ShortenDigests(b.String()))
	return err
}

func (c *lineCore) Sync() error { return nil }

func levelWord(l zapcore.Level) string {
	switch {
	case l >= zapcore.ErrorLevel:
		return "error"
	case l == zapcore.WarnLevel:
		return "warning"
	}
	return l.String()
}
