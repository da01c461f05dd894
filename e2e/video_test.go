package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/hfsim"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// videoModel is a video model whose id does not make hfsim answer bytes
// (ids with T2V do): the tests choose JSON or mp4 with X-Hfsim-Video.
const videoModel = "Lightricks/LTX-Video"

// videoConfig is a video route's plugin config; model "" leaves the model
// to the request, extra adds top-level fields.
func videoConfig(token, model, extra string) string {
	m := `{"provider":"huggingface"`
	if model != "" {
		m += `,"name":"` + model + `"`
	}
	m += `}`
	cfg := `{"route_type":"video/v1/videos/generations","genai_category":"video/generation","auth":` + authConfig(token) + `,"model":` + m
	if extra != "" {
		cfg += "," + extra
	}
	return cfg + "}"
}

// videoForm builds a multipart/form-data body: text fields in order, then
// the input_reference file (binary, made to look like delimiters inside).
func videoForm(t *testing.T, fields [][2]string, ref []byte) (body []byte, contentType string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		require.NoError(t, w.WriteField(f[0], f[1]))
	}
	if ref != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="input_reference"; filename="ref.png"`)
		h.Set("Content-Type", "image/png")
		p, err := w.CreatePart(h)
		require.NoError(t, err)
		_, err = p.Write(ref)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return b.Bytes(), w.FormDataContentType()
}

// referenceImage is n bytes of binary "image": a PNG signature, then every
// byte value, CR LF, NUL, and boundary-like runs ("\r\n--", "--"), so a
// body editor that re-encodes, trims or splits on look-alikes would show.
func referenceImage(n int) []byte {
	out := make([]byte, 0, n)
	out = append(out, "\x89PNG\r\n\x1a\n"...)
	for i := 0; len(out) < n; i++ {
		switch i % 5 {
		case 0:
			out = append(out, "\r\n--"...)
		case 1:
			out = append(out, "--\r\n\r\n"...)
		default:
			out = append(out, byte(i*31), byte(i), 0)
		}
	}
	return out[:n]
}

// formSegments splits a multipart body at each "--boundary" delimiter.
func formSegments(body []byte, boundary string) [][]byte {
	return bytes.Split(body, []byte("--"+boundary))
}

// requireFormSameButModel checks that the upstream body is the client's
// byte for byte, apart from one part named "model" (added or replaced)
// holding model, and that the upstream reads it as a form with that model.
func requireFormSameButModel(t *testing.T, client, upstream []byte, boundary, model string) {
	t.Helper()
	cs, us := formSegments(client, boundary), formSegments(upstream, boundary)
	isModel := func(seg []byte) bool {
		head, _, ok := bytes.Cut(seg, []byte("\r\n\r\n"))
		return ok && bytes.Contains(head, []byte(`name="model"`))
	}
	var kept [][]byte
	found := 0
	for _, s := range us {
		if isModel(s) {
			found++
			continue
		}
		kept = append(kept, s)
	}
	require.Equal(t, 1, found, "the upstream body has exactly one model part")
	var clientKept [][]byte
	for _, s := range cs {
		if !isModel(s) {
			clientKept = append(clientKept, s)
		}
	}
	require.True(t, bytes.Equal(bytes.Join(clientKept, []byte("--"+boundary)), bytes.Join(kept, []byte("--"+boundary))),
		"every byte but the model part must pass unchanged")

	r := multipart.NewReader(bytes.NewReader(upstream), boundary)
	f, err := r.ReadForm(64 << 20)
	require.NoError(t, err, "the upstream body must be a valid form")
	require.Equal(t, []string{model}, f.Value["model"])
}

// TestVideoJSON: a JSON body goes to /v1/videos with the gateway's token
// and the resolved model; every other byte is the client's, and the job
// object comes back exactly as the upstream answered it.
func TestVideoJSON(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/video", config: videoConfig(hfToken, videoModel, "")},
		route{path: "/video-any", config: videoConfig(hfToken, "", "")},
	)
	for _, tc := range []struct {
		name, route, body string
		// changed: the plugin adds the model; else the body passes as is.
		changed bool
	}{
		{name: "model_from_config", route: "/video", changed: true,
			body: `{"prompt":"A calico cat playing a piano on stage","seconds":"8", "size":"1280x720","extra":{"keep":[1,2.50,"x"]}}`},
		{name: "model_in_body_same", route: "/video",
			body: `{"model":"` + videoModel + `","prompt":"A cat","seconds":"4"}`},
		{name: "model_from_body", route: "/video-any",
			body: `{"prompt":"A cat","model":"` + videoModel + `","size":"720x1280"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := reqID(t)
			res := r.post(t, tc.route, tc.body, "X-E2E-Id", id, "X-Hfsim-Video", "json", "Authorization", "Bearer "+clientAPIKey)
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)

			up := oneUpstream(t, router, id)
			require.Equal(t, "/v1/videos", up.Path)
			require.Equal(t, "Bearer "+hfToken, up.Header.Get("Authorization"))
			require.Equal(t, videoModel, gjson.GetBytes(up.Body, "model").String())
			if tc.changed {
				without, err := sjson.DeleteBytes(up.Body, "model")
				require.NoError(t, err)
				require.Equal(t, tc.body, string(without), "only the model is added")
			} else {
				require.Equal(t, tc.body, string(up.Body), "the body passes untouched")
			}

			direct := replay(t, router, up)
			require.Equal(t, http.StatusOK, direct.status)
			require.Equal(t, string(direct.body), string(res.body), "the job object passes as it comes")
			require.Equal(t, "video", gjson.GetBytes(res.body, "object").String())
			require.Equal(t, videoModel, gjson.GetBytes(res.body, "model").String())
			require.Equal(t, "queued", gjson.GetBytes(res.body, "status").String())
			require.Equal(t, "huggingface/"+videoModel, res.header.Get("X-Kong-LLM-Model"))
		})
	}
}

