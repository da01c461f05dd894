package translate

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/stretchr/testify/require"
)

const videoModel = "Wan-AI/Wan2.2-T2V-A14B"

// videoConfig is the video route's routerConfig.
func videoConfig(mod func(*schema.Config)) *schema.Config {
	return routerConfig(RouteVideo, videoModel, mod)
}

// referenceImage is binary content that a careless multipart rewrite would
// corrupt: every byte value, CRLFs, a boundary-like line that is not the
// boundary, and invalid UTF-8.
func referenceImage() []byte {
	var b []byte
	b = append(b, "\x89PNG\r\n\x1a\n"...)
	for i := 0; i < 256; i++ {
		b = append(b, byte(i))
	}
	b = append(b, "\r\n--not-the-boundary\r\n\r\n--\r\n\xff\xfe\x00"...)
	b = append(b, bytes.Repeat([]byte{0, '\r', '\n', '-'}, 64)...)
	return b
}

// formField is one field of a test form, written in order.
type formField struct {
	name, filename, value string
}

// buildForm writes a multipart body the way clients do (mime/multipart,
// CRLF, a random boundary) and returns it with its content type.
func buildForm(t testing.TB, fields []formField) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		if f.filename == "" {
			require.NoError(t, w.WriteField(f.name, f.value))
			continue
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+f.name+`"; filename="`+f.filename+`"`)
		h.Set("Content-Type", "image/png")
		pw, err := w.CreatePart(h)
		require.NoError(t, err)
		_, err = pw.Write([]byte(f.value))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return buf.Bytes(), w.FormDataContentType()
}

// readForm reads a body with the standard library's multipart reader, as
// an upstream would: field name → values in order.
func readForm(t testing.TB, body []byte, contentType string) (names []string, values map[string][][]byte) {
	t.Helper()
	_, params, err := mime.ParseMediaType(contentType)
	require.NoError(t, err)
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	values = map[string][][]byte{}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return names, values
		}
		require.NoError(t, err)
		v, err := io.ReadAll(p)
		require.NoError(t, err)
		names = append(names, p.FormName())
		values[p.FormName()] = append(values[p.FormName()], v)
	}
}

func videoRequest(body []byte, contentType string) *ClientRequest {
	h := map[string][]string{"apikey": {"kong-key"}}
	if contentType != "" {
		h["content-type"] = []string{contentType}
	}
	return &ClientRequest{Method: "POST", Path: "/v1/videos", Headers: h, Body: body}
}

func TestVideoJSONRequest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       func(*schema.Config)
		file      string // testdata/video/requests/<file>
		ct        string
		unchanged bool // the body goes upstream as sent (Body nil)
		path      string
		model     string
	}{
		{name: "json_model_added", file: "json_no_model.json", ct: "application/json", path: "/v1/videos", model: videoModel},
		{name: "json_model_kept", file: "json_same_model.json", ct: "application/json; charset=utf-8", unchanged: true, path: "/v1/videos", model: videoModel},
		{name: "json_no_content_type", file: "json_no_model.json", path: "/v1/videos", model: videoModel},
		{
			name: "json_model_from_body", cfg: func(c *schema.Config) { c.Model.Name = "" },
			file: "json_provider_model.json", ct: "application/json", unchanged: true, path: "/v1/videos", model: "tencent/HunyuanVideo:fal-ai",
		},
		{
			name: "json_endpoint_base", cfg: func(c *schema.Config) { c.Model.Options.UpstreamURL = "https://v.endpoints.huggingface.cloud/v1/" },
			file: "json_no_model.json", ct: "application/json", path: "/v1/videos", model: videoModel,
		},
		{
			name: "json_body_param_auth", cfg: func(c *schema.Config) {
				c.Auth = schema.Auth{ParamName: "api_token", ParamValue: "hf_param", ParamLocation: "body"}
			},
			file: "json_same_model.json", ct: "application/json", path: "/v1/videos", model: videoModel,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := videoConfig(tc.cfg)
			cap, err := For(cfg)
			require.NoError(t, err)
			body := readTestdata(t, "video", "requests", tc.file)
			up, err := cap.Request(cfg, videoRequest(body, tc.ct))
			require.NoError(t, err)
			require.Equal(t, tc.path, up.Path)
			require.Equal(t, tc.model, up.State.Model)
			require.True(t, up.State.Headers, "the response phase needs the content type")
			require.False(t, up.Stream)
			require.Contains(t, up.ClearHeaders, "apikey")
			if cfg.Auth.HeaderName != "" {
				require.Equal(t, "Bearer hf_test", up.SetHeaders["authorization"])
			}
			if tc.unchanged {
				require.Nil(t, up.Body, "an unchanged body is not sent back to Kong")
				return
			}
			require.True(t, json.Valid(up.Body))
			checkGolden(t, "video", tc.name+".upstream.json", up.Body)
		})
	}
}

