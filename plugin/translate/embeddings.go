package translate

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Embeddings upstream paths.
const (
	// pathFeatureExtraction follows the model on the router's hf-inference API.
	pathFeatureExtraction = "/pipeline/feature-extraction"
	// PathEmbed is TEI's native embeddings route, served by a
	// text-embeddings-inference server and by Inference Endpoints running
	// TEI. It takes the same {"inputs": ...} body as feature-extraction.
	PathEmbed = "/embed"
	// PathOpenAIEmbeddings marks an upstream_url that points at an
	// OpenAI-compatible embeddings route (TEI's, vLLM's): the client's body
	// is sent as it is, with the model set.
	PathOpenAIEmbeddings = "/v1/embeddings"
)

// Embeddings is the llm/v1/embeddings capability: OpenAI embeddings in,
// Hugging Face feature-extraction (or TEI /embed) out, and back. See
// [Embeddings.Request] and [Embeddings.Response].
type Embeddings struct{}

var _ Capability = Embeddings{}

// NewEmbeddings builds the embeddings capability; it registers itself for
// route_type llm/v1/embeddings.
func NewEmbeddings(*schema.Config) (Capability, error) { return Embeddings{}, nil }

func init() { registerRoute(RouteEmbeddings, NewEmbeddings) }

// Request fields this capability reads. normalize, truncate,
// truncation_direction and prompt_name are not OpenAI's: they are Hugging
// Face's feature-extraction parameters, accepted as extra top-level fields
// (the OpenAI SDKs send extra body fields as they are) and forwarded only
// when the client sets them.
var embedPassFields = []struct {
	name string
	kind gjson.Type
}{
	{"normalize", gjson.True},
	{"truncate", gjson.True},
	{"truncation_direction", gjson.String},
	{"prompt_name", gjson.String},
}

// Request implements [Capability.Request].
//
// The client's OpenAI body ({"input", "model", "encoding_format",
// "dimensions", ...}) becomes {"inputs": <input as sent>} plus the Hugging
// Face parameters the client set (see embedPassFields) and "dimensions",
// sent to the router's /hf-inference/models/{model}/pipeline/feature-extraction,
// or to {upstream_url}/embed on a dedicated TEI server or Inference Endpoint.
// An upstream_url ending in /v1/embeddings is taken for an OpenAI-compatible
// route and gets the client's body with the model set.
func (Embeddings) Request(cfg *schema.Config, in *ClientRequest) (*UpstreamRequest, error) {
	if err := CheckBodySize(cfg, int64(len(in.Body))); err != nil {
		return nil, err
	}
	if err := ParseObject(in.Body); err != nil {
		return nil, err
	}
	root := gjson.Parse(bstr(in.Body))
	if root.Get("stream").Type == gjson.True {
		return nil, Errorf(http.StatusBadRequest, "embeddings cannot be streamed: remove \"stream\": true (Hugging Face answers feature-extraction in one piece)")
	}
	model, err := ResolveModel(cfg, in.Body)
	if err != nil {
		return nil, err
	}
	input := root.Get("input")
	inputs, tokens, err := embedInputs(input)
	if err != nil {
		return nil, err
	}
	mode := embedMode{inputs: inputs}
	if mode.opt.Encoding, err = embedEncoding(root.Get("encoding_format")); err != nil {
		return nil, err
	}
	if mode.opt.Dimensions, err = embedDimensions(root.Get("dimensions")); err != nil {
		return nil, err
	}
	mode.opt.Normalize = root.Get("normalize").Type == gjson.True

	up, err := embedTarget(cfg, model, &mode)
	if err != nil {
		return nil, err
	}
	var body []byte
	if mode.openAI {
		// The client's body as it is, with the model set and floats asked
		// for: base64 is produced here, from the floats, for every upstream.
		body = in.Body
		if body, err = sjson.SetBytes(body, "model", model); err != nil {
			return nil, editError(err)
		}
		if root.Get("encoding_format").Exists() {
			if body, err = sjson.DeleteBytes(body, "encoding_format"); err != nil {
				return nil, editError(err)
			}
		}
	} else {
		if body, err = embedUpstreamBody(root, input); err != nil {
			return nil, err
		}
	}
	if body, _, err = ApplyAuth(cfg, in, up, body); err != nil {
		return nil, err
	}
	up.Body = body
	up.SetHeaders["content-type"] = "application/json"
	HFOptionHeaders(cfg, up.SetHeaders)
	up.State = State{
		Model:        model,
		Mode:         mode.String(),
		Headers:      true, // TEI's x-compute-tokens, the upstream's own count
		PromptTokens: tokens,
		Inputs:       inputs,
	}
	return up, nil
}

