package architect

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

// ErrEmptyConfig is returned for an input of zero bytes (or only
// whitespace). Binary protobuf would read it as an empty config, which would
// ask for every volume to go; a truncated file must never mean that. A
// controller that really wants nothing sends `{}`.
var ErrEmptyConfig = errors.New("config is empty")

// Decode reads an EdgeDevConfig in binary protobuf or proto-JSON. JSON is
// recognised by its first non-blank byte `{`; anything else is binary. JSON
// accepts both EVE's proto field names (`ds_ids_list`) and their JSON names
// (`dsIdsList`) and ignores fields outside edgewright's subset; binary keeps
// them as unknown fields. Load also warns on JSON fields EVE's schema does
// not have either.
func Decode(data []byte) (*eve.EdgeDevConfig, error) {
	cfg, _, err := decode(data)
	return cfg, err
}

// decode is Decode that also returns a warning for every JSON field that
// neither our schema nor EVE's has (see unknownJSONFields).
func decode(data []byte) (*eve.EdgeDevConfig, materials.Diagnostics, error) {
	// A UTF-8 BOM some editors write before JSON is not binary protobuf.
	if rest, ok := bytes.CutPrefix(data, []byte("\xef\xbb\xbf")); ok && bytes.HasPrefix(bytes.TrimLeft(rest, " \t\r\n"), []byte("{")) {
		data = rest
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, nil, ErrEmptyConfig
	}
	cfg := &eve.EdgeDevConfig{}
	if trimmed[0] == '{' {
		jerr := protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, cfg)
		if jerr == nil {
			return cfg, unknownJSONFields(cfg.ProtoReflect().Descriptor(), data), nil
		}
		// Leading blanks are also valid binary (0x0a is field 1, length
		// delimited); give binary a chance before reporting the JSON error.
		if len(trimmed) != len(data) {
			bin := &eve.EdgeDevConfig{}
			if proto.Unmarshal(data, bin) == nil {
				return bin, nil, nil
			}
		}
		return nil, nil, fmt.Errorf("decode proto-JSON config: %w", jerr)
	}
	if err := proto.Unmarshal(data, cfg); err != nil {
		return nil, nil, fmt.Errorf("decode binary protobuf config: %w", err)
	}
	return cfg, nil, nil
}

// Load decodes data and draws its Blueprint. It never returns nil: a config
// that does not decode gives an incomplete Blueprint with one error
// diagnostic, on whose strength nothing may be deleted.
func Load(data []byte) *materials.Blueprint {
	cfg, unknown, err := decode(data)
	if err != nil {
		bp := emptyBlueprint()
		bp.Complete = false
		bp.Diagnostics = materials.Diagnostics{{
			Severity: materials.SeverityError,
			Path:     "config",
			Value:    fmt.Sprintf("%d bytes", len(data)),
			Message:  err.Error(),
		}}
		return bp
	}
	bp := Draw(cfg)
	if len(unknown) > 0 {
		bp.Diagnostics = append(bp.Diagnostics, unknown...)
		SortDiagnostics(bp.Diagnostics)
	}
	return bp
}

func emptyBlueprint() *materials.Blueprint {
	return &materials.Blueprint{
		Volumes:      []materials.Volume{},
		ContentTrees: []materials.ContentTree{},
		Datastores:   []materials.Datastore{},
		Diagnostics:  materials.Diagnostics{},
	}
}