// TestVideoMultipart: a multipart/form-data body with a binary
// input_reference image reaches the upstream byte for byte, apart from the
// model part, with the client's boundary.
func TestVideoMultipart(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/video", config: videoConfig(hfToken, videoModel, "")},
		route{path: "/video-any", config: videoConfig(hfToken, "", "")},
	)
	ref := referenceImage(3000)
	for _, tc := range []struct {
		name, route string
		fields      [][2]string
		ref         []byte
		// unchanged: the form already names the model, nothing is edited.
		unchanged bool
	}{
		{name: "model_added", route: "/video", ref: ref,
			fields: [][2]string{{"prompt", "The cat in the picture starts to dance"}, {"seconds", "4"}}},
		{name: "model_added_spooled", route: "/video", ref: referenceImage(200 << 10),
			fields: [][2]string{{"prompt", "A big reference"}, {"size", "1280x720"}}},
		{name: "model_same", route: "/video", ref: ref, unchanged: true,
			fields: [][2]string{{"model", videoModel}, {"prompt", "The cat dances"}}},
		{name: "model_from_form", route: "/video-any", ref: ref, unchanged: true,
			fields: [][2]string{{"prompt", "The cat dances"}, {"model", videoModel}}},
		{name: "no_file", route: "/video",
			fields: [][2]string{{"prompt", "Just text"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := reqID(t)
			body, ctype := videoForm(t, tc.fields, tc.ref)
			res := r.do(t, http.MethodPost, tc.route, body, map[string]string{
				"Content-Type": ctype, "X-E2E-Id": id, "X-Hfsim-Video": "json",
			})
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)

			up := oneUpstream(t, router, id)
			require.Equal(t, "/v1/videos", up.Path)
			require.Equal(t, "Bearer "+hfToken, up.Header.Get("Authorization"))
			require.Equal(t, ctype, up.Header.Get("Content-Type"), "the boundary is the client's")
			_, params, err := mime.ParseMediaType(ctype)
			require.NoError(t, err)
			if tc.unchanged {
				require.True(t, bytes.Equal(body, up.Body), "the form passes byte for byte")
			} else {
				requireFormSameButModel(t, body, up.Body, params["boundary"], videoModel)
			}
			direct := replay(t, router, up)
			require.Equal(t, string(direct.body), string(res.body))
			require.True(t, strings.HasPrefix(gjson.GetBytes(res.body, "id").String(), "video_"), "body: %s", res.body)
		})
	}
}

