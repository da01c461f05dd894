package translate

import (
	"math"
	"net/http"
	"strconv"

	"github.com/tidwall/gjson"
)

// Type and range checks for the request fields the plugin itself reads to
// decide something (streaming, options it fills in, the text-generation
// parameters it builds). A value of the wrong type would otherwise be
// misread silently — "stream": "true" answered buffered, a string
// "max_tokens" keeping model.options.max_tokens out, a string "seed"
// dropped on the way to text-generation — and sent upstream with the
// gateway's token attached. An absent field and null are always accepted.

// maxTokensLimit is the largest token count accepted: TGI reads counts as
// u32, and config.model.options.max_tokens stops at the same int32 bound.
const maxTokensLimit = math.MaxInt32

// checkBool refuses a present, non-null value that is not true or false.
func checkBool(name string, v gjson.Result) error {
	if !v.Exists() || v.Type == gjson.Null || v.Type == gjson.True || v.Type == gjson.False {
		return nil
	}
	return Errorf(http.StatusBadRequest, "%s must be a boolean, not %s", quoteForMessage(name), jsonKind(v))
}

// checkInt refuses a present, non-null value that is not an integer from
// lo to hi (written without a fraction or exponent, as OpenAI's integers).
func checkInt(name string, v gjson.Result, lo, hi int64) error {
	if !v.Exists() || v.Type == gjson.Null {
		return nil
	}
	if v.Type == gjson.Number {
		if n, err := strconv.ParseInt(v.Raw, 10, 64); err == nil && n >= lo && n <= hi {
			return nil
		}
	}
	return Errorf(http.StatusBadRequest, "%s must be an integer from %d to %d, not %s", quoteForMessage(name), lo, hi, jsonValueForMessage(v))
}

// checkNumber refuses a present, non-null value that is not a finite
// number from lo to hi.
func checkNumber(name string, v gjson.Result, lo, hi float64) error {
	if !v.Exists() || v.Type == gjson.Null {
		return nil
	}
	if v.Type == gjson.Number {
		if f, err := strconv.ParseFloat(v.Raw, 64); err == nil && !math.IsInf(f, 0) && f >= lo && f <= hi {
			return nil
		}
	}
	return Errorf(http.StatusBadRequest, "%s must be a number from %s to %s, not %s", quoteForMessage(name),
		strconv.FormatFloat(lo, 'g', -1, 64), strconv.FormatFloat(hi, 'g', -1, 64), jsonValueForMessage(v))
}

// checkMessages refuses a "messages" array with an item that is not a
// message object (a string, a number, null, a nested array).
func checkMessages(v gjson.Result) error {
	var err error
	i := 0
	v.ForEach(func(_, m gjson.Result) bool {
		if !m.IsObject() {
			err = Errorf(http.StatusBadRequest, "\"messages\" must be an array of message objects; item %d is %s", i, jsonKind(m))
			return false
		}
		i++
		return true
	})
	return err
}

// checkOpenAIFields checks the fields of an OpenAI chat or completions
// body the plugin reads (f indexed as openAIKeys).
func checkOpenAIFields(f *[nOpenAIKeys]gjson.Result, hasMessages bool) error {
	if hasMessages {
		if err := checkMessages(f[kMessages]); err != nil {
			return err
		}
	}
	if err := checkBool("stream", f[kStream]); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		v    gjson.Result
		lo   int64
	}{{"max_tokens", f[kMaxTokens], 1}, {"max_completion_tokens", f[kMaxCompletionTokens], 1}, {"top_k", f[kTopK], 0}} {
		if err := checkInt(c.name, c.v, c.lo, maxTokensLimit); err != nil {
			return err
		}
	}
	// Upper bounds: OpenAI's top_p is a probability; no provider takes a
	// temperature above the 5 of config.model.options.temperature.
	if err := checkNumber("temperature", f[kTemperature], 0, 5); err != nil {
		return err
	}
	return checkNumber("top_p", f[kTopP], 0, 1)
}

// checkTextGenerationFields checks the completions fields the router's
// text-generation translation reads beyond checkOpenAIFields: they are
// copied into "parameters" only when of the right type, so a wrong one
// would be dropped without a word.
func checkTextGenerationFields(root gjson.Result) error {
	if err := checkInt("seed", root.Get("seed"), 0, math.MaxInt64); err != nil {
		return err
	}
	if err := checkNumber("frequency_penalty", root.Get("frequency_penalty"), -2, 2); err != nil {
		return err
	}
	if err := checkBool("echo", root.Get("echo")); err != nil {
		return err
	}
	if s := root.Get("stop"); s.Exists() && s.Type != gjson.Null && s.Type != gjson.String && !s.IsArray() {
		return Errorf(http.StatusBadRequest, "\"stop\" must be a string or an array of strings")
	}
	return nil
}

// jsonKind names a JSON value's type for a message.
func jsonKind(v gjson.Result) string {
	switch {
	case v.Type == gjson.String:
		return "a string"
	case v.Type == gjson.Number:
		return "a number"
	case v.Type == gjson.True || v.Type == gjson.False:
		return "a boolean"
	case v.Type == gjson.Null:
		return "null"
	case v.IsArray():
		return "an array"
	default:
		return "an object"
	}
}

// jsonValueForMessage is a number as written (cut short), else its kind.
func jsonValueForMessage(v gjson.Result) string {
	if v.Type == gjson.Number {
		if len(v.Raw) > 32 {
			return v.Raw[:32] + "…"
		}
		return v.Raw
	}
	return jsonKind(v)
}