func TestVideoFormRequest(t *testing.T) {
	img := referenceImage()
	for _, tc := range []struct {
		name   string
		cfg    func(*schema.Config)
		fields []formField
		want   []string // field names upstream, in order
		model  string
		param  string // expected api_token field
	}{
		{
			name:   "form_model_added",
			fields: []formField{{name: "prompt", value: "a cat surfing"}, {name: "seconds", value: "4"}, {name: "input_reference", filename: "ref.png", value: string(img)}},
			want:   []string{"prompt", "seconds", "input_reference", "model"}, model: videoModel,
		},
		{
			name:   "form_model_replaced",
			fields: []formField{{name: "model", value: ""}, {name: "input_reference", filename: "ref.png", value: string(img)}, {name: "prompt", value: "a cat"}},
			want:   []string{"model", "input_reference", "prompt"}, model: videoModel,
		},
		{
			name:   "form_model_same",
			fields: []formField{{name: "input_reference", filename: "ref.png", value: string(img)}, {name: "prompt", value: "a cat"}, {name: "model", value: videoModel}},
			want:   []string{"input_reference", "prompt", "model"}, model: videoModel,
		},
		{
			name: "form_body_param_auth",
			cfg: func(c *schema.Config) {
				c.Auth = schema.Auth{ParamName: "api_token", ParamValue: "hf_param", ParamLocation: "body"}
			},
			fields: []formField{{name: "prompt", value: "a cat"}, {name: "api_token", value: "client"}, {name: "input_reference", filename: "ref.png", value: string(img)}},
			want:   []string{"prompt", "api_token", "input_reference", "model"}, model: videoModel, param: "hf_param",
		},
		{
			name: "form_body_param_override_kept",
			cfg: func(c *schema.Config) {
				c.Auth = schema.Auth{ParamName: "api_token", ParamValue: "hf_param", ParamLocation: "body", AllowOverride: true}
			},
			fields: []formField{{name: "prompt", value: "a cat"}, {name: "api_token", value: "client"}, {name: "model", value: videoModel}},
			want:   []string{"prompt", "api_token", "model"}, model: videoModel, param: "client",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := videoConfig(tc.cfg)
			body, ct := buildForm(t, tc.fields)
			up, err := Video{}.Request(cfg, videoRequest(body, ct))
			require.NoError(t, err)
			require.Equal(t, "/v1/videos", up.Path)
			require.Equal(t, tc.model, up.State.Model)
			require.NotContains(t, up.SetHeaders, "content-type", "the boundary must stay the client's")
			sent := up.Body
			if sent == nil {
				sent = body
			}
			names, values := readForm(t, sent, ct)
			require.Equal(t, tc.want, names)
			require.Equal(t, [][]byte{[]byte(tc.model)}, values["model"])
			if tc.param != "" {
				require.Equal(t, [][]byte{[]byte(tc.param)}, values["api_token"])
			}
			for _, f := range tc.fields {
				if f.name == "model" || f.name == "api_token" {
					continue
				}
				require.Equal(t, [][]byte{[]byte(f.value)}, values[f.name], "field %s changed", f.name)
			}
			// Byte-level: everything but the edited field is identical.
			if up.Body != nil {
				requireSpliceOnly(t, body, up.Body, ct, "model", "api_token")
			}
		})
	}
}

