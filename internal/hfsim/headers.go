package hfsim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// checkTestHeaders rejects a malformed X-Hfsim-* header with a loud 400:
// a typo in a test must not silently fall back to the default behaviour.
func (c *call) checkTestHeaders() bool {
	h := c.r.Header
	check := func(name string, ok func(string) bool, want string) error {
		v := h.Get(name)
		if v == "" || ok(v) {
			return nil
		}
		return fmt.Errorf("hfsim: bad %s %q: want %s", name, v, want)
	}
	isDuration := func(v string) bool { d, err := time.ParseDuration(v); return err == nil && d >= 0 }
	isPositive := func(v string) bool { n, err := strconv.ParseInt(v, 10, 64); return err == nil && n > 0 }
	oneOf := func(set ...string) func(string) bool {
		return func(v string) bool {
			for _, s := range set {
				if strings.EqualFold(v, s) {
					return true
				}
			}
			return false
		}
	}
	for _, err := range []error{
		check(headerDelay, isDuration, "a Go duration such as 50ms"),
		check(headerFBDelay, isDuration, "a Go duration such as 2s"),
		check(headerTrickleInterval, isDuration, "a Go duration such as 100ms"),
		check(headerTrickleFor, isDuration, "a Go duration such as 5s"),
		check(headerSize, isPositive, "a positive byte count"),
		check(headerDim, isPositive, "a positive dimension"),
		check(headerStyle, oneOf(string(StyleTGI), string(StyleOpenAI)), "tgi or openai"),
		check(headerShape, oneOf(KindPooled, KindToken, "1d", "2d", "3d", "4d"), "pooled, token, 1d, 2d, 3d or 4d"),
		check(headerVideo, oneOf("mp4", "json"), "mp4 or json"),
	} {
		if err != nil {
			writeJSONError(c.w, http.StatusBadRequest, err.Error())
			return false
		}
	}
	return true
}
