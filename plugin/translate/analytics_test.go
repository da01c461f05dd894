package translate

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

const (
	analyticsModel = "mistralai/Mistral-7B-Instruct-v0.2"
	headerSecret   = "hf_header_SECRET_0123"
	paramSecretVal = "param_SECRET_4567"
)

// analyticsConfig is a chat config with the given logging and costs
// ("" = unset) and both kinds of auth, so every secret is configured.
func analyticsConfig(t *testing.T, stats, payloads bool, costs string) *schema.Config {
	t.Helper()
	b := func(v bool) string {
		if v {
			return "true"
		}
		return "false"
	}
	if costs != "" {
		costs = "," + costs
	}
	raw := `{"route_type":"llm/v1/chat","__plugin_id":"6e7c40f6-ce96-48e4-a366-d109c169e444",
		"auth":{"header_name":"Authorization","header_value":"Bearer ` + headerSecret + `","param_name":"hf_key","param_value":"` + paramSecretVal + `","param_location":"body","allow_override":true},
		"model":{"provider":"huggingface","name":"` + analyticsModel + `","options":{"max_tokens":64` + costs + `}},
		"logging":{"log_statistics":` + b(stats) + `,"log_payloads":` + b(payloads) + `}}`
	cfg, err := schema.Parse([]byte(raw))
	require.NoError(t, err)
	return cfg
}

// requireKongValues fails when a record holds a value Kong's bridge would
// mangle: false (removes the key) or nil (becomes "NULL_VALUE").
func requireKongValues(t *testing.T, v any, path string) {
	t.Helper()
	switch x := v.(type) {
	case nil:
		t.Fatalf("%s is nil: Kong would write \"NULL_VALUE\"", path)
	case bool:
		require.True(t, x, "%s is false: Kong would remove the key", path)
	case string:
		require.True(t, utf8.ValidString(x), "%s is not valid UTF-8", path)
	case int, int64, float64:
	case map[string]any:
		for k, e := range x {
			requireKongValues(t, e, path+"."+k)
		}
	default:
		t.Fatalf("%s has the type %T, which structpb cannot send", path, v)
	}
}

func TestCost(t *testing.T) {
	ten, two := 10.0, 2.5
	tests := []struct {
		name               string
		in, out            *float64
		prompt, completion int
		want               float64
	}{
		{"Kong's spec example: 25/12 tokens at 10/10", &ten, &ten, 25, 12, 0.00037},
		{"different prices", &ten, &two, 1000, 400, 0.011},
		{"no costs", nil, nil, 25, 12, 0},
		{"only input_cost: 0, as Kong", &ten, nil, 25, 12, 0},
		{"no tokens", &ten, &ten, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &schema.Config{}
			cfg.Model.Options.InputCost, cfg.Model.Options.OutputCost = tc.in, tc.out
			assert.InDelta(t, tc.want, Cost(cfg, tc.prompt, tc.completion), 1e-12)
		})
	}
}

