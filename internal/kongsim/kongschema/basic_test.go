package kongschema

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFileLogBuiltin(t *testing.T) {
	s, ok := Builtin("file-log")
	require.True(t, ok)
	assert.Equal(t, []string{"file-log"}, BuiltinNames())

	tests := []struct {
		name    string
		config  string
		want    string
		wantMsg string
	}{
		{name: "defaults", config: `{"path":"/tmp/x.log"}`, want: `{"path":"/tmp/x.log","reopen":false}`},
		{name: "missing path", config: `{}`, wantMsg: "schema violation (config.path: required field missing)"},
		{name: "no config", config: ``, wantMsg: "schema violation (config.path: required field missing)"},
		{name: "null config", config: `null`, wantMsg: "schema violation (config: required field missing)"},
		{name: "leading space", config: `{"path":" /x"}`, wantMsg: "schema violation (config.path: not a valid filename)"},
		{name: "star", config: `{"path":"/tmp/*.log"}`, wantMsg: "schema violation (config.path: not a valid filename)"},
		{name: "backslash", config: `{"path":"/tmp/a\\b"}`, wantMsg: "schema violation (config.path: not a valid filename)"},
		{name: "two errors", config: `{"path":"/x","reopen":"yes","zzz":1}`,
			wantMsg: "2 schema violations (config.reopen: expected a boolean; config.zzz: unknown field)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errV := s.ProcessConfig(json.RawMessage(tc.config))
			if tc.wantMsg != "" {
				require.NotNil(t, errV)
				assert.Equal(t, tc.wantMsg, errV.Message)
				assert.Equal(t, 2, errV.Code)
				return
			}
			require.Nil(t, errV)
			assert.JSONEq(t, tc.want, string(out))
		})
	}
}
