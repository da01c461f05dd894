package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// toJSONBytes re-encodes a decoded log record, for gjson paths and scans.
func toJSONBytes(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// aiProxy is the ai.proxy part of a log record (Type Null when absent).
func aiProxy(t *testing.T, rec map[string]any) gjson.Result {
	t.Helper()
	return gjson.GetBytes(toJSONBytes(t, rec), "ai.proxy")
}