// embedTarget picks the upstream route: the router's feature-extraction
// pipeline, an OpenAI-compatible /v1/embeddings, or TEI's /embed.
func embedTarget(cfg *schema.Config, model string, mode *embedMode) (*UpstreamRequest, error) {
	u, isRouter, err := Upstream(cfg)
	if err != nil {
		return nil, configError(err)
	}
	if isRouter {
		repo, err := RouterModelPath(model)
		if err != nil {
			return nil, err
		}
		return Target(cfg, routerModels+repo+pathFeatureExtraction)
	}
	if strings.HasSuffix(strings.TrimRight(u.Path, "/"), PathOpenAIEmbeddings) {
		mode.openAI = true
		return Target(cfg, PathOpenAIEmbeddings)
	}
	return Target(cfg, PathEmbed)
}

// embedUpstreamBody builds {"inputs": ...} with the client's input copied
// verbatim (strings are not re-encoded) and the Hugging Face parameters the
// client set.
func embedUpstreamBody(root, input gjson.Result) ([]byte, error) {
	body := make([]byte, 0, len(input.Raw)+96)
	body = append(body, `{"inputs":`...)
	body = append(body, input.Raw...)
	for _, f := range embedPassFields {
		v := root.Get(f.name)
		if v.Type == gjson.Null {
			continue // absent or null: the upstream's default
		}
		ok := v.Type == f.kind || (f.kind == gjson.True && v.Type == gjson.False)
		if !ok {
			want := "true or false"
			if f.kind == gjson.String {
				want = "a string"
			}
			return nil, Errorf(http.StatusBadRequest, "%q must be %s", f.name, want)
		}
		if f.name == "truncation_direction" && v.Str != "left" && v.Str != "right" {
			return nil, Errorf(http.StatusBadRequest, "\"truncation_direction\" must be \"left\" or \"right\"")
		}
		body = append(body, ',', '"')
		body = append(body, f.name...)
		body = append(body, '"', ':')
		body = append(body, v.Raw...)
	}
	if d := root.Get("dimensions"); d.Exists() && d.Type != gjson.Null {
		body = append(body, `,"dimensions":`...)
		body = append(body, d.Raw...)
	}
	return append(body, '}'), nil
}

// msgTokenArrays explains why token-id input is refused.
const msgTokenArrays = "feature-extraction takes text: \"input\" as token ids (integers) is not supported by Hugging Face, which tokenizes with the model's own tokenizer; send the text instead"

// embedInputs validates the OpenAI "input" and returns the number of inputs
// and the estimated prompt tokens (see estimateEmbedTokens).
func embedInputs(input gjson.Result) (int, int, error) {
	switch {
	case !input.Exists() || input.Type == gjson.Null:
		return 0, 0, Errorf(http.StatusBadRequest, "the request has no \"input\": send a string or an array of strings")
	case input.Type == gjson.String:
		if input.Str == "" {
			return 0, 0, Errorf(http.StatusBadRequest, "\"input\" is an empty string: there is nothing to embed")
		}
		return 1, estimateEmbedTokens(input.Str), nil
	case input.Type == gjson.Number:
		return 0, 0, Errorf(http.StatusBadRequest, msgTokenArrays)
	case !input.IsArray():
		return 0, 0, Errorf(http.StatusBadRequest, "\"input\" must be a string or an array of strings")
	}
	n, tokens := 0, 0
	var err error
	input.ForEach(func(_, v gjson.Result) bool {
		switch {
		case v.Type == gjson.String && v.Str == "":
			err = Errorf(http.StatusBadRequest, "\"input\"[%d] is an empty string: there is nothing to embed", n)
		case v.Type == gjson.String:
			tokens += estimateEmbedTokens(v.Str)
		case v.Type == gjson.Number || v.IsArray():
			err = Errorf(http.StatusBadRequest, msgTokenArrays)
		default:
			err = Errorf(http.StatusBadRequest, "\"input\"[%d] is not a string: \"input\" must be a string or an array of strings", n)
		}
		n++
		return err == nil
	})
	if err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return 0, 0, Errorf(http.StatusBadRequest, "\"input\" is an empty array: there is nothing to embed")
	}
	return n, tokens, nil
}