func TestAccessRecord(t *testing.T) {
	chat := &ClientRequest{
		Headers: map[string][]string{"content-type": {"application/json"}},
		Body:    []byte(`{"messages":[{"role":"user","content":"one two three"}],"stream":true,"hf_key":"client-own-key-99"}`),
	}
	t.Run("logging off: nothing", func(t *testing.T) {
		assert.Nil(t, AccessRecord(analyticsConfig(t, false, false, ""), chat, &State{Model: analyticsModel, Stream: true}, nil, nil))
	})
	t.Run("stream: what access knows, estimated", func(t *testing.T) {
		cfg := analyticsConfig(t, true, true, `"input_cost":10,"output_cost":20`)
		rec := AccessRecord(cfg, chat, &State{Model: analyticsModel, Stream: true, PromptTokens: 5}, nil, NewRedactor(cfg).WithRequest(cfg, chat))
		requireKongValues(t, rec, "ai.proxy")
		assert.Equal(t, map[string]any{
			"plugin_id": "6e7c40f6-ce96-48e4-a366-d109c169e444", "provider_name": "huggingface",
			"request_model": analyticsModel, "response_model": analyticsModel, "request_mode": "stream",
		}, rec["meta"])
		assert.Equal(t, map[string]any{"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5, "cost": 0.00005, "estimated": true}, rec["usage"])
		p := rec["payload"].(map[string]any)["request"].(string)
		assert.Equal(t, `{"messages":[{"role":"user","content":"one two three"}],"stream":true,"hf_key":"REDACTED"}`, p, "the auth param field is a credential whoever sent it")
		assert.NotContains(t, rec, "error")
	})
	t.Run("preserve stream: the prompt estimated here (×1.8)", func(t *testing.T) {
		cfg := analyticsConfig(t, true, false, "")
		rec := AccessRecord(cfg, chat, &State{Model: analyticsModel, Stream: true}, nil, nil)
		assert.Equal(t, 5, rec["usage"].(map[string]any)["prompt_tokens"], "3 words × 1.8, rounded")
		assert.NotContains(t, rec, "payload")
	})
	t.Run("rejected: meta and error, no usage", func(t *testing.T) {
		cfg := analyticsConfig(t, true, false, "")
		cfg.Model.Name = ""
		in := &ClientRequest{Body: []byte(`{"model":"evil/model","messages":[]}`)}
		rec := AccessRecord(cfg, in, nil, Errorf(400, "cannot use own model - must be: x"), nil)
		requireKongValues(t, rec, "ai.proxy")
		assert.Equal(t, map[string]any{"provider_name": "huggingface", "request_model": "evil/model", "response_model": "evil/model",
			"request_mode": "oneshot", "plugin_id": "6e7c40f6-ce96-48e4-a366-d109c169e444"}, rec["meta"])
		assert.Equal(t, map[string]any{"status": 400, "type": "invalid_request_error", "source": "plugin", "message": "cannot use own model - must be: x"}, rec["error"])
		assert.NotContains(t, rec, "usage")
	})
	t.Run("rejected, payloads only: the payload alone", func(t *testing.T) {
		cfg := analyticsConfig(t, false, true, "")
		rec := AccessRecord(cfg, chat, nil, Errorf(413, "too big"), nil)
		assert.Equal(t, []string{"payload"}, keys(rec))
	})
	t.Run("a request with nothing read: meta and error only", func(t *testing.T) {
		cfg := analyticsConfig(t, true, true, "")
		rec := AccessRecord(cfg, &ClientRequest{}, nil, Errorf(413, "too big"), nil)
		assert.ElementsMatch(t, []string{"meta", "error"}, keys(rec))
	})
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestResponseRecord(t *testing.T) {
	st := &State{Model: analyticsModel, StartedAt: 1, Payload: `{"messages":[]}`}
	okBody := []byte(`{"model":"` + analyticsModel + `","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":26,"completion_tokens":40,"total_tokens":66}}`)
	tests := []struct {
		name      string
		stats     bool
		payloads  bool
		in        *UpstreamResponse
		out       *ClientResponse
		failure   *Error
		latency   int64
		wantMeta  map[string]any
		wantUsage map[string]any
		wantError map[string]any
		wantResp  string
	}{
		{
			name: "chat with the upstream's usage (Kong's F.1 figures)", stats: true, payloads: true,
			in:       &UpstreamResponse{Status: 200, Body: okBody},
			out:      &ClientResponse{Status: 200, Usage: Usage{PromptTokens: 26, CompletionTokens: 40, TotalTokens: 66, ResponseModel: "upstream/said"}},
			latency:  1000,
			wantMeta: map[string]any{"llm_latency": int64(1000), "upstream_status": 200, "response_model": analyticsModel},
			wantUsage: map[string]any{"prompt_tokens": 26, "completion_tokens": 40, "total_tokens": 66, "cost": 0.0,
				"time_per_token": 25.0, "time_to_first_token": int64(1000)},
			wantResp: string(okBody),
		},
		{
			name: "estimated usage is marked; the plugin's body is the one logged", stats: true, payloads: true,
			in:        &UpstreamResponse{Status: 200, Body: []byte(`[{"generated_text":"a b"}]`)},
			out:       &ClientResponse{Status: 200, Body: []byte(`{"object":"text_completion","model":"m/x"}`), Usage: Usage{PromptTokens: 3, CompletionTokens: 1, Estimated: true}},
			latency:   7,
			wantMeta:  map[string]any{"llm_latency": int64(7), "upstream_status": 200, "response_model": "m/x"},
			wantUsage: map[string]any{"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4, "cost": 0.0, "time_per_token": 7.0, "time_to_first_token": int64(7), "estimated": true},
			wantResp:  `{"object":"text_completion","model":"m/x"}`,
		},
		{
			name: "no completion tokens: time_per_token 0, no time_to_first_token", stats: true,
			in:        &UpstreamResponse{Status: 200, Body: []byte(`{"object":"list"}`)},
			out:       &ClientResponse{Status: 200, Usage: Usage{PromptTokens: 4, TotalTokens: 4}},
			latency:   3,
			wantMeta:  map[string]any{"llm_latency": int64(3), "upstream_status": 200, "response_model": analyticsModel},
			wantUsage: map[string]any{"prompt_tokens": 4, "completion_tokens": 0, "total_tokens": 4, "cost": 0.0, "time_per_token": 0.0},
		},
		{
			name: "upstream error: the normalised error, zero usage", stats: true, payloads: true,
			in:        &UpstreamResponse{Status: 503, Body: []byte(`{"error":"Model x is currently loading","estimated_time":3}`)},
			out:       errorResponse(&UpstreamResponse{Status: 503, Body: []byte(`{"error":"Model x is currently loading","estimated_time":3}`)}),
			latency:   2,
			wantMeta:  map[string]any{"llm_latency": int64(2), "upstream_status": 503, "response_model": analyticsModel},
			wantUsage: map[string]any{"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost": 0.0, "time_per_token": 0.0},
			wantError: map[string]any{"status": 503, "type": "server_error", "code": "model_loading", "source": "upstream", "message": "Model x is currently loading"},
			wantResp:  `{"error":{"message":"Model x is currently loading","type":"server_error","code":"model_loading"}}`,
		},
		{
			name: "the plugin's 502: source plugin, the client's body logged", stats: true, payloads: true,
			in:        &UpstreamResponse{Status: 200, Body: []byte(`{"foo":1}`)},
			failure:   badGateway("no choices"),
			wantMeta:  map[string]any{"llm_latency": int64(0), "upstream_status": 200, "response_model": analyticsModel},
			wantUsage: map[string]any{"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cost": 0.0, "time_per_token": 0.0},
			wantError: map[string]any{"status": 502, "type": "server_error", "code": "bad_upstream_response", "source": "plugin", "message": "no choices"},
			wantResp:  `{"error":{"message":"no choices","type":"server_error","code":"bad_upstream_response"}}`,
		},
		{
			name: "the plugin's 502 for a binary 200: its JSON error logged, not described", payloads: true,
			in:       &UpstreamResponse{Status: 200, Headers: map[string][]string{"content-type": {"image/png"}}, Body: []byte("\x89PNG")},
			failure:  badGateway("not JSON"),
			wantResp: `{"error":{"message":"not JSON","type":"server_error","code":"bad_upstream_response"}}`,
		},
		{
			name: "video bytes left unread: described from Content-Length", payloads: true,
			in:       &UpstreamResponse{Status: 200, Headers: map[string][]string{"content-type": {"video/mp4"}, "content-length": {"1048576"}}},
			out:      &ClientResponse{Status: 200},
			wantResp: "<1048576 bytes video/mp4>",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := analyticsConfig(t, tc.stats, tc.payloads, "")
			rec := ResponseRecord(cfg, st, tc.in, tc.out, tc.failure, tc.latency, NewRedactor(cfg))
			requireKongValues(t, rec, "ai.proxy")
			if tc.stats {
				m := rec["meta"].(map[string]any)
				for k, v := range tc.wantMeta {
					assert.Equal(t, v, m[k], "meta.%s", k)
				}
				assert.Equal(t, "oneshot", m["request_mode"])
				assert.Equal(t, analyticsModel, m["request_model"])
				assert.Equal(t, tc.wantUsage, rec["usage"])
			} else {
				assert.NotContains(t, rec, "meta")
				assert.NotContains(t, rec, "usage")
			}
			if tc.wantError != nil {
				assert.Equal(t, tc.wantError, rec["error"])
			} else {
				assert.NotContains(t, rec, "error")
			}
			if tc.payloads {
				p := rec["payload"].(map[string]any)
				assert.Equal(t, st.Payload, p["request"])
				assert.Equal(t, tc.wantResp, p["response"])
			} else {
				assert.NotContains(t, rec, "payload")
			}
		})
	}
	t.Run("logging off: nothing", func(t *testing.T) {
		assert.Nil(t, ResponseRecord(analyticsConfig(t, false, false, ""), st, &UpstreamResponse{Status: 200, Body: okBody}, &ClientResponse{Status: 200}, nil, 1, nil))
	})
}

func TestRequestPayload(t *testing.T) {
	cfg := analyticsConfig(t, false, true, "")
	big := `{"inputs":"` + strings.Repeat("é", PayloadLimit) + `"}`
	tests := []struct {
		name, ct, body, want string
	}{
		{"JSON as sent", "application/json", `{"a":1}`, `{"a":1}`},
		{"no content type: taken for JSON", "", `{"a":1}`, `{"a":1}`},
		{"auth param field redacted", "application/json", `{"hf_key":"mine","x":1}`, `{"hf_key":"REDACTED","x":1}`},
		{"configured secrets removed anywhere", "application/json", `{"note":"Bearer ` + headerSecret + ` and ` + paramSecretVal + `"}`, `{"note":"REDACTED and REDACTED"}`},
		{"multipart described", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\ncat\r\n--x--\r\n", "<66 bytes multipart/form-data>"},
		{"image described", "image/png", "\x89PNG\r\n", "<6 bytes image/png>"},
		{"JSON that is not UTF-8 described", "application/json", "{\"a\":\"\xff\"}", "<9 bytes application/json>"},
		{"empty: nothing", "application/json", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &ClientRequest{Headers: map[string][]string{}, Body: []byte(tc.body)}
			if tc.ct != "" {
				in.Headers["content-type"] = []string{tc.ct}
			}
			assert.Equal(t, tc.want, RequestPayload(cfg, in, NewRedactor(cfg)))
		})
	}
	t.Run("cut at the limit on a rune boundary, with the full size", func(t *testing.T) {
		got := RequestPayload(cfg, &ClientRequest{Body: []byte(big)}, nil)
		require.True(t, utf8.ValidString(got))
		marker := "…[truncated by ai-proxy-hf: 131085 bytes in all]"
		require.True(t, strings.HasSuffix(got, marker), got[len(got)-80:])
		assert.LessOrEqual(t, len(got)-len(marker), PayloadLimit)
		assert.Greater(t, len(got)-len(marker), PayloadLimit-2)
		assert.True(t, strings.HasPrefix(big, strings.TrimSuffix(got, marker)))
	})
	t.Run("the client's credentials removed", func(t *testing.T) {
		in := &ClientRequest{
			Headers: map[string][]string{"apikey": {"kong-consumer-key-1"}, "authorization": {"Bearer client-bearer-9"}},
			Query:   "api_key=query%2Dkey%2D77&x=1",
			Body:    []byte(`{"echo":"kong-consumer-key-1 client-bearer-9 query-key-77"}`),
		}
		assert.Equal(t, `{"echo":"REDACTED REDACTED REDACTED"}`, RequestPayload(cfg, in, NewRedactor(cfg).WithRequest(cfg, in)))
	})
}

func TestResponsePayload(t *testing.T) {
	cfg := analyticsConfig(t, false, true, "")
	tests := []struct {
		name       string
		in         *UpstreamResponse
		clientBody string
		clientHdrs map[string]string
		want       string
	}{
		{"JSON", &UpstreamResponse{Headers: map[string][]string{"content-type": {"application/json"}}}, `{"a":1}`, nil, `{"a":1}`},
		{"the plugin's content type wins", &UpstreamResponse{Headers: map[string][]string{"content-type": {"video/mp4"}}}, `{"a":1}`, map[string]string{"Content-Type": "application/json"}, `{"a":1}`},
		{"video read anyway: described", &UpstreamResponse{Headers: map[string][]string{"content-type": {"video/mp4"}}}, "\x00\x00\x00\x18ftyp", nil, "<8 bytes video/mp4>"},
		{"unread, no length", &UpstreamResponse{Headers: map[string][]string{"content-type": {"video/mp4"}}}, "", nil, "<video/mp4 body, size unknown>"},
		{"SSE buffered anyway: text", &UpstreamResponse{Headers: map[string][]string{"content-type": {"text/event-stream"}}}, "data: {}\n\n", nil, "data: {}\n\n"},
		{"a secret echoed by the upstream", &UpstreamResponse{}, `{"msg":"bad token ` + headerSecret + `"}`, nil, `{"msg":"bad token REDACTED"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.clientBody != "" {
				body = []byte(tc.clientBody)
			}
			assert.Equal(t, tc.want, ResponsePayload(cfg, tc.in, body, tc.clientHdrs, NewRedactor(cfg)))
		})
	}
}

func TestRedactor(t *testing.T) {
	cfg := analyticsConfig(t, false, false, "")
	r := NewRedactor(cfg)
	assert.Equal(t, "x REDACTED y", r.String("x Bearer "+headerSecret+" y"), "the whole header value")
	assert.Equal(t, "token=REDACTED", r.String("token="+headerSecret), "the token after its scheme, alone")
	assert.Equal(t, "p=REDACTED", r.String("p="+paramSecretVal))
	assert.Equal(t, "nothing secret", r.String("nothing secret"))
	var none *Redactor
	assert.Equal(t, "as is", none.String("as is"), "a nil Redactor removes nothing")

	in := &ClientRequest{
		Headers: map[string][]string{"x-api-key": {"sk-client-111"}, "cookie": {"session=abcdef"}, "proxy-authorization": {"Basic dXNlcjpwdw=="}, "accept": {"*/*"}},
		Query:   "jwt=eyJhbGciOi&keep=visible-value&hf=abc",
	}
	w := r.WithRequest(cfg, in)
	assert.Equal(t, "REDACTED REDACTED REDACTED REDACTED visible-value */*",
		w.String("sk-client-111 session=abcdef dXNlcjpwdw== eyJhbGciOi visible-value */*"))
	assert.Equal(t, "abc", w.String("abc"), "values under 4 bytes are left: they would garble every line")
	assert.Equal(t, "x REDACTED", r.String("x Bearer "+headerSecret), "WithRequest leaves the instance's Redactor as it was")
}

func TestLogEdits(t *testing.T) {
	parse := func(auth string) *schema.Config {
		cfg, err := schema.Parse([]byte(`{"route_type":"llm/v1/chat","auth":` + auth + `,"model":{"provider":"huggingface","name":"` + analyticsModel + `"}}`))
		require.NoError(t, err)
		return cfg
	}
	bearer := parse(`{"header_name":"Authorization","header_value":"Bearer x1234"}`)
	custom := parse(`{"header_name":"X-HF-Key","header_value":"x1234"}`)
	query := parse(`{"param_name":"hf.token","param_value":"p1234","param_location":"query"}`)
	q := func(s string) *string { return &s }
	tests := []struct {
		name    string
		cfg     *schema.Config
		in      *ClientRequest
		up      *UpstreamRequest // nil: rejected
		want    []LogEdit
		wantURI string
		wantUpQ string
	}{
		{
			name: "the usual request: Authorization, which Kong redacts itself: no edit",
			cfg:  bearer, in: &ClientRequest{Path: "/chat", Headers: map[string][]string{"authorization": {"Bearer own"}}},
			up: &UpstreamRequest{Path: "/v1/chat/completions", SetHeaders: map[string]string{"authorization": "Bearer x1234"}},
		},
		{
			name: "another auth header: redacted",
			cfg:  custom, in: &ClientRequest{Path: "/chat"},
			up:   &UpstreamRequest{Path: "/v1/chat/completions", SetHeaders: map[string]string{"x-hf-key": "x1234"}},
			want: []LogEdit{{"request.headers.x-hf-key", "REDACTED"}},
		},
		{
			name: "client credential headers cleared from a forwarded request: nothing left to redact",
			cfg:  bearer, in: &ClientRequest{Path: "/chat", Headers: map[string][]string{"apikey": {"k"}, "cookie": {"c"}}},
			up: &UpstreamRequest{Path: "/v1/chat/completions", SetHeaders: map[string]string{"authorization": "Bearer x1234"}, ClearHeaders: []string{"apikey", "cookie"}},
		},
		{
			name: "rejected: the client's credential headers stay on the record, redacted",
			cfg:  bearer, in: &ClientRequest{Path: "/chat", Headers: map[string][]string{"apikey": {"k"}, "api-key": {"k"}, "accept": {"*/*"}}},
			want: []LogEdit{{"request.headers.apikey", "REDACTED"}, {"request.headers.api-key", "REDACTED"}},
		},
		{
			name: "query auth: the param in the querystring and upstream_uri (dots escaped)",
			cfg:  query, in: &ClientRequest{Path: "/chat", Query: "a=1"},
			up:   &UpstreamRequest{Path: "/v1/chat/completions", Query: q("a=1&hf.token=p1234")},
			want: []LogEdit{{`request.querystring.hf\.token`, "REDACTED"}, {"upstream_uri", "/v1/chat/completions?a=1&hf.token=REDACTED"}},
		},
		{
			name: "a client credential in the query: dropped upstream, but request.uri and url keep it",
			cfg:  bearer, in: &ClientRequest{Path: "/chat", Query: "apikey=k1&b=2&apikey=k2"},
			up:      &UpstreamRequest{Path: "/v1/chat/completions", Query: q("b=2")},
			want:    []LogEdit{{"request.uri", "/chat?apikey=REDACTED&b=2&apikey=REDACTED"}},
			wantURI: "/chat?apikey=REDACTED&b=2&apikey=REDACTED",
		},
		{
			name: "rejected with a query credential: querystring, uri, and upstream_uri from Kong's path",
			cfg:  bearer, in: &ClientRequest{Path: "/chat", Query: "access_token=t&flag"},
			want:    []LogEdit{{"request.querystring.access_token", "REDACTED"}, {"request.uri", "/chat?access_token=REDACTED&flag"}},
			wantURI: "/chat?access_token=REDACTED&flag",
			wantUpQ: "access_token=REDACTED&flag",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := LogEdits(tc.cfg, tc.in, tc.up)
			assert.Equal(t, tc.want, got.Edits)
			assert.Equal(t, tc.wantURI, got.URI)
			assert.Equal(t, tc.wantUpQ, got.UpstreamQuery)
		})
	}
}

// FuzzRequestPayload: whatever the body, the logged payload holds no
// configured secret, is valid UTF-8 and stays within the limit.
func FuzzRequestPayload(f *testing.F) {
	f.Add([]byte(`{"hf_key":"x","a":"Bearer `+headerSecret+`"}`), "application/json")
	f.Add([]byte(paramSecretVal), "text/plain")
	f.Add([]byte("\xff\xfe"), "")
	f.Add([]byte(`{"hf_key":`), "application/json")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		cfg := &schema.Config{}
		cfg.Auth = schema.Auth{HeaderName: "authorization", HeaderValue: "Bearer " + headerSecret, ParamName: "hf_key", ParamValue: paramSecretVal, ParamLocation: "body"}
		in := &ClientRequest{Headers: map[string][]string{"content-type": {ct}}, Body: body}
		got := RequestPayload(cfg, in, NewRedactor(cfg))
		if !utf8.ValidString(got) {
			t.Fatalf("not UTF-8: %q", got)
		}
		if strings.Contains(got, headerSecret) || strings.Contains(got, paramSecretVal) {
			t.Fatalf("a secret was logged: %q", got)
		}
		if len(got) > PayloadLimit+len(truncatedMarker)+20 {
			t.Fatalf("payload of %d bytes", len(got))
		}
		if gjson.Valid(got) && gjson.Get(got, "hf_key").Exists() && gjson.Get(got, "hf_key").String() != Redacted {
			t.Fatalf("the auth param field was logged: %q", got)
		}
	})
}

// BenchmarkResponseRecord: the record of a 4 KiB chat answer with
// statistics and payloads on (the response phase's share of logging).
func BenchmarkResponseRecord(b *testing.B) {
	cfg, err := schema.Parse([]byte(`{"route_type":"llm/v1/chat","auth":{"header_name":"Authorization","header_value":"Bearer ` + headerSecret + `"},
		"model":{"provider":"huggingface","name":"` + analyticsModel + `","options":{"input_cost":1,"output_cost":2}},"logging":{"log_statistics":true,"log_payloads":true}}`))
	if err != nil {
		b.Fatal(err)
	}
	content := strings.Repeat("lorem ipsum ", 340)
	body := []byte(`{"id":"x","object":"chat.completion","model":"` + analyticsModel + `","choices":[{"index":0,"message":{"role":"assistant","content":"` + content + `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":26,"completion_tokens":680,"total_tokens":706}}`)
	st := &State{Model: analyticsModel, StartedAt: 1, Payload: `{"messages":[{"role":"user","content":"hi"}]}`}
	in := &UpstreamResponse{Status: 200, Body: body}
	out := &ClientResponse{Status: 200, Usage: Usage{PromptTokens: 26, CompletionTokens: 680, TotalTokens: 706}}
	r := NewRedactor(cfg)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if ResponseRecord(cfg, st, in, out, nil, 1234, r) == nil {
			b.Fatal("no record")
		}
	}
}

// BenchmarkRequestPayload: a 2 KiB chat body with the client's credentials
// in its headers removed from it (the access phase's share).
func BenchmarkRequestPayload(b *testing.B) {
	cfg := &schema.Config{}
	cfg.Auth = schema.Auth{HeaderName: "Authorization", HeaderValue: "Bearer " + headerSecret}
	in := &ClientRequest{
		Headers: map[string][]string{"content-type": {"application/json"}, "apikey": {"consumer-key-123"}},
		Body:    []byte(`{"messages":[{"role":"user","content":"` + strings.Repeat("hello world ", 170) + `"}]}`),
	}
	r := NewRedactor(cfg)
	b.ReportAllocs()
	b.SetBytes(int64(len(in.Body)))
	for b.Loop() {
		if RequestPayload(cfg, in, r.WithRequest(cfg, in)) == "" {
			b.Fatal("no payload")
		}
	}
}
