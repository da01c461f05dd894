package translate

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/tidwall/gjson"
)

// Preserve serves route_type preserve: the client's path and body go to the
// upstream as they are, with only routing and auth applied. As in Kong's
// ai-proxy (override_upstream_url), the path is model.options.upstream_path
// when set, else the client's request path as sent (route prefix
// included), put on the upstream base by the UpstreamPath rule. Nothing is translated either way, so the response
// is always passed through unbuffered: streams work without any setting,
// and the response phase does not run.
type Preserve struct{}

var _ Capability = Preserve{}

// Request implements [Capability.Request].
func (Preserve) Request(cfg *schema.Config, in *ClientRequest) (*UpstreamRequest, error) {
	if err := CheckBodySize(cfg, int64(len(in.Body))); err != nil {
		return nil, err
	}
	path := in.Path
	if p := cfg.Model.Options.UpstreamPath; p != "" {
		path = "/" + strings.TrimLeft(p, "/")
	}
	if err := checkClientPath(path); err != nil {
		return nil, err
	}
	body := in.Body
	isJSON := jsonObject(body)
	if isJSON {
		if err := ParseObject(body); err != nil {
			return nil, err
		}
	}
	model := cfg.Model.Name
	if isJSON {
		var err error
		if model, err = modelCandidate(cfg, body); err != nil {
			return nil, err
		}
	}
	if model != "" {
		if err := ValidateModelID(model); err != nil {
			return nil, err
		}
	}
	asked := (isJSON && hasTrue(body, "stream")) || lastSegment(path) == "generate_stream" ||
		strings.Contains(firstHeader(in.Headers, "accept"), "text/event-stream")
	if _, err := StreamRequested(cfg, asked); err != nil {
		return nil, err
	}
	if cfg.Auth.ParamLocation == "body" && cfg.Auth.ParamName != "" && !isJSON {
		return nil, Errorf(http.StatusBadRequest, "this route adds its credential to a JSON request body (auth.param_location: body), and this request body is not a JSON object")
	}

	up, err := Target(cfg, path)
	if err != nil {
		return nil, err
	}
	HFOptionHeaders(cfg, up.SetHeaders)
	authBody := body
	if !isJSON {
		// Only the header and query rules apply to a body that is not JSON;
		// the body-param case was refused above.
		authBody = nil
	}
	edited, changed, err := ApplyAuth(cfg, in, up, authBody)
	if err != nil {
		return nil, err
	}
	if changed {
		up.Body = edited
	}
	up.Stream = true
	up.State = State{Model: model, Stream: true}
	return up, nil
}

// jsonObject reports whether a body looks like a JSON object (then it is
// checked like any JSON body; other bodies pass untouched).
func jsonObject(body []byte) bool {
	t := bytes.TrimSpace(body)
	return len(t) > 0 && t[0] == '{'
}

// checkClientPath refuses a client path that could climb out of the
// upstream base or be read differently upstream: dot segments (plain or
// percent-encoded), encoded slashes and backslashes, NUL, control
// characters, spaces and fragments.
func checkClientPath(p string) error {
	bad := func(why string) error {
		return Errorf(http.StatusBadRequest, "the request path %s cannot be forwarded: %s", quoteForMessage(p), why)
	}
	if !strings.HasPrefix(p, "/") {
		return bad("it does not start with '/'")
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x21 || c == 0x7f || c == '#' || c == '\\' || c == '?' {
			return bad("it holds a control character, space, '#', '?' or '\\'")
		}
	}
	lower := strings.ToLower(p)
	for _, enc := range []string{"%2e", "%2f", "%5c", "%00"} {
		if strings.Contains(lower, enc) {
			return bad("it holds an encoded '.', '/', '\\' or NUL")
		}
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return bad("it has a '.' or '..' segment")
		}
	}
	return nil
}

// NewStream implements [Streamer]: any stream passes through; what can be
// counted is.
func (Preserve) NewStream(_ *schema.Config, st *State) Stream {
	return &preserveStream{tally: tally{st: st}}
}

// Response implements [Capability.Response]. Preserve requests are not
// buffered, so this runs only when another plugin turned buffering back on;
// the answer is passed through as it came.
func (Preserve) Response(_ *schema.Config, st *State, in *UpstreamResponse) (*ClientResponse, error) {
	out := &ClientResponse{Status: in.Status}
	if in.Status < 200 || in.Status > 299 {
		out.Error = UpstreamError(in.Status, in.Body)
	} else if u, ok := UsageFromOpenAI(in.Body); ok && gjson.ValidBytes(in.Body) {
		out.Usage = u
	}
	out.Usage.ResponseModel = st.Model
	return out, nil
}
