package architect

import "testing"

// TestJSONWithBOM: a JSON config after a UTF-8 BOM decodes as JSON.
func TestJSONWithBOM(t *testing.T) {
	cfg, err := Decode([]byte("\xef\xbb\xbf" + `{"volumes": [{"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10"}]}`))
	if err != nil || len(cfg.GetVolumes()) != 1 {
		t.Fatalf("Decode: %v, %d volumes", err, len(cfg.GetVolumes()))
	}
}
