package e2e

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// No configured secret — the gateway's Hugging Face token, the auth param
// value, a client's key for Kong — may appear in anything a client or an
// operator sees: responses, log records (file-log), Kong's error log.
//
// The scan covers the whole suite. Every response the harness reads and
// every rig's file-log and error log (keepRigLogs, when the rig stops) go
// to the transcript; TestMain scans it after m.Run() returns, that is after
// every test, parallel ones included, and fails the run naming the secret
// and where it was found. TestNoSecretLeaks makes sure the secrets are
// configured and sent in every place they can be: header auth, param auth
// in the query and the body, allow_override, client keys in headers and
// query, streams, errors, rejections, embeddings and video, with
// log_payloads and log_statistics on.

// secretsExercised is set when TestNoSecretLeaks ran: the suite scan then
// also requires that redaction was seen, so that it cannot pass vacuously.
var secretsExercised atomic.Bool

// afterSuite runs after every test: the secret scan. It turns a passing
// run into a failing one when a secret leaked.
func afterSuite(code int) int {
	transcriptMu.Lock()
	seen := bytes.Clone(transcript.Bytes())
	transcriptMu.Unlock()
	if leaks := findSecrets(seen); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: secret scan: %d configured secret(s) found in responses or logs of the e2e suite:\n%s\n", len(leaks), strings.Join(leaks, "\n"))
		return 1
	}
	if secretsExercised.Load() && !bytes.Contains(seen, []byte("REDACTED")) {
		fmt.Fprintln(os.Stderr, "FAIL: secret scan: TestNoSecretLeaks ran but no log record shows a redaction: the scan saw nothing it should have")
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "secret scan: %d bytes of responses and logs, no configured secret\n", len(seen))
	}
	return code
}

// findSecrets lists each secret found in b with some context (the secret
// itself masked, so the report does not spread it further).
func findSecrets(b []byte) []string {
	var out []string
	for i, s := range secrets {
		rest, off := b, 0
		for n := 0; n < 3; n++ {
			j := bytes.Index(rest, []byte(s))
			if j < 0 {
				break
			}
			at := off + j
			lo, hi := max(0, at-120), min(len(b), at+len(s)+120)
			ctx := strings.ReplaceAll(string(b[lo:hi]), s, fmt.Sprintf("<<secret #%d>>", i))
			out = append(out, fmt.Sprintf("  secret #%d at byte %d: …%s…", i, at, ctx))
			rest, off = rest[j+len(s):], at+len(s)
		}
	}
	return out
}

// keepRigLogs adds a stopped rig's file-log records, Kong error log and
// stderr to the transcript.
func keepRigLogs(r *rig) {
	if b, err := os.ReadFile(r.logPath); err == nil {
		keep(b)
	}
	keep([]byte(errorLogMessages(r.errlog.String())))
	keep([]byte(r.stderr.String()))
}

