package translate

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
)

// PathVideos is the video generation route (OpenAI's "create video").
const PathVideos = "/v1/videos"

// Video is the video/v1/videos/generations capability. The request goes to
// /v1/videos with auth and the resolved model, as JSON or as
// multipart/form-data (with an input_reference image), untouched otherwise;
// the answer (a JSON job object, or video bytes) passes through as it is.
type Video struct{}

var (
	_ Capability         = Video{}
	_ ResponseBodyReader = Video{}
)

// NewVideo builds the video capability; it registers itself for route_type
// video/v1/videos/generations.
func NewVideo(*schema.Config) (Capability, error) { return Video{}, nil }

func init() { registerRoute(RouteVideo, NewVideo) }

// ResponseBodyReader is implemented by a Capability whose Response does not
// need every upstream body. The response handler asks before reading the
// body (kong.service.response.get_raw_body), so that a large binary answer
// (a 50 MB video) never crosses the plugin socket: Response then gets a nil
// Body and answers with a nil ClientResponse.Body, which lets Kong send the
// upstream body as it is.
type ResponseBodyReader interface {
	// ReadsResponseBody reports whether Response needs the body of an
	// answer with this status and these headers (lower-case names).
	ReadsResponseBody(status int, headers map[string][]string) bool
}

// ReadsResponseBody implements [ResponseBodyReader]: error bodies (to put
// them in the OpenAI shape) and JSON bodies (for the analytics); never
// video bytes.
func (Video) ReadsResponseBody(status int, headers map[string][]string) bool {
	return status < 200 || status > 299 || isJSONType(firstHeader(headers, "content-type"))
}

// isJSONType reports whether a Content-Type is JSON (application/json or a
// +json type).
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// msgVideoPrompt is the 400 for a request without a prompt.
const msgVideoPrompt = "video generation needs a \"prompt\": a non-empty string describing the video"

// Request implements [Capability.Request].
func (Video) Request(cfg *schema.Config, in *ClientRequest) (*UpstreamRequest, error) {
	if err := CheckBodySize(cfg, int64(len(in.Body))); err != nil {
		return nil, err
	}
	if len(in.Body) == 0 {
		return nil, Errorf(http.StatusBadRequest, "video generation needs a JSON or multipart/form-data body with a \"prompt\"")
	}
	ct := firstHeader(in.Headers, "content-type")
	mt, params := "application/json", map[string]string(nil)
	if ct != "" { // Kong treats a body without a content type as JSON
		var err error
		if mt, params, err = mime.ParseMediaType(ct); err != nil {
			return nil, Errorf(http.StatusBadRequest, "the content-type header %s cannot be parsed", quoteForMessage(ct))
		}
	}
	var (
		up    *UpstreamRequest
		model string
		err   error
	)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		up, model, err = videoJSON(cfg, in)
	case mt == "multipart/form-data":
		up, model, err = videoForm(cfg, in, params["boundary"])
	default:
		return nil, Errorf(http.StatusBadRequest, "video generation takes an application/json or multipart/form-data body, not %s", quoteForMessage(mt))
	}
	if err != nil {
		return nil, err
	}
	HFOptionHeaders(cfg, up.SetHeaders)
	// Headers: the response phase needs the content type to leave video
	// bytes unread (ReadsResponseBody).
	up.State = State{Model: model, Headers: true}
	return up, nil
}

// videoJSON handles a JSON body: the model is set, nothing else changes.
func videoJSON(cfg *schema.Config, in *ClientRequest) (*UpstreamRequest, string, error) {
	if err := ParseObject(in.Body); err != nil {
		return nil, "", err
	}
	if p := gjson.GetBytes(in.Body, "prompt"); p.Type != gjson.String || strings.TrimSpace(p.Str) == "" {
		return nil, "", Errorf(http.StatusBadRequest, msgVideoPrompt)
	}
	model, err := ResolveModel(cfg, in.Body)
	if err != nil {
		return nil, "", err
	}
	up, err := Target(cfg, PathVideos)
	if err != nil {
		return nil, "", err
	}
	body, changed, err := setString(in.Body, "model", model)
	if err != nil {
		return nil, "", err
	}
	body, authChanged, err := ApplyAuth(cfg, in, up, body)
	if err != nil {
		return nil, "", err
	}
	if changed || authChanged {
		up.Body = body
	}
	return up, model, nil
}