// requireSpliceOnly checks at the byte level that every part of orig
// except the edited fields is in got as it was, headers included: binary
// parts are byte for byte the client's.
func requireSpliceOnly(t *testing.T, orig, got []byte, contentType string, edited ...string) {
	t.Helper()
	_, params, err := mime.ParseMediaType(contentType)
	require.NoError(t, err)
	form, err := parseMultipartForm(orig, params["boundary"])
	require.NoError(t, err)
	for _, p := range form.parts {
		if slices.Contains(edited, p.Name) {
			continue
		}
		// The part from its delimiter line to the next delimiter.
		start := bytes.LastIndex(orig[:p.ValueStart], []byte("--"+params["boundary"]))
		require.True(t, bytes.Contains(got, orig[start:p.ValueEnd+2]), "part %q changed", p.Name)
	}
	require.Less(t, len(got)-len(orig), 300, "the body grew by more than field edits")
}

func TestVideoFormGolden(t *testing.T) {
	// A fixed boundary, so that the golden file is stable.
	body := readTestdata(t, "video", "requests", "form_image.txt")
	body = bytes.ReplaceAll(body, []byte("\n"), []byte("\r\n"))
	ct := "multipart/form-data; boundary=XyZ123"
	up, err := Video{}.Request(videoConfig(nil), videoRequest(body, ct))
	require.NoError(t, err)
	checkGolden(t, "video", "form_image.upstream.txt", bytes.ReplaceAll(up.Body, []byte("\r\n"), []byte("\n")))
}

func TestVideoRequestErrors(t *testing.T) {
	img := string(referenceImage())
	formBody, formCT := buildForm(t, []formField{{name: "prompt", value: "x"}, {name: "input_reference", filename: "a.png", value: img}})
	noPrompt, noPromptCT := buildForm(t, []formField{{name: "input_reference", filename: "a.png", value: img}})
	twoModels, twoModelsCT := buildForm(t, []formField{{name: "prompt", value: "x"}, {name: "model", value: videoModel}, {name: "model", value: "other/m"}})
	otherModel, otherModelCT := buildForm(t, []formField{{name: "prompt", value: "x"}, {name: "model", value: "other/m"}})
	badModel, badModelCT := buildForm(t, []formField{{name: "prompt", value: "x"}, {name: "model", value: "a/b/../c"}})
	lfOnly := bytes.ReplaceAll(formBody, []byte("\r\n"), []byte("\n"))
	truncated := formBody[:len(formBody)-10]
	for _, tc := range []struct {
		name   string
		cfg    func(*schema.Config)
		body   []byte
		ct     string
		status int
		msg    string
	}{
		{name: "empty_body", ct: "application/json", status: 400, msg: "needs a JSON or multipart/form-data body"},
		{name: "json_no_prompt", body: []byte(`{"seconds":"4"}`), ct: "application/json", status: 400, msg: `needs a "prompt"`},
		{name: "json_empty_prompt", body: []byte(`{"prompt":"  "}`), ct: "application/json", status: 400, msg: `needs a "prompt"`},
		{name: "json_bad", body: []byte(`{"prompt":`), ct: "application/json", status: 400, msg: "bad JSON formatting"},
		{name: "json_own_model", body: []byte(`{"prompt":"x","model":"other/m"}`), ct: "application/json", status: 400, msg: "cannot use own model - must be: " + videoModel},
		{name: "json_no_model", cfg: func(c *schema.Config) { c.Model.Name = "" }, body: []byte(`{"prompt":"x"}`), ct: "application/json", status: 400, msg: "model parameter not found"},
		{name: "text_plain", body: []byte(`prompt=x`), ct: "text/plain", status: 400, msg: "application/json or multipart/form-data"},
		{name: "bad_content_type", body: []byte(`{}`), ct: "multipart/form-data; boundary=", status: 400, msg: "cannot be parsed"},
		{name: "form_no_boundary", body: formBody, ct: "multipart/form-data", status: 400, msg: "no valid boundary"},
		{name: "form_wrong_boundary", body: formBody, ct: "multipart/form-data; boundary=nope", status: 400, msg: "no part starts with the boundary"},
		{name: "form_lf_only", body: lfOnly, ct: formCT, status: 400, msg: "malformed multipart"},
		{name: "form_truncated", body: truncated, ct: formCT, status: 400, msg: "no close delimiter"},
		{name: "form_no_prompt", body: noPrompt, ct: noPromptCT, status: 400, msg: `needs a "prompt"`},
		{name: "form_two_models", body: twoModels, ct: twoModelsCT, status: 400, msg: `"model" more than once`},
		{name: "form_own_model", body: otherModel, ct: otherModelCT, status: 400, msg: "cannot use own model"},
		{name: "form_bad_model", cfg: func(c *schema.Config) { c.Model.Name = "" }, body: badModel, ct: badModelCT, status: 400, msg: "not a valid Hugging Face model id"},
		{name: "too_large", cfg: func(c *schema.Config) { c.MaxRequestBodySize = 100 }, body: formBody, ct: formCT, status: 413, msg: "max_request_body_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up, err := Video{}.Request(videoConfig(tc.cfg), videoRequest(tc.body, tc.ct))
			require.Nil(t, up)
			e := AsError(err)
			require.Equal(t, tc.status, e.Status, "%v", err)
			require.Contains(t, e.Message, tc.msg)
			require.True(t, json.Valid(e.Body()))
		})
	}
}