// TestVideoBodySize: max_request_body_size applies to video bodies, in
// memory or spooled by Kong to a temp file (over client_body_buffer_size,
// 8 KiB): over the limit is a 413 in the OpenAI shape and nothing goes
// upstream; at or under it, a spooled body is read from the file and sent;
// 0 means unlimited.
func TestVideoBodySize(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/v-4k", config: videoConfig(hfToken, videoModel, `"max_request_body_size":4096`)},
		route{path: "/v-20k", config: videoConfig(hfToken, videoModel, `"max_request_body_size":20000`)},
		route{path: "/v-default", config: videoConfig(hfToken, videoModel, "")},
		route{path: "/v-unlimited", config: videoConfig(hfToken, videoModel, `"max_request_body_size":0`)},
	)
	// jsonOfSize is a video request of exactly n bytes.
	jsonOfSize := func(n int) []byte {
		head, tail := `{"prompt":"`, `","seconds":"4"}`
		return []byte(head + strings.Repeat("a", n-len(head)-len(tail)) + tail)
	}
	for _, tc := range []struct {
		name, route string
		body        []byte
		ctype       string
		status      int
		spooled     bool
	}{
		{name: "in_memory_over", route: "/v-4k", body: jsonOfSize(6000), status: 413},
		{name: "in_memory_at_limit", route: "/v-4k", body: jsonOfSize(4096), status: 200},
		{name: "spooled_over", route: "/v-20k", body: jsonOfSize(20001), status: 413, spooled: true},
		{name: "spooled_at_limit", route: "/v-20k", body: jsonOfSize(20000), status: 200, spooled: true},
		{name: "spooled_under_default", route: "/v-default", body: jsonOfSize(100 << 10), status: 200, spooled: true},
		{name: "spooled_over_default", route: "/v-default", body: jsonOfSize(1<<20 + 1), status: 413, spooled: true},
		{name: "unlimited_3MiB_json", route: "/v-unlimited", body: jsonOfSize(3 << 20), status: 200, spooled: true},
	} {
		// Not parallel: each case checks the stand-in's spool counter.
		t.Run(tc.name, func(t *testing.T) {
			id := reqID(t)
			before := r.spooledBodies()
			res := r.do(t, http.MethodPost, tc.route, tc.body, map[string]string{"X-E2E-Id": id, "X-Hfsim-Video": "json"})
			spooled := r.spooledBodies() - before
			switch {
			case !standIn():
				// An external Kong's spooling is not observable.
			case tc.spooled:
				require.Equal(t, uint64(1), spooled, "the stand-in spooled the body to a temp file")
			default:
				require.Zero(t, spooled, "the body stayed in memory")
			}
			ups := upstreamRequests(router, id)
			if tc.status == http.StatusRequestEntityTooLarge {
				e := requireErrorBody(t, res, 413, "invalid_request_error", strconv.Itoa(len(tc.body))+" bytes")
				require.Equal(t, "request_too_large", e["code"])
				require.Empty(t, ups, "a body over the limit must not reach the upstream")
				// Refused by the relay on its size alone (Content-Length),
				// before it reads the body: access made only the relay's
				// calls, and the body never crossed the plugin socket.
				calls := pdkCalls(t, r.recordFor(t, id))
				require.Equal(t, relayedCalls, calls["access"])
				require.Empty(t, calls["response"])
				return
			}
			require.Equal(t, tc.status, res.status, "body: %.500s", res.body)
			require.Len(t, ups, 1)
			without, err := sjson.DeleteBytes(ups[0].Body, "model")
			require.NoError(t, err)
			require.True(t, bytes.Equal(tc.body, without), "the body (read from Kong's temp file when spooled) passes whole")
		})
	}
}

