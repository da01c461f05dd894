package hfsim

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Fault modes. A real client never sends the X-Hfsim-Fault header, the
// hfsim_fault query parameter or a /fault/<mode>/ path prefix; they exist
// only so tests can pick a failure per request, also through clients that
// can set nothing but a URL or a model name.
const (
	FaultLoading           = "loading"             // 503 {"error":"Model X is currently loading","estimated_time":…}
	FaultRateLimit         = "ratelimit"           // 429 + RateLimit / RateLimit-Policy headers
	FaultOverloaded        = "overloaded"          // 429 TGI {"error":"Model is overloaded","error_type":"overloaded"}
	FaultCredits           = "credits"             // 402 monthly credits exceeded
	FaultPermission        = "permission"          // 403 OpenAI-object envelope, permission_error
	FaultModelNotSupported = "model_not_supported" // 400 router OpenAI envelope
	FaultTemplateError     = "template_error"      // 400 Kong fixture bad_request.json
	FaultValidation        = "validation"          // 422 TGI input validation error
	FaultHTML500           = "html500"             // 500 text/html page
	FaultTimeout           = "timeout"             // 504 {"error":"Model X time out"}
	FaultSlowFirstByte     = "slow_first_byte"     // sleep FirstByteDelay, then answer normally
	FaultStreamError       = "stream_error"        // error event mid-stream (424 when not streaming)
	FaultStreamCut         = "stream_cut"          // half an event (or half a body), then the connection closes
	FaultReset             = "reset"               // TCP reset before any byte (SO_LINGER 0)
	FaultBadJSON           = "bad_json"            // 200 with invalid JSON (a broken event when streaming)
	FaultHuge              = "huge"                // 200 with a valid body of HugeSize bytes
	FaultWrongShape        = "wrong_shape"         // 200 {"foo":1}
)

// Faults lists every fault mode.
func Faults() []string {
	out := make([]string, 0, len(faultWriters)+6)
	for k := range faultWriters {
		out = append(out, k)
	}
	out = append(out, FaultSlowFirstByte, FaultStreamError, FaultStreamCut, FaultBadJSON, FaultHuge, FaultReset, FaultSlowHeaders, FaultEndless)
	sort.Strings(out)
	return out
}

// FaultModelOrg is the organisation of the built-in fault models: model
// "hfsim-fault/<mode>" (in a body or a URL) triggers <mode>.
const FaultModelOrg = "hfsim-fault"

// Error bodies, copied from the sources named in the package README.
const (
	BodyTemplateError = `{"error":"Template error: undefined value (in <string>:1)","error_type":"template_error"}`
	BodyOverloaded    = `{"error":"Model is overloaded","error_type":"overloaded"}`
	BodyCredits       = `{"error":"You have exceeded your monthly included credits for Inference Providers. Subscribe to PRO to get 20x more monthly included credits."}`
	BodyRateLimit     = `{"error":"Rate limit reached. You reached free usage limit (reset hourly). Please subscribe to a plan at https://huggingface.co/pricing to use the API at this rate"}`
	BodyWrongShape    = `{"foo":1}`
	BodyHTML500       = "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n<center><h1>500 Internal Server Error</h1></center>\r\n</body>\r\n</html>\r\n"
	BodyGenerationErr = `{"error":"Request failed during generation: Server error: CUDA out of memory. Tried to allocate 20.00 MiB","error_type":"generation"}`
	// Rate-limit headers the Hub sends on 429 (huggingface_hub#3553).
	RateLimitHeader       = `"api";r=0;t=55`
	RateLimitPolicyHeader = `"fixed window";"api";q=500;w=300`
)

func knownFault(f string) bool {
	if _, ok := faultWriters[f]; ok {
		return true
	}
	switch f {
	case FaultSlowFirstByte, FaultStreamError, FaultStreamCut, FaultBadJSON, FaultHuge, FaultReset, FaultSlowHeaders, FaultEndless:
		return true
	}
	return false
}

// stripFaultPrefix removes a /fault/<mode> prefix (or Kong's mock prefixes
// /model-loading and /model-timeout) from the path and returns the mode.
func (c *call) stripFaultPrefix() string {
	p := c.path
	if rest, ok := strings.CutPrefix(p, "/fault/"); ok {
		mode, tail, _ := strings.Cut(rest, "/")
		c.path = "/" + tail
		return mode
	}
	for prefix, mode := range map[string]string{"/model-loading/": FaultLoading, "/model-timeout/": FaultTimeout} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			c.path = "/" + rest
			return mode
		}
	}
	return ""
}

// chooseFault applies the precedence: header, query parameter, path prefix,
// Options.FaultFor, Options.ModelFaults, built-in fault model.
func (c *call) chooseFault(pathFault string) string {
	if f := c.r.Header.Get(headerFault); f != "" {
		return f
	}
	if f := c.r.URL.Query().Get(queryFault); f != "" {
		return f
	}
	if pathFault != "" {
		return pathFault
	}
	if c.s.opts.FaultFor != nil {
		if f := c.s.opts.FaultFor(c.r); f != "" {
			return f
		}
	}
	if c.model != "" {
		if f, ok := c.s.opts.ModelFaults[c.model]; ok {
			return f
		}
		base, _, _ := strings.Cut(c.model, ":")
		if f, ok := c.s.opts.ModelFaults[base]; ok {
			return f
		}
		if mode, ok := strings.CutPrefix(base, FaultModelOrg+"/"); ok {
			return mode
		}
	}
	return ""
}

