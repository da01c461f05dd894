package translate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// -update rewrites the *.golden.json files from what the code produces now.
// Review the diff before committing: a golden file is a claim about the
// wire.
var update = flag.Bool("update", false, "rewrite golden files")

// goldenCapabilities are the testdata directories of this file's cases
// (embeddings and video have their own tests).
var goldenCapabilities = []string{"chat", "completions", "native", "preserve"}

// requestCase is testdata/<capability>/requests/<case>.json.
type requestCase struct {
	// Config is Kong's config JSON, or the name of a file in
	// testdata/<capability>/configs/ (without .json).
	Config   json.RawMessage     `json:"config"`
	Path     string              `json:"path"`
	Headers  map[string][]string `json:"headers"`
	Body     json.RawMessage     `json:"body"`
	BodyText *string             `json:"body_text"`
	// StreamRelay is ClientRequest.StreamRelay: streams go through the
	// plugin's relay.
	StreamRelay bool `json:"stream_relay"`
}

// responseCase is testdata/<capability>/responses/<case>.json.
type responseCase struct {
	Config   json.RawMessage     `json:"config"`
	State    State               `json:"state"`
	Status   int                 `json:"status"`
	Headers  map[string][]string `json:"headers"`
	Body     json.RawMessage     `json:"body"`
	BodyText *string             `json:"body_text"`
}

// goldenError is how an *Error is recorded.
type goldenError struct {
	Status  int               `json:"status"`
	Body    json.RawMessage   `json:"body"`
	Headers map[string]string `json:"headers,omitempty"`
}

type goldenUpstream struct {
	Scheme       string            `json:"scheme"`
	Host         string            `json:"host"`
	Port         int               `json:"port"`
	Path         string            `json:"path"`
	Query        *string           `json:"query,omitempty"`
	SetHeaders   map[string]string `json:"set_headers"`
	ClearHeaders []string          `json:"clear_headers,omitempty"`
	// Body is the upstream body when it changed: JSON as is, else a string.
	Body   json.RawMessage `json:"body"`
	Stream bool            `json:"stream"`
	State  State           `json:"state"`
}

type goldenRequest struct {
	Upstream *goldenUpstream `json:"upstream,omitempty"`
	Error    *goldenError    `json:"error,omitempty"`
}