// TestVideoMultipartUnlimited: with max_request_body_size 0 a form with a
// 3 MiB reference image passes, spooled, byte for byte but the model.
func TestVideoMultipartUnlimited(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/v-unlimited", config: videoConfig(hfToken, videoModel, `"max_request_body_size":0`)},
		route{path: "/v-default", config: videoConfig(hfToken, videoModel, "")},
	)
	body, ctype := videoForm(t, [][2]string{{"prompt", "Animate the picture"}}, referenceImage(3<<20))
	_, params, err := mime.ParseMediaType(ctype)
	require.NoError(t, err)

	id := reqID(t)
	res := r.do(t, http.MethodPost, "/v-unlimited", body, map[string]string{"Content-Type": ctype, "X-E2E-Id": id, "X-Hfsim-Video": "json"})
	require.Equal(t, http.StatusOK, res.status, "body: %.500s", res.body)
	up := oneUpstream(t, router, id)
	requireFormSameButModel(t, body, up.Body, params["boundary"], videoModel)
	if standIn() {
		require.GreaterOrEqual(t, r.spooledBodies(), uint64(1))
	}

	id = reqID(t)
	res = r.do(t, http.MethodPost, "/v-default", body, map[string]string{"Content-Type": ctype, "X-E2E-Id": id})
	requireErrorBody(t, res, http.StatusRequestEntityTooLarge, "invalid_request_error", "max_request_body_size")
	require.Empty(t, upstreamRequests(router, id))
}

// TestVideoMP4Passthrough: a binary video/mp4 answer reaches the client
// byte for byte (sha256 of what hfsim generates for the prompt).
func TestVideoMP4Passthrough(t *testing.T) {
	t.Parallel()
	r := startRig(t, route{path: "/video", config: videoConfig(hfToken, videoModel, "")})
	const prompt = "A drone shot over a foggy forest"
	for _, size := range []int64{1, 24, 1 << 20, 3<<20 + 7} {
		t.Run(strconv.FormatInt(size, 10), func(t *testing.T) {
			t.Parallel()
			id := reqID(t)
			res := r.post(t, "/video", `{"prompt":"`+prompt+`"}`, "X-E2E-Id", id, "X-Hfsim-Video", "mp4", "X-Hfsim-Size", strconv.FormatInt(size, 10))
			require.Equal(t, http.StatusOK, res.status, "body: %.300s", res.body)
			require.Equal(t, "video/mp4", res.header.Get("Content-Type"))
			require.Len(t, res.body, int(size))
			want := sha256.New()
			_, err := io.Copy(want, hfsim.VideoReader(prompt, size))
			require.NoError(t, err)
			got := sha256.Sum256(res.body)
			require.Equal(t, hex.EncodeToString(want.Sum(nil)), hex.EncodeToString(got[:]), "the video bytes pass unchanged")
			require.Len(t, upstreamRequests(router, id), 1)
			// The relay copied the video bytes through (never held whole)
			// and Kong ran no response phase: nothing of the answer
			// crossed the plugin socket.
			calls := pdkCalls(t, r.recordFor(t, id))
			require.Empty(t, calls["response"])
			require.Equal(t, relayedCalls, calls["access"])
			require.Equal(t, "huggingface/"+videoModel, res.header.Get("X-Kong-LLM-Model"))
		})
	}
}

