package remodel

import (
	"fmt"
	"strings"

	"github.com/edgewright/edgewright/materials"
)

// ID names a remodel: `<action>:<kind>/<id>`, e.g. `create:volume/<uuid>#2`,
// `download:blob/sha256:…` or `delete:image/<content-tree-id>-<URL>`. A blob's may end in `@<store>`, the blob
// store the remodel works in when that is not where downloads go (the
// delete of a containerd blob: `delete:blob/sha256:…@containerd`). The
// same need on the same material gives the same ID in every plan, and
// the string is what the JSON, the journal and the logs carry.
//
// An ID is a string, so that plans stay small and IDs compare and key
// maps as strings do; NewID and NewStoreID make well-formed ones, and
// ParseID (and decoding from JSON) checks one from outside.
type ID string

// NewID is the ID of action a on material ref.
func NewID(a Action, ref materials.MaterialRef) ID {
	return ID(string(a) + ":" + string(ref.Kind) + "/" + ref.ID)
}

// NewStoreID is the ID of action a on a blob in a store other than the
// one downloads go to; an empty store gives NewID's.
func NewStoreID(a Action, ref materials.MaterialRef, store materials.BlobStore) ID {
	id := NewID(a, ref)
	if store != "" {
		id += ID("@" + string(store))
	}
	return id
}

// IDError says why a string is not a remodel ID.
type IDError struct {
	Value string
	Why   string
}

func (e *IDError) Error() string { return fmt.Sprintf("remodel id %q: %s", e.Value, e.Why) }

// materialKinds are the kinds a remodel may target.
var materialKinds = map[materials.MaterialKind]bool{
	materials.KindDatastore: true, materials.KindContentTree: true, materials.KindBlob: true,
	materials.KindVolume: true, materials.KindApp: true, materials.KindFile: true, materials.KindImage: true,
	materials.KindLease: true,
}

// ParseID checks s is a remodel ID: a known action, a known material kind,
// a non-empty material id, and for a blob at most one `@` with a known
// store after it. The error is an *IDError naming s.
func ParseID(s string) (ID, error) {
	bad := func(why string) (ID, error) { return "", &IDError{Value: s, Why: why} }
	action, rest, ok := strings.Cut(s, ":")
	if !ok {
		return bad("no ':' after the action (want <action>:<kind>/<id>)")
	}
	if _, known := Action(action).Facts(); !known {
		return bad(fmt.Sprintf("unknown action %q", action))
	}
	kind, ref, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("no '/' after the material kind (want <action>:<kind>/<id>)")
	}
	if !materialKinds[materials.MaterialKind(kind)] {
		return bad(fmt.Sprintf("unknown material kind %q", kind))
	}
	if kind == string(materials.KindBlob) {
		d, store, at := strings.Cut(ref, "@")
		switch {
		case at && strings.Contains(store, "@"):
			return bad("more than one '@' after a blob digest")
		case at && store != string(materials.BlobStoreDir) && store != string(materials.BlobStoreContainerd):
			return bad(fmt.Sprintf("unknown blob store %q", store))
		}
		ref = d
	}
	if ref == "" {
		return bad("no material id after the kind")
	}
	return ID(s), nil
}

// Validate reports whether the ID is well formed, as ParseID does.
func (id ID) Validate() error {
	_, err := ParseID(string(id))
	return err
}

// Action is the ID's action; "" when the ID is malformed.
func (id ID) Action() Action {
	if id.Validate() != nil {
		return ""
	}
	a, _, _ := strings.Cut(string(id), ":")
	return Action(a)
}

// Target is the material the ID's remodel works on, without the store;
// the zero ref when the ID is malformed.
func (id ID) Target() materials.MaterialRef {
	ref, _ := id.parts()
	return ref
}

// Store is the blob store an ID names after `@`; "" when it names none
// (or is malformed).
func (id ID) Store() materials.BlobStore {
	_, store := id.parts()
	return store
}

func (id ID) parts() (materials.MaterialRef, materials.BlobStore) {
	if id.Validate() != nil {
		return materials.MaterialRef{}, ""
	}
	_, rest, _ := strings.Cut(string(id), ":")
	kind, ref, _ := strings.Cut(rest, "/")
	var store string
	if kind == string(materials.KindBlob) {
		ref, store, _ = strings.Cut(ref, "@")
	}
	return materials.MaterialRef{Kind: materials.MaterialKind(kind), ID: ref}, materials.BlobStore(store)
}

func (id ID) String() string { return string(id) }

// MarshalText writes the ID as it is: the wire form is the string.
func (id ID) MarshalText() ([]byte, error) { return []byte(id), nil }

// UnmarshalText accepts only a well-formed ID (ParseID): a plan or result
// read from outside names remodels edgewright can make.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
