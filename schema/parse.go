package schema

import "encoding/json"

// Parse decodes a config as Kong sends it to the plugin (defaults already
// applied by Kong), applies the schema's defaults again for safety,
// validates it against the schema, and computes the derived values.
// (Placeholder body until the schema declaration lands.)
func Parse(raw []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return &c, nil
}
