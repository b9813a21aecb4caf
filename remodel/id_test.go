package remodel

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/materials"
)

func TestParseID(t *testing.T) {
	blob := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		wantErr string // part of the reason; "" for a good id
		action  Action
		target  materials.MaterialRef
		store   materials.BlobStore
	}{
		{in: "create:volume/v1#2", action: ActionCreate, target: materials.MaterialRef{Kind: materials.KindVolume, ID: "v1#2"}},
		{in: "download:blob/" + blob, action: ActionDownload, target: materials.MaterialRef{Kind: materials.KindBlob, ID: blob}},
		{in: "delete:blob/" + blob + "@containerd", action: ActionDelete, target: materials.MaterialRef{Kind: materials.KindBlob, ID: blob}, store: materials.BlobStoreContainerd},
		{in: "delete:blob/" + blob + "@dir", action: ActionDelete, target: materials.MaterialRef{Kind: materials.KindBlob, ID: blob}, store: materials.BlobStoreDir},
		{in: "purge-generation:volume/v1#3", action: ActionPurge, target: materials.MaterialRef{Kind: materials.KindVolume, ID: "v1#3"}},
		{in: "resolve:contentTree/c1", action: ActionResolve, target: materials.MaterialRef{Kind: materials.KindContentTree, ID: "c1"}},
		// A file's id is a path: slashes, '@' and ':' in it are its own.
		{in: "delete:file/persist/vault/volumes/a@b:c.tmp", action: ActionDelete, target: materials.MaterialRef{Kind: materials.KindFile, ID: "persist/vault/volumes/a@b:c.tmp"}},
		// An image record of a content tree: <tree>-<url>, the url may hold '@'.
		{in: "delete:image/c1-docker.io/library/alpine@" + blob, action: ActionDelete, target: materials.MaterialRef{Kind: materials.KindImage, ID: "c1-docker.io/library/alpine@" + blob}},
		// As journals before image records had a kind still name one.
		{in: "delete:contentTree/c1-docker.io/library/alpine@" + blob, action: ActionDelete, target: materials.MaterialRef{Kind: materials.KindContentTree, ID: "c1-docker.io/library/alpine@" + blob}},
		{in: "", wantErr: "no ':'"},
		{in: "create volume v1#2", wantErr: "no ':'"},
		{in: "frobnicate:volume/v1#2", wantErr: `unknown action "frobnicate"`},
		{in: ":volume/v1", wantErr: `unknown action ""`},
		{in: "create:volume", wantErr: "no '/'"},
		{in: "create:disk/v1", wantErr: `unknown material kind "disk"`},
		{in: "create:volume/", wantErr: "no material id"},
		{in: "delete:blob/@containerd", wantErr: "no material id"},
		{in: "delete:blob/" + blob + "@s3", wantErr: `unknown blob store "s3"`},
		{in: "delete:blob/" + blob + "@", wantErr: `unknown blob store ""`},
		{in: "delete:blob/" + blob + "@containerd@dir", wantErr: "more than one '@'"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			id, err := ParseID(tc.in)
			if tc.wantErr != "" {
				var ie *IDError
				if !errors.As(err, &ie) || ie.Value != tc.in || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `"`+tc.in+`"`) {
					t.Fatalf("ParseID(%q) = %q, %v; want an *IDError naming the value, saying %q", tc.in, id, err, tc.wantErr)
				}
				if bad := ID(tc.in); bad.Action() != "" || bad.Target() != (materials.MaterialRef{}) || bad.Store() != "" || bad.Validate() == nil {
					t.Errorf("a malformed id has parts: %q %v %q", bad.Action(), bad.Target(), bad.Store())
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseID(%q): %v", tc.in, err)
			}
			if id.String() != tc.in || id.Action() != tc.action || id.Target() != tc.target || id.Store() != tc.store {
				t.Errorf("ParseID(%q) = %q: action %q target %v store %q; want %q %v %q", tc.in, id, id.Action(), id.Target(), id.Store(), tc.action, tc.target, tc.store)
			}
			if back := NewStoreID(tc.action, tc.target, tc.store); back != id {
				t.Errorf("NewStoreID gives %q, want %q", back, id)
			}
		})
	}
}

