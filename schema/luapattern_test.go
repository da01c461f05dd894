package schema

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Expected results are Lua 5.1 / LuaJIT string.match behaviour.
func TestLuaMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, subject string
		want             bool
	}{
		{upstreamURLPattern, "http://a", true},
		{upstreamURLPattern, "https://router.huggingface.co/v1/chat/completions?x=1", true},
		{upstreamURLPattern, "http://[::1]:8080/", true},
		{upstreamURLPattern, "http://", false},
		{upstreamURLPattern, "http:///x", false},
		{upstreamURLPattern, "ftp://a", false},
		{upstreamURLPattern, "http://a b", false},
		{upstreamURLPattern, "HTTP://a", false},
		{upstreamURLPattern, " http://a", false},
		{"%d+", "abc123", true},
		{"^%d+$", "12a", false},
		{"^[%a_][%w_]*$", "_x1", true},
		{"^[%a_][%w_]*$", "1x", false},
		{"^%b()$", "(a(b)c)", true},
		{"^%b()$", "(a(b c)", false},
		{"%f[%w]%w+", "  hello", true},
		{"%f[%a]x", "ax", false},
		{"^(a+)%1$", "aaaa", true},
		{"^(a+)%1$", "aaa", false},
		{"^a-b$", "aaab", true},
		{"^a?b$", "b", true},
		{"^a?b$", "ab", true},
		{"^a?b$", "aab", false},
		{"[]]", "]", true},
		{"[^]]", "]", false},
		{"^[a-c]+$", "abcab", true},
		{"^[a-c]+$", "abd", false},
		{"^%u%l+$", "Hello", true},
		{"%S+", "   ", false},
		{"^.-$", "", true},
		{"%.", "a.b", true},
		{"%.", "ab", false},
		{"$", "", true},
		{"^$", "x", false},
		{"a$b", "a$b", true},
		{"^()a", "a", true},
		{"^%a$", "\xe9", false},
		{"^.$", "\xe9", true},
		{"[%w-]", "-", true},
		{"[a-]", "-", true},
		{"^%x+$", "DeadBeef09", true},
		{"^%p$", "~", true},
		{"^%c$", "\x7f", true},
		{"^%z$", "\x00", true},
		{"x*$", "", true},
	} {
		got, err := luaMatch(tc.subject, tc.pattern)
		require.NoError(t, err, "%q", tc.pattern)
		assert.Equal(t, tc.want, got, "(%q):match(%q)", tc.subject, tc.pattern)
	}
}

func TestLuaMatchMalformed(t *testing.T) {
	for _, p := range []string{"%", "[a", "(a", ")", "%1", "(a)%2", "%b", "%f", "%fx"} {
		_, err := luaMatch("a(b)c", p)
		assert.True(t, errors.Is(err, errPattern), "%q: %v", p, err)
	}
}

func FuzzLuaMatch(f *testing.F) {
	f.Add("http://a", upstreamURLPattern)
	f.Add("(a(b)c)", "^%b()$")
	f.Add("aaaa", "^(a+)%1$")
	f.Add("", "[^%s]-%f[%w]")
	f.Fuzz(func(t *testing.T, s, p string) {
		_, _ = luaMatch(s, p) // must return, never panic
	})
}