type faultWriter func(c *call)

var faultWriters = map[string]faultWriter{
	FaultLoading: func(c *call) {
		writeJSON(c.w, http.StatusServiceUnavailable, struct {
			Error         string  `json:"error"`
			EstimatedTime float64 `json:"estimated_time"`
		}{fmt.Sprintf("Model %s is currently loading", c.modelOr()), c.s.opts.EstimatedTime})
	},
	FaultRateLimit: func(c *call) {
		c.w.Header().Set("RateLimit", RateLimitHeader)
		c.w.Header().Set("RateLimit-Policy", RateLimitPolicyHeader)
		writeRaw(c.w, http.StatusTooManyRequests, "application/json", BodyRateLimit)
	},
	FaultOverloaded: func(c *call) {
		writeRaw(c.w, http.StatusTooManyRequests, "application/json", BodyOverloaded)
	},
	FaultCredits: func(c *call) {
		writeRaw(c.w, http.StatusPaymentRequired, "application/json", BodyCredits)
	},
	FaultPermission: func(c *call) {
		writeJSON(c.w, http.StatusForbidden, errorEnvelope{Error: openAIError{
			Message: "This authentication method does not have sufficient permissions to call Inference Providers on behalf of user hfsim",
			Type:    "permission_error",
		}})
	},
	FaultModelNotSupported: func(c *call) {
		writeJSON(c.w, http.StatusBadRequest, errorEnvelope{Error: openAIError{
			Message: fmt.Sprintf("The requested model '%s' is not supported by any provider you have enabled.", c.modelOr()),
			Type:    "invalid_request_error",
			Param:   "model",
			Code:    "model_not_supported",
		}})
	},
	FaultTemplateError: func(c *call) {
		writeRaw(c.w, http.StatusBadRequest, "application/json", BodyTemplateError)
	},
	FaultValidation: func(c *call) {
		writeValidation(c.w, "`inputs` tokens + `max_new_tokens` must be <= 4096. Given: 17 `inputs` tokens and 10000 `max_new_tokens`")
	},
	FaultHTML500: func(c *call) {
		writeRaw(c.w, http.StatusInternalServerError, "text/html", BodyHTML500)
	},
	FaultTimeout: func(c *call) {
		writeJSON(c.w, http.StatusGatewayTimeout, struct {
			Error string `json:"error"`
		}{fmt.Sprintf("Model %s time out", c.modelOr())})
	},
	FaultWrongShape: func(c *call) {
		writeRaw(c.w, http.StatusOK, "application/json", BodyWrongShape)
	},
}

type openAIError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   string `json:"param,omitempty"`
	Code    string `json:"code,omitempty"`
}

type errorEnvelope struct {
	Error openAIError `json:"error"`
}

func (c *call) modelOr() string {
	if c.model != "" {
		return c.model
	}
	return "unknown"
}

// applyFault answers the request for faults that replace the answer and
// returns true; for faults that alter the normal answer (stream_error,
// stream_cut, bad_json, huge) it returns false and the handlers consult
// c.fault. An unknown mode is a test bug and gets a loud 400.
func (c *call) applyFault() bool {
	if w, ok := faultWriters[c.fault]; ok {
		w(c)
		return true
	}
	switch c.fault {
	case FaultReset:
		c.reset()
		return true
	case FaultSlowHeaders:
		c.slowHeaders()
		return true
	case FaultEndless:
		c.endless()
		return true
	case FaultSlowFirstByte:
		d := c.s.opts.FirstByteDelay
		if v := c.r.Header.Get(headerFBDelay); v != "" {
			if pd, err := time.ParseDuration(v); err == nil {
				d = pd
			}
		}
		if !sleepCtx(c.r.Context(), d) {
			return true
		}
		return false
	case FaultStreamError, FaultStreamCut, FaultBadJSON, FaultHuge:
		return false
	}
	writeJSONError(c.w, http.StatusBadRequest, fmt.Sprintf("hfsim: unknown fault mode %q; known: %s", c.fault, strings.Join(Faults(), ",")))
	return true
}

// reset closes the connection with SO_LINGER 0 so the peer gets a TCP RST
// instead of an orderly FIN.
func (c *call) reset() {
	conn, _, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2 or a ResponseRecorder): say so loudly
		// rather than pretend the fault happened.
		writeJSONError(c.w, http.StatusInternalServerError, "hfsim: fault reset needs an HTTP/1.1 connection: "+err.Error())
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// cut writes partial bytes after whatever was already sent, then closes the
// connection (FIN), so the peer sees a body that ends mid-event.
func (c *call) cut(partial []byte) {
	rc := http.NewResponseController(c.w)
	if len(partial) > 0 {
		_, _ = c.w.Write(partial)
		_ = rc.Flush()
	}
	conn, buf, err := rc.Hijack()
	if err != nil {
		// Headers are gone already; without a connection to close, the
		// body simply ends here.
		return
	}
	if buf != nil {
		_ = buf.Flush()
	}
	_ = conn.Close()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
