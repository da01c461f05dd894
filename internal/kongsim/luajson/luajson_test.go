package luajson

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeLikeCJSON(t *testing.T) {
	cases := []struct {
		in   any
		want string
	}{
		{"a/b", `"a\/b"`},
		{"tab\tnl\n\"q\"\\", `"tab\tnl\n\"q\"\\"`},
		{"\x01\x7f", `"\u0001\u007f"`},
		{"ü", `"ü"`},
		{float64(1024), `1024`},
		{0.7, `0.7`},
		{1e14, `1e+14`},
		{float64(1718000000123), `1718000000123`},
		{map[string]any{"b": 1.0, "a": []any{true, Null{}}, "skip": nil}, `{"a":[true,null],"b":1}`},
		{map[string]any{}, `{}`},
		{[]any{}, `[]`},
	}
	for _, c := range cases {
		got, err := Encode(c.in)
		require.NoError(t, err)
		assert.Equal(t, c.want, string(got))
	}
	_, err := Encode(func() {})
	assert.Error(t, err)
}

func TestDecodeStripNulls(t *testing.T) {
	v, err := Decode([]byte(`{"a":null,"b":{"c":null,"d":1},"e":[null]}`))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"b": map[string]any{"d": 1.0}, "e": []any{Null{}}}, StripNulls(v))
	_, err = Decode([]byte(`{} x`))
	assert.Error(t, err)
}

func BenchmarkEncode(b *testing.B) {
	v := map[string]any{"request": map[string]any{"uri": "/v1/chat/completions", "headers": map[string]any{"a": "b", "c": []any{"d", "e"}}}, "n": 12.5}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(v); err != nil {
			b.Fatal(err)
		}
	}
}