// videoForm handles a multipart/form-data body: the "model" field is set
// (replaced, or added), and with auth.param_location "body" the auth param
// is a form field too; every other byte of the body is kept, binary parts
// included.
func videoForm(cfg *schema.Config, in *ClientRequest, boundary string) (*UpstreamRequest, string, error) {
	form, err := parseMultipartForm(in.Body, boundary)
	if err != nil {
		return nil, "", formError(err)
	}
	prompts := form.fields("prompt")
	if len(prompts) != 1 || strings.TrimSpace(string(form.value(prompts[0]))) == "" {
		return nil, "", Errorf(http.StatusBadRequest, msgVideoPrompt)
	}
	// The model checks are ResolveModel's, on the form's model field
	// presented as the JSON body they read.
	probe := []byte(`{}`)
	switch models := form.fields("model"); len(models) {
	case 0:
	case 1:
		probe = appendJSONString([]byte(`{"model":`), string(form.value(models[0])))
		probe = append(probe, '}')
	default:
		return nil, "", Errorf(http.StatusBadRequest, "the form has the field \"model\" more than once")
	}
	model, err := ResolveModel(cfg, probe)
	if err != nil {
		return nil, "", err
	}
	up, err := Target(cfg, PathVideos)
	if err != nil {
		return nil, "", err
	}
	edits, err := form.setField(nil, "model", model)
	if err != nil {
		return nil, "", formError(err)
	}
	// ApplyAuth edits JSON bodies only: a body param becomes a form field
	// here, and ApplyAuth does the header, the query and the clearing of
	// client credentials.
	authCfg := cfg
	if a := cfg.Auth; a.ParamLocation == "body" && a.ParamName != "" && a.ParamValue != "" {
		if !(a.AllowOverride && len(form.fields(a.ParamName)) > 0) {
			if edits, err = form.setField(edits, a.ParamName, a.ParamValue); err != nil {
				return nil, "", formError(err)
			}
		}
		c := *cfg
		c.Auth.ParamName, c.Auth.ParamValue = "", ""
		authCfg = &c
	}
	if _, _, err := ApplyAuth(authCfg, in, up, nil); err != nil {
		return nil, "", err
	}
	up.Body = form.apply(edits)
	return up, model, nil
}

// formError is the 400 for a form this plugin cannot edit safely.
func formError(err error) *Error {
	msg := err.Error()
	if !errors.Is(err, errMalformedForm) {
		msg = "multipart/form-data body: " + msg
	}
	return &Error{Status: http.StatusBadRequest, Message: msg, Err: err}
}

// Response implements [Capability.Response]: a 2xx answer passes through
// as it is (nil Body), a JSON one lends its model to the analytics; other
// statuses get the OpenAI error shape.
func (Video) Response(cfg *schema.Config, st *State, in *UpstreamResponse) (*ClientResponse, error) {
	if in.Status < 200 || in.Status > 299 {
		return errorResponse(in), nil
	}
	usage := Usage{ResponseModel: st.Model}
	if len(in.Body) > 0 && isJSONType(firstHeader(in.Headers, "content-type")) && gjson.ValidBytes(in.Body) {
		if m := gjson.GetBytes(in.Body, "model"); m.Type == gjson.String && m.Str != "" {
			usage.ResponseModel = m.Str
		}
		if u, ok := UsageFromOpenAI(in.Body); ok {
			u.ResponseModel = usage.ResponseModel
			usage = u
		}
	}
	return &ClientResponse{Status: in.Status, Usage: usage}, nil
}
