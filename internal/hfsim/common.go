package hfsim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// requireJSON checks the body is a JSON object and otherwise answers the
// axum rejection TGI gives (Kong's fixture bad_request.json shape).
func (c *call) requireJSON(status int) bool {
	if gjson.ValidBytes(c.body) && gjson.ParseBytes(c.body).IsObject() {
		return true
	}
	writeJSON(c.w, status, axumRejection{Message: "Failed to parse the request body as JSON: expected value at line 1 column 1"})
	return false
}

type axumRejection struct {
	Message string `json:"message"`
}

// MissingFieldMessage is the axum/serde rejection for a body without field:
// serde reports the position of the closing brace of the object (line and
// 1-based column).
func MissingFieldMessage(body []byte, field string) string {
	end := strings.LastIndexByte(string(body), '}')
	if end < 0 {
		end = len(body) - 1
	}
	line := strings.Count(string(body[:max(end, 0)]), "\n") + 1
	col := end - strings.LastIndexByte(string(body[:max(end, 0)]), '\n')
	return fmt.Sprintf("Failed to deserialize the JSON body into the target type: missing field `%s` at line %d column %d", field, line, col)
}

// findModel: the body's "model" (JSON or multipart field), else the
// {org}/{name} in the URL.
func (c *call) findModel() string {
	if m := gjson.GetBytes(c.body, "model"); m.Type == gjson.String {
		return m.String()
	}
	if isMultipart(c.r) {
		if f, err := parseForm(c.r, c.body); err == nil && f.fields["model"] != "" {
			return f.fields["model"]
		}
	}
	return modelFromPath(c.path)
}

// Fixed TGI timings (milliseconds), so headers are predictable.
const (
	ValidationTimeMS     = 1
	QueueTimeMS          = 0
	TimePerTokenMS       = 10
	ComputeTypeGPU       = "gpu+optimized"
	headerComputeType    = "x-compute-type"
	headerComputeChars   = "x-compute-characters"
	headerAccelBuffering = "X-Accel-Buffering"
)

// tgiHeaders are the timing and token headers TGI sets on non-streamed
// answers (router/src/server.rs): inference time is TimePerTokenMS per
// generated token, total = validation + queue + inference.
func (c *call) tgiHeaders(inputs string, u *usage) http.Header {
	h := http.Header{}
	if c.style != StyleTGI {
		return h
	}
	inference := u.CompletionTokens * TimePerTokenMS
	total := ValidationTimeMS + QueueTimeMS + inference
	set := func(k string, v int) { h.Set(k, strconv.Itoa(v)) }
	h.Set(headerComputeType, ComputeTypeGPU)
	set("x-compute-time", total)
	set(headerComputeChars, utf8.RuneCountInString(inputs))
	set("x-total-time", total)
	set("x-validation-time", ValidationTimeMS)
	set("x-queue-time", QueueTimeMS)
	set("x-inference-time", inference)
	set("x-time-per-token", TimePerTokenMS)
	set("x-prompt-tokens", u.PromptTokens)
	set("x-generated-tokens", u.CompletionTokens)
	set("x-total-tokens", u.TotalTokens)
	return h
}

// tgiStreamHeaders: TGI knows only these when a stream starts.
func (c *call) tgiStreamHeaders(inputs string) http.Header {
	h := http.Header{}
	if c.style != StyleTGI {
		return h
	}
	h.Set(headerComputeType, ComputeTypeGPU)
	h.Set(headerComputeChars, strconv.Itoa(utf8.RuneCountInString(inputs)))
	return h
}

// hugeFiller is repeated to pad huge bodies; it needs no JSON escaping.
const hugeFiller = "hfsim huge body padding. "

// hugeSize is Options.HugeSize, or the X-Hfsim-Size header.
func (c *call) hugeSize() int64 {
	if v := c.r.Header.Get(headerSize); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return c.s.opts.HugeSize
}

// hugeJSON answers 200 with prefix + filler + suffix, exactly hugeSize()
// bytes when that exceeds prefix+suffix, written in chunks so the body is
// never held in memory.
func (c *call) hugeJSON(prefix, suffix string) {
	size := c.hugeSize()
	fill := max(size-int64(len(prefix)+len(suffix)), 0)
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.FormatInt(int64(len(prefix)+len(suffix))+fill, 10))
	c.w.WriteHeader(http.StatusOK)
	if _, err := c.w.Write([]byte(prefix)); err != nil {
		return
	}
	block := []byte(strings.Repeat(hugeFiller, 32<<10/len(hugeFiller)))
	for fill > 0 {
		n := min(fill, int64(len(block)))
		if _, err := c.w.Write(block[:n]); err != nil {
			return
		}
		fill -= n
	}
	_, _ = c.w.Write([]byte(suffix))
}