// The JSON form of an ID is its string, and decoding refuses a malformed
// one with the value named.
func TestIDJSON(t *testing.T) {
	r := Remodel{ID: NewID(ActionCreate, materials.MaterialRef{Kind: materials.KindVolume, ID: "v1#1"}), Action: ActionCreate,
		DependsOn: []ID{NewStoreID(ActionDelete, materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:aa"}, materials.BlobStoreContainerd)}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"id":"create:volume/v1#1"`) || !strings.Contains(string(b), `"dependsOn":["delete:blob/sha256:aa@containerd"]`) {
		t.Errorf("JSON form changed: %s", b)
	}
	var back Remodel
	if err := json.Unmarshal(b, &back); err != nil || back.ID != r.ID || len(back.DependsOn) != 1 || back.DependsOn[0] != r.DependsOn[0] {
		t.Errorf("round trip: %v %+v", err, back)
	}
	err = json.Unmarshal([]byte(`{"id":"create volume v1#1"}`), &back)
	var ie *IDError
	if !errors.As(err, &ie) || ie.Value != "create volume v1#1" {
		t.Errorf("decoding a malformed id: %v, want an *IDError naming it", err)
	}
}

// FuzzID: whatever ParseID accepts, its parts make again; whatever it
// refuses, the error names; and NewID's ids parse back to their parts.
func FuzzID(f *testing.F) {
	for _, s := range []string{"create:volume/v1#2", "delete:blob/sha256:aa@containerd", "delete:file/a@b", "x", ":/", "resize:volume/@", "delete:blob/a@dir@dir"} {
		f.Add(s, uint8(0), uint8(0), "v1#1", uint8(0))
	}
	kinds := []materials.MaterialKind{materials.KindDatastore, materials.KindContentTree, materials.KindBlob, materials.KindVolume, materials.KindApp, materials.KindFile, materials.KindImage}
	stores := []materials.BlobStore{"", materials.BlobStoreDir, materials.BlobStoreContainerd}
	f.Fuzz(func(t *testing.T, s string, ai, ki uint8, ref string, si uint8) {
		id, err := ParseID(s)
		if err != nil {
			var ie *IDError
			if !errors.As(err, &ie) || ie.Value != s {
				t.Fatalf("ParseID(%q): %v does not name the value", s, err)
			}
		} else {
			if string(id) != s || NewStoreID(id.Action(), id.Target(), id.Store()) != id {
				t.Fatalf("ParseID(%q) = %q; its parts %q %v %q make %q", s, id, id.Action(), id.Target(), id.Store(), NewStoreID(id.Action(), id.Target(), id.Store()))
			}
			text, _ := id.MarshalText()
			var back ID
			if err := back.UnmarshalText(text); err != nil || back != id {
				t.Fatalf("text round trip of %q: %q, %v", id, back, err)
			}
		}

		a := Actions[int(ai)%len(Actions)]
		target := materials.MaterialRef{Kind: kinds[int(ki)%len(kinds)], ID: ref}
		store := stores[int(si)%len(stores)]
		if target.Kind != materials.KindBlob {
			store = "" // only a blob's id names a store
		}
		if ref == "" || target.Kind == materials.KindBlob && strings.Contains(ref, "@") {
			return // no material, or not a digest: NewID's contract does not cover it
		}
		made := NewStoreID(a, target, store)
		got, err := ParseID(string(made))
		if err != nil || got.Action() != a || got.Target() != target || got.Store() != store {
			t.Fatalf("NewStoreID(%q, %v, %q) = %q parses to %q %v %q, %v", a, target, store, made, got.Action(), got.Target(), got.Store(), err)
		}
	})
}
