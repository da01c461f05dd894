package e2e

import (
	"net/http"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// TestTextgenAuth: issue 4 row 4. The configured header or param is set on
// the upstream request (allow_override false replaces a client value, true
// keeps it), and the client's own credentials for Kong never reach Hugging
// Face — streamed and not. The upstream here checks no token, so the test
// sees exactly what arrived.
func TestTextgenAuth(t *testing.T) {
	t.Parallel()
	open := startHF(t, hfsim.Options{})
	up := jsonString(open.URL())
	onOpen := func(auth string) string {
		return conf(t, baseConf("llm/v1/chat", chatModel), "auth", auth, "model.options.upstream_url", up)
	}
	hdr := func(name, value string, override bool) string {
		o := "false"
		if override {
			o = "true"
		}
		return `{"header_name":` + jsonString(name) + `,"header_value":` + jsonString(value) + `,"allow_override":` + o + `}`
	}
	param := func(loc string, override bool) string {
		o := "false"
		if override {
			o = "true"
		}
		return `{"param_name":"hf_token","param_value":"` + paramSecret + `","param_location":"` + loc + `","allow_override":` + o + `}`
	}
	r := startRig(t,
		route{path: "/auth-hdr", config: onOpen(hdr("Authorization", "Bearer "+hfToken, false))},
		route{path: "/auth-hdr-override", config: onOpen(hdr("Authorization", "Bearer "+hfToken, true))},
		route{path: "/auth-custom", config: onOpen(hdr("X-HF-Key", hfToken, false))},
		route{path: "/auth-apikey", config: onOpen(hdr("apikey", hfToken, false))},
		route{path: "/auth-query", config: onOpen(param("query", false))},
		route{path: "/auth-query-override", config: onOpen(param("query", true))},
		route{path: "/auth-body", config: onOpen(param("body", false))},
		route{path: "/auth-body-override", config: onOpen(param("body", true))},
		route{path: "/auth-none", config: conf(t, baseConf("llm/v1/chat", chatModel), "auth", "-", "model.options.upstream_url", up)},
		// The router checks the token: a client's wrong one must not win.
		route{path: "/auth-router", config: chatConf(t)},
	)
	body := chatBody("Who am I?")
	// Every credential a client may bring for Kong itself.
	creds := []string{
		"apikey", clientAPIKey,
		"x-api-key", clientAPIKey,
		"api-key", clientAPIKey,
		"Cookie", "session=" + clientAPIKey,
		"Proxy-Authorization", "Basic " + clientAPIKey,
	}
	credParams := "?apikey=" + clientAPIKey + "&keep=1&api_key=" + clientAPIKey + "&access_token=" + clientAPIKey + "&jwt=" + clientAPIKey + "&x=%20y"
	type want struct {
		headers map[string]string // upstream header → value ("" = absent)
		query   string            // upstream raw query
		body    map[string]string // upstream body path → value ("" = absent)
	}
	for _, tc := range []struct {
		name, path string
		headers    []string
		query      string
		body       string
		onRouter   bool
		want       want
	}{
		{name: "header replaces the client's", path: "/auth-hdr", headers: []string{"Authorization", "Bearer " + clientAPIKey},
			want: want{headers: map[string]string{"Authorization": "Bearer " + hfToken}}},
		{name: "header set when the client sends none", path: "/auth-hdr",
			want: want{headers: map[string]string{"Authorization": "Bearer " + hfToken}}},
		{name: "override keeps the client's", path: "/auth-hdr-override", headers: []string{"Authorization", "Bearer hf_client_own"},
			want: want{headers: map[string]string{"Authorization": "Bearer hf_client_own"}}},
		{name: "override sets it when the client sends none", path: "/auth-hdr-override",
			want: want{headers: map[string]string{"Authorization": "Bearer " + hfToken}}},
		{name: "custom header, client authorization cleared", path: "/auth-custom", headers: []string{"X-HF-Key", "mine", "Authorization", "Bearer " + clientAPIKey},
			want: want{headers: map[string]string{"X-HF-Key": hfToken, "Authorization": ""}}},
		{name: "apikey is the configured header", path: "/auth-apikey", headers: []string{"apikey", clientAPIKey},
			want: want{headers: map[string]string{"apikey": hfToken}}},
		{name: "kong credentials never forwarded", path: "/auth-hdr", headers: creds, query: credParams,
			want: want{headers: map[string]string{"apikey": "", "x-api-key": "", "api-key": "", "Cookie": "", "Proxy-Authorization": "", "Authorization": "Bearer " + hfToken},
				query: "keep=1&x=%20y"}},
		{name: "no auth configured clears the client's", path: "/auth-none", headers: []string{"Authorization", "Bearer " + clientAPIKey, "apikey", clientAPIKey},
			want: want{headers: map[string]string{"Authorization": "", "apikey": ""}}},
		{name: "query param added", path: "/auth-query", query: "?keep=1",
			want: want{query: "keep=1&hf_token=" + paramSecret}},
		{name: "query param replaces the client's", path: "/auth-query", query: "?hf_token=mine&keep=1&apikey=" + clientAPIKey,
			want: want{query: "keep=1&hf_token=" + paramSecret}},
		{name: "query override keeps the client's", path: "/auth-query-override", query: "?hf_token=mine",
			want: want{query: "hf_token=mine"}},
		{name: "query override adds it when absent", path: "/auth-query-override",
			want: want{query: "hf_token=" + paramSecret}},
		{name: "body param added", path: "/auth-body",
			want: want{body: map[string]string{"hf_token": paramSecret}}},
		{name: "body param replaces the client's", path: "/auth-body", body: `{"hf_token":"mine","messages":[{"role":"user","content":"x"}]}`,
			want: want{body: map[string]string{"hf_token": paramSecret}}},
		{name: "body override keeps the client's", path: "/auth-body-override", body: `{"hf_token":"mine","messages":[{"role":"user","content":"x"}]}`,
			want: want{body: map[string]string{"hf_token": "mine"}}},
		{name: "router accepts the gateway token over a client's", path: "/auth-router", onRouter: true, headers: []string{"Authorization", "Bearer hf_wrong", "apikey", clientAPIKey},
			want: want{headers: map[string]string{"Authorization": "Bearer " + hfToken, "apikey": ""}}},
	} {
		b := body
		if tc.body != "" {
			b = tc.body
		}
		bufferedAndStreamed(t, tc.name, b, func(t *testing.T, _ bool, b string) {
			h := with(id(t), tc.headers...)
			res := r.send(t, tc.path+tc.query, b, h)
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			srv := open
			if tc.onRouter {
				srv = router
			}
			got := oneUpstream(t, srv, e2eID(t))
			for name, v := range tc.want.headers {
				vals := got.Header.Values(name)
				if v == "" {
					assert.Empty(t, vals, "upstream header %s must not be sent", name)
				} else {
					assert.Equal(t, []string{v}, vals, "upstream header %s", name)
				}
			}
			if tc.want.query != "" || tc.query != "" {
				assert.Equal(t, tc.want.query, got.RawQuery)
			}
			for p, v := range tc.want.body {
				assert.Equal(t, v, gjson.GetBytes(got.Body, p).String(), "%s in %s", p, got.Body)
			}
			if tc.want.body == nil {
				assert.False(t, gjson.GetBytes(got.Body, "hf_token").Exists())
			}
			assert.NotContains(t, string(res.body), hfToken)
			assert.NotContains(t, string(res.body), paramSecret)
		})
	}
}
