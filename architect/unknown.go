package architect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/edgewright/edgewright/materials"
)

// msgUnknownField is the warning for a JSON field that EVE's schema does not
// have either: most likely a misspelling the controller or the user made.
const msgUnknownField = "unknown field (not in EVE's schema): ignored"

// unknownJSONFields walks a proto-JSON config that protojson has already
// accepted and warns on every field that neither our schema nor upstream
// EVE's (upstreamNames) has, at its path (`contentInfo[0].readOnlyy`).
// Fields EVE has but edgewright does not model (networks, baseos, ...) are
// ignored in silence, and nothing inside them is walked: real controllers
// send them in every config. protojson can only drop unknown fields without
// a word or refuse the whole config.
func unknownJSONFields(md protoreflect.MessageDescriptor, data []byte) materials.Diagnostics {
	w := &unknownWalker{dec: json.NewDecoder(bytes.NewReader(data))}
	w.dec.UseNumber()
	// protojson has read the document, so a walk error cannot be the
	// config's fault; what was found up to it still stands.
	_ = w.value(md, "")
	if n := len(w.out) - maxUnknownWarnings; n > 0 {
		// A hostile config must not bury the real diagnostics.
		w.out = append(w.out[:maxUnknownWarnings], materials.Diagnostic{
			Severity: materials.SeverityWarning, Path: "config", Value: strconv.Itoa(n),
			Message: fmt.Sprintf("%d more unknown fields (not in EVE's schema): ignored", n),
		})
	}
	return w.out
}

// maxUnknownWarnings bounds the unknown-field warnings of one config; the
// rest are counted in one more warning.
const maxUnknownWarnings = 100

type unknownWalker struct {
	dec *json.Decoder
	out materials.Diagnostics
}

// value reads one JSON value; if md is set and the value is an object, its
// keys are checked against md. path names the value.
func (w *unknownWalker) value(md protoreflect.MessageDescriptor, path string) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') || md == nil {
		return w.skipRest(tok)
	}
	for w.dec.More() {
		kt, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, ok := kt.(string)
		if !ok {
			return fmt.Errorf("object key %v", kt)
		}
		// protojson's own lookup: JSON name first, then proto name.
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			fd = md.Fields().ByTextName(key)
		}
		if fd == nil {
			if !upstreamHas(md.FullName(), key) {
				p := key
				if path != "" {
					p = path + "." + key
				}
				w.out = append(w.out, materials.Diagnostic{
					Severity: materials.SeverityWarning, Path: p, Value: key, Message: msgUnknownField,
				})
			}
			if err := w.value(nil, ""); err != nil {
				return err
			}
			continue
		}
		// Paths use EVE's proto field names, as Draw's diagnostics do.
		p := string(fd.Name())
		if path != "" {
			p = path + "." + p
		}
		sub := fd.Message()
		if sub == nil || fd.IsMap() || strings.HasPrefix(string(sub.FullName()), "google.protobuf.") {
			sub = nil // scalars, maps and well-known types: nothing of ours inside
		}
		if fd.IsList() && sub != nil {
			if err := w.list(sub, p); err != nil {
				return err
			}
			continue
		}
		if err := w.value(sub, p); err != nil {
			return err
		}
	}
	_, err = w.dec.Token() // '}'
	return err
}

// list reads a repeated message field: an array of objects, or null.
func (w *unknownWalker) list(md protoreflect.MessageDescriptor, path string) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('[') {
		return w.skipRest(tok)
	}
	for i := 0; w.dec.More(); i++ {
		if err := w.value(md, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	_, err = w.dec.Token() // ']'
	return err
}

// skipRest skips the rest of a value whose first token was tok.
func (w *unknownWalker) skipRest(tok json.Token) error {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return nil
	}
	for depth := 1; depth > 0; {
		t, err := w.dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// upstreamHas reports whether EVE's counterpart of our message md has a field
// named name (proto or JSON name).
func upstreamHas(md protoreflect.FullName, name string) bool {
	_, found := slices.BinarySearch(upstreamNames[string(md)], name)
	return found
}
