package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

// loggedRecord waits for the line file-log wrote for the request that
// carried X-E2E-Id: id, and returns it decoded: the record as a Kong log
// plugin receives it (the stand-in's own "kongsim" section aside).
func (r *rig) loggedRecord(t *testing.T, id string) map[string]any {
	t.Helper()
	var found map[string]any
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(r.logPath)
		if err != nil {
			return false
		}
		// Every line is decoded: the ids hold '/', which file-log's JSON
		// writes as "\/".
		for _, line := range bytes.Split(b, []byte("\n")) {
			var m map[string]any
			if json.Unmarshal(line, &m) != nil {
				continue
			}
			if gjson.GetBytes(line, "request.headers.x-e2e-id").String() == id {
				keep(line)
				found = m
				return true
			}
		}
		return false
	}, 15*time.Second, 5*time.Millisecond, "file-log wrote no record for the request %q", id)
	return found
}

// requireKeys asserts the exact set of keys of a JSON object.
func requireKeys(t *testing.T, obj gjson.Result, want ...string) {
	t.Helper()
	require.True(t, obj.IsObject(), "not an object: %s", obj.Raw)
	var got []string
	obj.ForEach(func(k, _ gjson.Result) bool {
		got = append(got, k.Str)
		return true
	})
	assert.ElementsMatch(t, want, got, "keys of %s", obj.Raw)
}

// requireUUID asserts a Kong entity id.
func requireUUID(t *testing.T, v gjson.Result) {
	t.Helper()
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, v.String())
}

// anConfig is an analytics test route's plugin config: route type, extra
// top-level fields (JSON fragment, "" for none), model options and logging.
func anConfig(routeType, extra, options string, stats, payloads bool) string {
	if extra != "" {
		extra += ","
	}
	return fmt.Sprintf(`{"route_type":%q,%s"response_streaming":"allow","model_name_header":true,`+
		`"auth":{"header_name":"Authorization","header_value":"Bearer %s"},`+
		`"model":{"provider":"huggingface","name":%q,"options":{%s}},`+
		`"logging":{"log_statistics":%t,"log_payloads":%t}}`, routeType, extra, hfToken, anModel, options, stats, payloads)
}

// anModel is the model the analytics tests configure.
const anModel = "mistralai/Mistral-7B-Instruct-v0.2"

// anStatsUsageKeys are ai.proxy.usage's keys for a buffered answer with
// completion tokens (Kong's names).
var anStatsUsageKeys = []string{"prompt_tokens", "completion_tokens", "total_tokens", "cost", "time_per_token", "time_to_first_token"}

// anMetaKeys are ai.proxy.meta's keys for a buffered answer: Kong's, and
// upstream_status (ours).
var anMetaKeys = []string{"plugin_id", "provider_name", "request_model", "response_model", "llm_latency", "request_mode", "upstream_status"}

// requireLatencyFigures checks llm_latency (integer ms) and the figures
// derived from it: time_per_token = latency / completion tokens and
// time_to_first_token = latency (a buffered answer arrives in one piece).
func requireLatencyFigures(t *testing.T, p gjson.Result, completion int) {
	t.Helper()
	lat := p.Get("meta.llm_latency")
	require.Equal(t, gjson.Number, lat.Type)
	assert.GreaterOrEqual(t, lat.Float(), 0.0)
	assert.Equal(t, float64(lat.Int()), lat.Float(), "llm_latency is whole milliseconds")
	if completion > 0 {
		assert.InDelta(t, lat.Float()/float64(completion), p.Get("usage.time_per_token").Float(), 1e-9)
		assert.Equal(t, lat.Int(), p.Get("usage.time_to_first_token").Int())
	} else {
		assert.Zero(t, p.Get("usage.time_per_token").Float())
		assert.False(t, p.Get("usage.time_to_first_token").Exists())
	}
}
