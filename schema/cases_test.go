package schema

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// configCase is one entry of testdata/config_cases.json, the table of
// configurations (as a user writes the plugin's `config`) with the exact
// errors Kong reports for them. The Kong stand-in's validator is checked
// against the same file.
type configCase struct {
	Name   string          `json:"name"`
	Config json.RawMessage `json:"config"`
	Valid  bool            `json:"valid"`
	Errors []string        `json:"errors"`
}

func loadCases(t testing.TB) []configCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/config_cases.json")
	require.NoError(t, err)
	var cases []configCase
	require.NoError(t, json.Unmarshal(raw, &cases))
	return cases
}

func TestConfigCases(t *testing.T) {
	cases := loadCases(t)
	require.GreaterOrEqual(t, len(cases), 40)
	var valid, invalid int
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			require.Equal(t, tc.Valid, len(tc.Errors) == 0, "a case is valid exactly when it lists no errors")
			err := Validate(tc.Config)
			if tc.Valid {
				require.NoError(t, err)
				cfg, err := Parse(tc.Config)
				require.NoError(t, err, "Parse must accept what Validate accepts")
				require.NotNil(t, cfg.Derived.Upstream)
				return
			}
			var verr *ValidationError
			require.True(t, errors.As(err, &verr), "want a *ValidationError, got %v", err)
			assert.Equal(t, tc.Errors, verr.Errors)
			_, perr := Parse(tc.Config)
			require.True(t, errors.As(perr, &verr))
			assert.Equal(t, tc.Errors, verr.Errors, "Parse reports what Validate reports")
		})
		if tc.Valid {
			valid++
		} else {
			invalid++
		}
	}
	assert.GreaterOrEqual(t, valid, 15)
	assert.GreaterOrEqual(t, invalid, 25)
}