// estimateEmbedTokens estimates one input's tokens when the upstream gives
// no count: one token per 4 bytes of UTF-8, rounded up (Kong's rule for
// text it has no count for, EstimateCompletion), plus the 2 special tokens
// ([CLS]/[SEP], <s>/</s>) that embedding models' tokenizers add. Kong's
// word count (EstimateWords) is not used: subword vocabularies cut words,
// so it errs low for the short, dense text people embed. Text in scripts of
// 2-4 bytes per character and about a token each errs low too.
func estimateEmbedTokens(s string) int {
	return EstimateCompletion(s) + 2
}

// embedEncoding reads encoding_format: float (default) or base64.
func embedEncoding(v gjson.Result) (vectorEncoding, error) {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
		return encodeFloat, nil
	case v.Type == gjson.String && v.Str == "float":
		return encodeFloat, nil
	case v.Type == gjson.String && v.Str == "base64":
		return encodeBase64, nil
	}
	return 0, Errorf(http.StatusBadRequest, "\"encoding_format\" must be \"float\" or \"base64\"")
}

// embedDimensions reads dimensions: a positive integer, or absent (0).
func embedDimensions(v gjson.Result) (int, error) {
	if !v.Exists() || v.Type == gjson.Null {
		return 0, nil
	}
	n, err := strconv.Atoi(v.Raw)
	if v.Type != gjson.Number || err != nil || n < 1 || n > 1<<20 {
		return 0, Errorf(http.StatusBadRequest, "\"dimensions\" must be a positive integer")
	}
	return n, nil
}

// embedMode is what the response phase needs to know about the request. It
// travels in State.Mode as a short string (see String), so State keeps no
// field that only embeddings use.
type embedMode struct {
	opt    vectorOptions
	inputs int
	// openAI is true when the upstream answers an OpenAI embeddings list.
	openAI bool
}

// String encodes the mode: "f" or "b" (float, base64), then "d<n>" for
// dimensions, "n" for normalize, "o" for an OpenAI-compatible upstream,
// separated by commas.
func (m embedMode) String() string {
	s := "f"
	if m.opt.Encoding == encodeBase64 {
		s = "b"
	}
	if m.opt.Dimensions > 0 {
		s += ",d" + strconv.Itoa(m.opt.Dimensions)
	}
	if m.opt.Normalize {
		s += ",n"
	}
	if m.openAI {
		s += ",o"
	}
	return s
}

// parseEmbedMode decodes State into the mode; a State the access phase did
// not write for embeddings is a bug, answered with a 500.
func parseEmbedMode(st *State) (embedMode, error) {
	m := embedMode{inputs: st.Inputs}
	m.opt.Inputs = st.Inputs
	bad := &Error{Status: http.StatusInternalServerError, Message: "ai-proxy-hf lost the embeddings request state", Type: "server_error"}
	if st.Inputs < 1 {
		return m, bad
	}
	for i, part := range strings.Split(st.Mode, ",") {
		switch {
		case i == 0 && part == "f":
		case i == 0 && part == "b":
			m.opt.Encoding = encodeBase64
		case i > 0 && part == "n":
			m.opt.Normalize = true
		case i > 0 && part == "o":
			m.openAI = true
		case i > 0 && strings.HasPrefix(part, "d"):
			n, err := strconv.Atoi(part[1:])
			if err != nil || n < 1 {
				return m, bad
			}
			m.opt.Dimensions = n
		default:
			return m, bad
		}
	}
	return m, nil
}