type goldenResponse struct {
	Status  int               `json:"status,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Body is null for "the upstream body goes through unchanged".
	Body  json.RawMessage `json:"body"`
	Usage *Usage          `json:"usage,omitempty"`
	// UpstreamError is the normalised upstream error, for the logs.
	UpstreamError string       `json:"upstream_error,omitempty"`
	Error         *goldenError `json:"error,omitempty"`
}

func TestGoldenRequests(t *testing.T) {
	for _, capName := range goldenCapabilities {
		for _, file := range caseFiles(t, capName, "requests") {
			t.Run(capName+"/"+strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
				var c requestCase
				readJSON(t, file, &c)
				cfg := loadConfig(t, capName, c.Config)
				capab, err := For(cfg)
				require.NoError(t, err)
				in := &ClientRequest{Headers: c.Headers, Body: caseBody(c.Body, c.BodyText), StreamRelay: c.StreamRelay}
				in.Path, in.Query, _ = strings.Cut(c.Path, "?")
				if in.Headers == nil {
					in.Headers = map[string][]string{}
				}
				up, err := capab.Request(cfg, in)
				var got goldenRequest
				if err != nil {
					got.Error = recordError(t, err)
				} else {
					got.Upstream = &goldenUpstream{
						Scheme: up.Scheme, Host: up.Host, Port: up.Port, Path: up.Path, Query: up.Query,
						SetHeaders: up.SetHeaders, ClearHeaders: sorted(up.ClearHeaders),
						Body: recordBody(up.Body), Stream: up.Stream, State: up.State,
					}
					checkBodyEdits(t, in.Body, up.Body, cfg.Auth.ParamName)
				}
				compareGolden(t, file, got)
			})
		}
	}
}

func TestGoldenResponses(t *testing.T) {
	for _, capName := range goldenCapabilities {
		for _, file := range caseFiles(t, capName, "responses") {
			t.Run(capName+"/"+strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
				var c responseCase
				readJSON(t, file, &c)
				cfg := loadConfig(t, capName, c.Config)
				capab, err := For(cfg)
				require.NoError(t, err)
				st := c.State
				in := &UpstreamResponse{Status: c.Status, Headers: c.Headers, Body: caseBody(c.Body, c.BodyText)}
				out, err := capab.Response(cfg, &st, in)
				var got goldenResponse
				if err != nil {
					got.Error = recordError(t, err)
				} else {
					u := out.Usage
					got = goldenResponse{Status: out.Status, Headers: out.Headers, Body: recordBody(out.Body), Usage: &u}
					if out.Error != nil {
						got.UpstreamError = out.Error.Error()
					}
					if out.Body != nil && !gjson.ValidBytes(out.Body) {
						t.Errorf("response body is not valid JSON: %s", out.Body)
					}
				}
				compareGolden(t, file, got)
			})
		}
	}
}

// checkBodyEdits asserts what every edited request body must keep: valid
// JSON, and every top-level key of the client body in the same order.
func checkBodyEdits(t *testing.T, in, out []byte, authParam string) {
	t.Helper()
	if out == nil || !gjson.ValidBytes(in) || !gjson.ValidBytes(out) || !bytes.HasPrefix(bytes.TrimSpace(in), []byte("{")) {
		return
	}
	if gjson.GetBytes(in, "inputs").Exists() != gjson.GetBytes(out, "inputs").Exists() {
		return // a translation to another format, not an edit
	}
	keepsClientFields(t, gjson.ParseBytes(in), gjson.ParseBytes(out), "", authParam)
}

// keepsClientFields checks that out has in's keys first, in order, with the
// same raw values, except the fields the plugin sets (model, stream) and
// the objects it fills in (parameters), which are checked recursively.
func keepsClientFields(t *testing.T, in, out gjson.Result, where, authParam string) {
	t.Helper()
	var inKeys, outKeys []string
	in.ForEach(func(k, _ gjson.Result) bool { inKeys = append(inKeys, k.Str); return true })
	out.ForEach(func(k, _ gjson.Result) bool { outKeys = append(outKeys, k.Str); return true })
	require.GreaterOrEqual(t, len(outKeys), len(inKeys))
	require.Equal(t, inKeys, outKeys[:len(inKeys)], "client keys of %q keep their order; new keys are appended", where)
	for _, k := range inKeys {
		iv, ov := in.Get(escapeKey(k)), out.Get(escapeKey(k))
		switch {
		case where == "" && (k == "model" || k == "stream" || k == authParam):
		case iv.Type == gjson.Null: // null = not set: options may fill it
		case where == "" && k == "parameters" && iv.IsObject():
			keepsClientFields(t, iv, ov, k, authParam)
		default:
			require.Equal(t, iv.Raw, ov.Raw, "client field %q must pass through byte for byte", k)
		}
	}
}

func caseFiles(t *testing.T, capName, kind string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", capName, kind, "*.json"))
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".golden.json") {
			out = append(out, f)
		}
	}
	require.NotEmpty(t, out, "no cases in testdata/%s/%s", capName, kind)
	return out
}

func loadConfig(t testing.TB, capName string, raw json.RawMessage) *schema.Config {
	t.Helper()
	var name string
	if json.Unmarshal(raw, &name) == nil {
		b, err := os.ReadFile(filepath.Join("testdata", capName, "configs", name+".json"))
		require.NoError(t, err)
		raw = b
	}
	cfg, err := schema.Parse(raw)
	require.NoError(t, err, "test config must be valid")
	return cfg
}

func caseBody(raw json.RawMessage, text *string) []byte {
	if text != nil {
		return []byte(*text)
	}
	if raw == nil {
		return nil
	}
	return []byte(raw)
}

func recordBody(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	if gjson.ValidBytes(b) {
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}

func recordError(t *testing.T, err error) *goldenError {
	t.Helper()
	var e *Error
	require.ErrorAs(t, err, &e, "every failure is an *Error")
	return &goldenError{Status: e.Status, Body: e.Body(), Headers: e.Headers}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v), file)
}

func compareGolden(t *testing.T, file string, got any) {
	t.Helper()
	golden := strings.TrimSuffix(file, ".json") + ".golden.json"
	out, err := json.MarshalIndent(got, "", "  ")
	require.NoError(t, err)
	out = append(out, '\n')
	if *update {
		require.NoError(t, os.WriteFile(golden, out, 0o644))
		return
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "missing golden file; run go test -run Golden -update and review it")
	require.JSONEq(t, string(want), string(out))
}