// TestVideoNoLimit checks max_request_body_size 0 = unlimited, with a
// multi-megabyte reference image.
func TestVideoNoLimit(t *testing.T) {
	big := strings.Repeat(string(referenceImage()), 20000)
	body, ct := buildForm(t, []formField{{name: "prompt", value: "x"}, {name: "input_reference", filename: "a.png", value: big}})
	up, err := Video{}.Request(videoConfig(func(c *schema.Config) { c.MaxRequestBodySize = 0 }), videoRequest(body, ct))
	require.NoError(t, err)
	_, values := readForm(t, up.Body, ct)
	require.Equal(t, []byte(big), values["input_reference"][0])
}

func TestVideoResponse(t *testing.T) {
	cfg := videoConfig(nil)
	st := &State{Model: videoModel, Headers: true}
	job := readTestdata(t, "video", "upstream", "job.json")
	mp4 := append([]byte("\x00\x00\x00\x18ftypmp42"), referenceImage()...)
	for _, tc := range []struct {
		name     string
		status   int
		ct       string
		body     []byte
		reads    bool
		model    string
		passThru bool
		errCode  string
	}{
		{name: "json_job", status: 200, ct: "application/json", body: job, reads: true, model: "Wan-AI/Wan2.2-T2V-A14B-Diffusers", passThru: true},
		{name: "mp4_bytes", status: 200, ct: "video/mp4", reads: false, model: videoModel, passThru: true},
		{name: "mp4_bytes_read_anyway", status: 200, ct: "video/mp4", body: mp4, reads: false, model: videoModel, passThru: true},
		{name: "json_not_json", status: 200, ct: "application/json", body: []byte("not json"), reads: true, model: videoModel, passThru: true},
		{name: "loading_503", status: 503, ct: "application/json", body: []byte(`{"error":"Model is currently loading","estimated_time":12}`), reads: true, errCode: "model_loading"},
		{name: "html_502", status: 502, ct: "text/html", body: []byte(`<html><title>Bad Gateway</title></html>`), reads: true, errCode: ""},
		{name: "openai_error_404", status: 404, ct: "application/json", body: []byte(`{"error":{"message":"no such model","type":"invalid_request_error","code":"model_not_found"}}`), reads: true, errCode: "model_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			headers := map[string][]string{"content-type": {tc.ct}}
			require.Equal(t, tc.reads, Video{}.ReadsResponseBody(tc.status, headers))
			res, err := Video{}.Response(cfg, st, &UpstreamResponse{Status: tc.status, Headers: headers, Body: tc.body})
			require.NoError(t, err)
			require.Equal(t, tc.status, res.Status)
			if tc.passThru {
				require.Nil(t, res.Body, "2xx answers pass through as they came")
				require.Nil(t, res.Error)
				require.Equal(t, tc.model, res.Usage.ResponseModel)
				return
			}
			require.NotNil(t, res.Error)
			require.Equal(t, tc.errCode, res.Error.Code)
			if res.Body != nil {
				var e struct {
					Error struct{ Message, Type string } `json:"error"`
				}
				require.NoError(t, json.Unmarshal(res.Body, &e))
				require.NotEmpty(t, e.Error.Message)
			}
		})
	}
}