// Response implements [Capability.Response]: a 2xx answer of any shape
// becomes an OpenAI embeddings list (see appendEmbeddingData), or a 502 if
// it cannot be used as a whole; other statuses are normalised errors.
func (Embeddings) Response(cfg *schema.Config, st *State, in *UpstreamResponse) (*ClientResponse, error) {
	if in.Status < 200 || in.Status > 299 {
		return errorResponse(in), nil
	}
	mode, err := parseEmbedMode(st)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, embeddingOutputCap(in.Body, mode.opt))
	out = append(out, `{"object":"list","data":[`...)
	var res vectorResult
	responseModel := st.Model
	if mode.openAI {
		out, res, err = appendOpenAIEmbeddingData(out, in.Body, mode.opt)
		if m := gjson.GetBytes(in.Body, "model"); m.Type == gjson.String && m.Str != "" {
			responseModel = m.Str
		}
	} else {
		out, res, err = appendEmbeddingData(out, in.Body, mode.opt)
	}
	if err != nil {
		return nil, badEmbeddings(in.Body, err)
	}
	usage := embedUsage(st, in, res, mode.openAI)
	usage.ResponseModel = responseModel
	out = append(out, `],"model":`...)
	out = appendJSONString(out, st.Model)
	out = append(out, `,"usage":{"prompt_tokens":`...)
	out = strconv.AppendInt(out, int64(usage.PromptTokens), 10)
	out = append(out, `,"total_tokens":`...)
	out = strconv.AppendInt(out, int64(usage.TotalTokens), 10)
	out = append(out, `}}`...)
	return &ClientResponse{
		Status:  http.StatusOK,
		Headers: jsonHeaders(nil),
		Body:    out,
		Usage:   usage,
	}, nil
}

// embedUsage picks the best token count there is: the upstream's usage
// (OpenAI-compatible upstream), TEI's x-compute-tokens header, the number
// of token vectors a token-level answer carried, and only then the
// estimate made from the input.
func embedUsage(st *State, in *UpstreamResponse, res vectorResult, openAI bool) Usage {
	n, estimated := 0, false
	var u Usage
	ok := false
	if openAI { // a bare array has no usage: do not scan megabytes for one
		u, ok = UsageFromOpenAI(in.Body)
	}
	if ok {
		n = u.PromptTokens
	} else if h, ok := headerInt(in.Headers, "x-compute-tokens"); ok {
		n = h
	} else if res.Tokens > 0 {
		n = res.Tokens
	} else {
		n, estimated = st.PromptTokens, true
	}
	return Usage{PromptTokens: n, TotalTokens: n, Estimated: estimated}
}

// appendOpenAIEmbeddingData converts an OpenAI-compatible upstream's list:
// each data[].embedding goes through the same scanner as a bare answer, so
// the client gets the same validation and encoding whatever the upstream.
func appendOpenAIEmbeddingData(dst, body []byte, opt vectorOptions) ([]byte, vectorResult, error) {
	if !gjson.ValidBytes(body) {
		return dst, vectorResult{}, &vectorError{Msg: "the answer is not valid JSON"}
	}
	data := gjson.Parse(bstr(body)).Get("data")
	if !data.IsArray() {
		return dst, vectorResult{}, &vectorError{Msg: "the answer has no \"data\" array"}
	}
	s := vecScan{opt: opt, dst: dst}
	var err error
	data.ForEach(func(_, item gjson.Result) bool {
		if idx := item.Get("index"); idx.Exists() && idx.Int() != int64(s.count) {
			err = &vectorError{Msg: "data[" + strconv.Itoa(s.count) + "] has index " + idx.Raw}
			return false
		}
		if s.count == opt.Inputs {
			err = &vectorError{Msg: "the answer has more than " + strconv.Itoa(opt.Inputs) + " vectors for " + strconv.Itoa(opt.Inputs) + " inputs"}
			return false
		}
		s.src, s.pos = []byte(item.Get("embedding").Raw), 0
		if err = s.vector(); err == nil {
			s.ws()
			if s.pos != len(s.src) {
				err = s.fail("unexpected data after a vector")
			}
		}
		return err == nil
	})
	if err == nil && s.count != opt.Inputs {
		err = &vectorError{Msg: "the answer has " + strconv.Itoa(s.count) + " vectors for " + strconv.Itoa(opt.Inputs) + " inputs"}
	}
	return s.dst, vectorResult{Vectors: s.count, Dims: s.dims}, err
}

// badEmbeddings is the 502 for a 2xx answer that is not usable as a whole.
// An answer that is an error object despite its 2xx keeps that message.
func badEmbeddings(body []byte, err error) *Error {
	msg := err.Error()
	if e := gjson.GetBytes(body, "error"); e.Exists() {
		if m := e.Get("message"); m.Type == gjson.String {
			msg = "it reported an error: " + m.Str
		} else if e.Type == gjson.String {
			msg = "it reported an error: " + e.Str
		}
	}
	e := badGateway("the upstream's embeddings answer cannot be used: %s", msg)
	e.Err = err
	return e
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	b, err := json.Marshal(s)
	if err != nil { // unreachable: strings always marshal
		return append(dst, `""`...)
	}
	return append(dst, b...)
}