// errorLogMessages is an error log without nginx's request context: nginx
// ends every line logged during a request with ", client: …, server: …,
// request: \"POST /path?query HTTP/1.1\", host: …", the request line as the
// client sent it, query string and all. That is nginx's doing for every
// plugin and Kong itself, not something a plugin can change (see
// plugin/ANALYTICS.md); what the plugin wrote is the rest of the line.
func errorLogMessages(log string) string {
	lines := strings.Split(log, "\n")
	for i, l := range lines {
		if j := strings.Index(l, ", client: "); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return strings.Join(lines, "\n")
}

// requireNoSecrets fails t when a secret is in b (what one test saw).
func requireNoSecrets(t *testing.T, what string, b []byte) {
	t.Helper()
	leaks := findSecrets(b)
	require.Empty(t, leaks, "%s holds a configured secret", what)
}

func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	secretsExercised.Store(true)
	// A dedicated upstream that checks no token records exactly what
	// arrived: the secrets must reach it (they are the credentials), and
	// nothing the client or the operator sees.
	open := startHF(t, hfsim.Options{})
	up := jsonString(open.URL())
	logging := `{"log_statistics":true,"log_payloads":true}`
	header := func(name, value string, override bool) string {
		return fmt.Sprintf(`{"header_name":%s,"header_value":%s,"allow_override":%t}`, jsonString(name), jsonString(value), override)
	}
	param := func(loc string, override bool) string {
		return fmt.Sprintf(`{"param_name":"hf_token","param_value":%s,"param_location":%q,"allow_override":%t}`, jsonString(paramSecret), loc, override)
	}
	mk := func(path, rt, model, auth, upstream string) route {
		opts := ""
		if upstream != "" {
			opts = `,"options":{"upstream_url":` + upstream + `}`
		}
		category := map[string]string{"llm/v1/embeddings": `"genai_category":"text/embeddings",`, "video/v1/videos/generations": `"genai_category":"video/generation",`}[rt]
		return route{path: path, config: `{"route_type":"` + rt + `",` + category + `"response_streaming":"allow","auth":` + auth +
			`,"model":{"provider":"huggingface","name":"` + model + `"` + opts + `},"logging":` + logging + `}`}
	}
	const (
		model = "mistralai/Mistral-7B-Instruct-v0.2"
		embed = "sentence-transformers/all-MiniLM-L6-v2"
		video = "Lightricks/LTX-Video"
	)
	r := startRig(t,
		mk("/s-bearer", "llm/v1/chat", model, header("Authorization", "Bearer "+hfToken, false), ""),
		mk("/s-apikey", "llm/v1/chat", model, header("apikey", hfToken, false), up),
		mk("/s-apikey-override", "llm/v1/chat", model, header("api-key", hfToken, true), up),
		mk("/s-query", "llm/v1/chat", model, param("query", false), up),
		mk("/s-query-override", "llm/v1/chat", model, param("query", true), up),
		mk("/s-body", "llm/v1/chat", model, param("body", false), up),
		mk("/s-body-override", "llm/v1/chat", model, param("body", true), up),
		mk("/s-completions", "llm/v1/completions", model, header("Authorization", "Bearer "+hfToken, false), ""),
		route{path: "/s-native", config: `{"route_type":"llm/v1/chat","llm_format":"huggingface","auth":` + param("query", false) +
			`,"model":{"provider":"huggingface","name":"` + model + `","options":{"upstream_url":` + up + `}},"logging":` + logging + `}`},
		mk("/s-embed", "llm/v1/embeddings", embed, header("Authorization", "Bearer "+hfToken, false), ""),
		mk("/s-video", "video/v1/videos/generations", video, param("body", false), up),
	)
	clientCreds := []string{"apikey", clientAPIKey, "x-api-key", clientAPIKey, "Cookie", "session=" + clientAPIKey}
	chat := `{"messages":[{"role":"user","content":"What is 1 + 1?"}]}`
	query := "?apikey=" + clientAPIKey + "&keep=1&access_token=" + clientAPIKey
	tests := []struct {
		name, path, body string
		headers          []string
		stream           bool
		wantStatus       int
		// upstreamSees is a secret the upstream must have received ("" =
		// not checked): proof the test really configured it.
		upstreamSees string
	}{
		{name: "bearer header on the router, client keys in headers and query", path: "/s-bearer" + query, body: chat, headers: clientCreds, wantStatus: 200},
		{name: "bearer header, the client's own Authorization replaced", path: "/s-bearer", body: chat, headers: []string{"Authorization", "Bearer " + clientAPIKey}, wantStatus: 200},
		{name: "apikey header auth", path: "/s-apikey" + query, body: chat, headers: clientCreds, wantStatus: 200, upstreamSees: hfToken},
		{name: "api-key header, the client's value kept (allow_override)", path: "/s-apikey-override", body: chat, headers: []string{"api-key", clientAPIKey}, wantStatus: 200, upstreamSees: clientAPIKey},
		{name: "query param auth", path: "/s-query?keep=1", body: chat, wantStatus: 200, upstreamSees: paramSecret},
		{name: "query param, the client's kept (allow_override)", path: "/s-query-override?hf_token=" + clientAPIKey, body: chat, wantStatus: 200, upstreamSees: clientAPIKey},
		{name: "body param auth", path: "/s-body", body: chat, wantStatus: 200, upstreamSees: paramSecret},
		{name: "body param, the client's kept (allow_override)", path: "/s-body-override", body: `{"hf_token":"` + clientAPIKey + `","messages":[{"role":"user","content":"hi"}]}`, wantStatus: 200, upstreamSees: clientAPIKey},
		{name: "query param auth, streamed", path: "/s-query" + query, body: chat, stream: true, headers: clientCreds, wantStatus: 200, upstreamSees: paramSecret},
		{name: "body param auth, streamed", path: "/s-body", body: chat, stream: true, wantStatus: 200, upstreamSees: paramSecret},
		{name: "rejected with the client's keys in headers and query", path: "/s-body" + query, body: `{"messages":`, headers: clientCreds, wantStatus: 400},
		{name: "rejected on a query-auth route", path: "/s-query?hf_token=" + clientAPIKey, body: `{"model":"other/model","messages":[{"role":"user","content":"x"}]}`, headers: clientCreds, wantStatus: 400},
		{name: "upstream error on a query-auth route", path: "/s-query" + query, body: chat, headers: append([]string{"X-Hfsim-Fault", "permission"}, clientCreds...), wantStatus: 403, upstreamSees: paramSecret},
		{name: "upstream 5xx on a body-param route", path: "/s-body", body: chat, headers: []string{"X-Hfsim-Fault", "html500"}, wantStatus: 500, upstreamSees: paramSecret},
		{name: "completions on the router", path: "/s-completions" + query, body: `{"prompt":"Once upon a time"}`, headers: clientCreds, wantStatus: 200},
		{name: "native TGI /generate with query auth", path: "/s-native/generate" + query, body: `{"inputs":"hi","parameters":{"max_new_tokens":2}}`, headers: clientCreds, wantStatus: 200, upstreamSees: paramSecret},
		{name: "embeddings", path: "/s-embed" + query, body: `{"input":["a b","c"]}`, headers: clientCreds, wantStatus: 200},
		{name: "video JSON with the body param", path: "/s-video", body: `{"prompt":"a cat"}`, headers: []string{"X-Hfsim-Video", "json"}, wantStatus: 200, upstreamSees: paramSecret},
		{name: "video bytes with the body param", path: "/s-video", body: `{"prompt":"a cat"}`, headers: []string{"X-Hfsim-Video", "mp4", "X-Hfsim-Size", "4096"}, wantStatus: 200, upstreamSees: paramSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reqID := e2eID(t)
			h := map[string]string{"X-E2E-Id": reqID}
			for i := 0; i+1 < len(tc.headers); i += 2 {
				h[tc.headers[i]] = tc.headers[i+1]
			}
			body := tc.body
			if tc.stream {
				body = withStream(body)
			}
			var res response
			if tc.stream {
				res, _ = r.stream(t, tc.path, body, h)
			} else {
				res = r.do(t, http.MethodPost, tc.path, []byte(body), h)
			}
			require.Equal(t, tc.wantStatus, res.status, "%s", res.body)
			requireNoSecrets(t, "the response", res.body)
			for k, vs := range res.header {
				requireNoSecrets(t, "the response header "+k, []byte(strings.Join(vs, ",")))
			}
			rec := r.recordFor(t, reqID)
			raw := toJSONBytes(t, rec)
			requireNoSecrets(t, "the log record", raw)
			if tc.upstreamSees != "" {
				up := oneUpstream(t, open, reqID)
				seen := up.RawQuery + " " + string(up.Body)
				for k, v := range up.Header {
					seen += " " + k + ": " + strings.Join(v, ",")
				}
				assert.Contains(t, seen, tc.upstreamSees, "the secret reached the upstream: the test really configured it")
			}
			if tc.wantStatus == 200 && !strings.Contains(tc.path, "s-video") {
				assert.True(t, gjson.GetBytes(raw, "ai.proxy.payload.request").Exists(), "payloads are logged: %s", raw)
			}
		})
	}
	t.Run("multipart video with the body param as a form field", func(t *testing.T) {
		var form bytes.Buffer
		mw := multipart.NewWriter(&form)
		require.NoError(t, mw.WriteField("prompt", "a dog"))
		require.NoError(t, mw.WriteField("hf_token", clientAPIKey))
		require.NoError(t, mw.Close())
		reqID := e2eID(t)
		res := r.do(t, http.MethodPost, "/s-video", form.Bytes(), map[string]string{"Content-Type": mw.FormDataContentType(), "X-E2E-Id": reqID, "X-Hfsim-Video": "json"})
		require.Equal(t, 200, res.status, "%s", res.body)
		raw := toJSONBytes(t, r.recordFor(t, reqID))
		requireNoSecrets(t, "the log record", raw)
		assert.Equal(t, fmt.Sprintf("<%d bytes multipart/form-data>", form.Len()), gjson.GetBytes(raw, "ai.proxy.payload.request").String(), "a form is described, not logged")
	})
	// The rig's whole file-log and error log, now: the suite scan covers
	// them again when the rig stops.
	t.Cleanup(func() {
		for _, rec := range r.k.Records() {
			requireNoSecrets(t, "a log record", rec)
		}
		requireNoSecrets(t, "Kong's error log", []byte(errorLogMessages(r.errlog.String())))
	})
}