func TestVideoSelected(t *testing.T) {
	c, err := For(videoConfig(nil))
	require.NoError(t, err)
	require.IsType(t, Video{}, c)
	_, ok := c.(ResponseBodyReader)
	require.True(t, ok)
	e, err := For(embedConfig(nil))
	require.NoError(t, err)
	require.IsType(t, Embeddings{}, e)
}

// FuzzMultipartForm checks the byte-level form parser against the standard
// library's reader: it never panics, whatever it accepts the standard reader
// reads as the same fields, and setting "model" leaves every other field
// byte for byte as it was.
func FuzzMultipartForm(f *testing.F) {
	body, ct := buildForm(f, []formField{{name: "prompt", value: "x"}, {name: "model", value: "a/b"}, {name: "input_reference", filename: "a.png", value: string(referenceImage())}})
	_, params, _ := mime.ParseMediaType(ct)
	f.Add(body, params["boundary"])
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhi\r\n--b--\r\n"), "b")
	f.Add([]byte("preamble\r\n--b \r\nContent-Disposition: form-data; name=p\r\n\r\n\r\n--b--"), "b")
	f.Add([]byte("--b\r\n\r\nno headers\r\n--b--"), "b")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		form, err := parseMultipartForm(body, boundary)
		if err != nil {
			return
		}
		if strings.ContainsAny(boundary, "\r\n") {
			return // not a boundary the content type could carry
		}
		check := func(body []byte, edited string, want string) {
			r := multipart.NewReader(bytes.NewReader(body), boundary)
			for i := 0; ; i++ {
				p, err := r.NextPart()
				if err == io.EOF {
					if edited == "" {
						require.Equal(t, len(form.parts), i)
					}
					return
				}
				require.NoError(t, err)
				v, err := io.ReadAll(p)
				require.NoError(t, err)
				if i < len(form.parts) && form.parts[i].Name != edited {
					require.Equal(t, form.parts[i].Name, p.FormName())
					require.Equal(t, string(form.value(form.parts[i])), string(v))
				}
				if p.FormName() == edited {
					require.Equal(t, want, string(v))
				}
			}
		}
		check(body, "", "")
		edits, err := form.setField(nil, "model", "org/new-model")
		if err != nil {
			return // "model" more than once
		}
		if out := form.apply(edits); out != nil {
			check(out, "model", "org/new-model")
		}
	})
}

// BenchmarkVideoFormRequest measures the multipart path on a 1 MiB form
// (a reference image at the default max_request_body_size).
func BenchmarkVideoFormRequest(b *testing.B) {
	img := bytes.Repeat(referenceImage(), (1<<20)/len(referenceImage()))
	body, ct := buildForm(b, []formField{{name: "prompt", value: "a cat"}, {name: "input_reference", filename: "a.png", value: string(img)}})
	cfg := videoConfig(func(c *schema.Config) { c.MaxRequestBodySize = 0 })
	in := videoRequest(body, ct)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Video{}).Request(cfg, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVideoResponse measures the response phase on a binary answer:
// the handler does not read the body (ReadsResponseBody), so the cost is
// independent of the video's size.
func BenchmarkVideoResponse(b *testing.B) {
	cfg := videoConfig(nil)
	st := &State{Model: videoModel, Headers: true}
	headers := map[string][]string{"content-type": {"video/mp4"}}
	b.ReportAllocs()
	for b.Loop() {
		if (Video{}).ReadsResponseBody(200, headers) {
			b.Fatal("video bytes would be read")
		}
		if _, err := (Video{}).Response(cfg, st, &UpstreamResponse{Status: 200, Headers: headers}); err != nil {
			b.Fatal(err)
		}
	}
}