// TestVideoErrors: requests the plugin refuses (400, nothing upstream) and
// upstream errors in the OpenAI shape.
func TestVideoErrors(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/video", config: videoConfig(hfToken, videoModel, "")},
		route{path: "/video-badtoken", config: videoConfig("hf_not_the_right_token", videoModel, "")},
	)
	form, formType := videoForm(t, [][2]string{{"seconds", "4"}}, referenceImage(100))
	for _, tc := range []struct {
		name, route, body, ctype, fault string
		status                          int
		typ, want, retryAfter           string
		upstream                        bool
	}{
		{name: "no_prompt", route: "/video", body: `{"seconds":"4"}`, status: 400, typ: "invalid_request_error", want: "prompt"},
		{name: "form_no_prompt", route: "/video", body: string(form), ctype: formType, status: 400, typ: "invalid_request_error", want: "prompt"},
		{name: "form_bad_boundary", route: "/video", body: "--x\r\nnot a form", ctype: "multipart/form-data; boundary=zzz", status: 400, typ: "invalid_request_error", want: "multipart"},
		{name: "text_plain", route: "/video", body: "a cat", ctype: "text/plain", status: 400, typ: "invalid_request_error", want: "text/plain"},
		{name: "other_model", route: "/video", body: `{"model":"other/model","prompt":"a cat"}`, status: 400, typ: "invalid_request_error", want: videoModel},
		{name: "loading_503", route: "/video", body: `{"prompt":"a cat"}`, fault: hfsim.FaultLoading, status: 503, typ: "server_error",
			want: "is currently loading", retryAfter: "306", upstream: true},
		{name: "bad_token_401", route: "/video-badtoken", body: `{"prompt":"a cat"}`, status: 401, typ: "authentication_error",
			want: "the token seems invalid", upstream: true},
		{name: "ratelimit_429", route: "/video", body: `{"prompt":"a cat"}`, fault: hfsim.FaultRateLimit, status: 429, typ: "rate_limit_error",
			want: "Rate limit reached", upstream: true},
		{name: "credits_402", route: "/video", body: `{"prompt":"a cat"}`, fault: hfsim.FaultCredits, status: 402, typ: "insufficient_quota",
			want: "monthly included credits", upstream: true},
		{name: "html_500", route: "/video", body: `{"prompt":"a cat"}`, fault: hfsim.FaultHTML500, status: 500, typ: "server_error",
			want: "500 Internal Server Error", upstream: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := reqID(t)
			h := map[string]string{"X-E2E-Id": id}
			if tc.ctype != "" {
				h["Content-Type"] = tc.ctype
			}
			if tc.fault != "" {
				h["X-Hfsim-Fault"] = tc.fault
			}
			res := r.do(t, http.MethodPost, tc.route, []byte(tc.body), h)
			requireErrorBody(t, res, tc.status, tc.typ, tc.want)
			require.Equal(t, tc.retryAfter, res.header.Get("Retry-After"))
			n := len(upstreamRequests(router, id))
			if tc.upstream {
				require.Equal(t, 1, n)
			} else {
				require.Zero(t, n, "a refused request must not reach the upstream")
			}
		})
	}
}

// TestEmbeddingsVideoUpstreamReset: an upstream that resets the connection
// gives the client a 502 in the OpenAI shape on the embeddings and video
// routes too (finding F1, fixed: Kong's error handler has answered and the
// response phase must not ask for the service body).
func TestEmbeddingsVideoUpstreamReset(t *testing.T) {
	t.Parallel()
	r := startRig(t,
		route{path: "/emb", config: embedConfig(hfToken, "", "")},
		route{path: "/video", config: videoConfig(hfToken, videoModel, "")},
	)
	for _, tc := range []struct{ name, route, body string }{
		{"embeddings", "/emb", `{"model":"` + pooledModel + `","input":"a"}`},
		{"video", "/video", `{"prompt":"a cat"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := reqID(t)
			res := r.post(t, tc.route, tc.body, "X-E2E-Id", id, "X-Hfsim-Fault", hfsim.FaultReset)
			require.Len(t, upstreamRequests(router, id), 1)
			requireErrorBody(t, res, http.StatusBadGateway, "server_error", "")
		})
	}
}
