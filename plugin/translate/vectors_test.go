package translate

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// refVectors is the test oracle: the same shape rules as appendEmbeddingData,
// written the slow obvious way (encoding/json into interface{}), so the
// scanner can be checked against it on any input, fuzzed ones included.
func refVectors(src []byte, opt vectorOptions) ([][]float32, int, error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, 0, err
	}
	if len(bytes.Trim(src[dec.InputOffset():], " \t\n\r")) > 0 {
		return nil, 0, errors.New("trailing data")
	}
	depth := 0
	for v := doc; ; depth++ {
		a, ok := v.([]any)
		if !ok {
			break
		}
		if len(a) == 0 {
			return nil, 0, errors.New("empty array")
		}
		v = a[0]
	}
	if depth == 0 || depth > maxVectorDepth {
		return nil, 0, errors.New("bad depth")
	}
	num := func(v any) (float64, error) {
		n, ok := v.(json.Number)
		if !ok {
			return 0, errors.New("non-numeric")
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil || math.IsInf(float64(float32(f)), 0) {
			return 0, errors.New("range")
		}
		return f, nil
	}
	vec := func(v any) ([]float64, error) {
		a, ok := v.([]any)
		if !ok || len(a) == 0 {
			return nil, errors.New("not a vector")
		}
		out := make([]float64, len(a))
		for i, x := range a {
			f, err := num(x)
			if err != nil {
				return nil, err
			}
			out[i] = f
		}
		return out, nil
	}
	var rows [][]float64
	tokens := 0
	pool := func(v any) error {
		a, ok := v.([]any)
		if !ok || len(a) == 0 {
			return errors.New("not a matrix")
		}
		var sum []float64
		for t, tv := range a {
			x, err := vec(tv)
			if err != nil {
				return err
			}
			if t == 0 {
				sum = x
				continue
			}
			if len(x) != len(sum) {
				return errors.New("ragged")
			}
			for k := range x {
				sum[k] += x[k]
			}
		}
		scale := 1 / float64(len(a))
		if opt.Normalize {
			var sq float64
			for _, x := range sum {
				sq += x * x
			}
			if sq > 0 {
				scale = 1 / math.Sqrt(sq)
			}
		}
		for k := range sum {
			sum[k] *= scale
		}
		tokens += len(a)
		rows = append(rows, sum)
		return nil
	}
	outer, _ := doc.([]any)
	switch depth {
	case 1:
		x, err := vec(doc)
		if err != nil {
			return nil, 0, err
		}
		rows = append(rows, x)
	case 2:
		for _, v := range outer {
			x, err := vec(v)
			if err != nil {
				return nil, 0, err
			}
			rows = append(rows, x)
		}
	case 3:
		for _, v := range outer {
			if err := pool(v); err != nil {
				return nil, 0, err
			}
		}
	case 4:
		for _, v := range outer {
			a, ok := v.([]any)
			if !ok || len(a) != 1 {
				return nil, 0, errors.New("not a batch of one")
			}
			if err := pool(a[0]); err != nil {
				return nil, 0, err
			}
		}
	}
	if len(rows) != opt.Inputs {
		return nil, 0, errors.New("count mismatch")
	}
	out := make([][]float32, len(rows))
	for i, r := range rows {
		if len(r) != len(rows[0]) || (opt.Dimensions > 0 && len(r) != opt.Dimensions) {
			return nil, 0, errors.New("ragged or wrong dimensions")
		}
		out[i] = make([]float32, len(r))
		for k, x := range r {
			out[i][k] = float32(x)
		}
	}
	return out, tokens, nil
}

// decodeData parses what appendEmbeddingData wrote (wrapped in [ ]) back
// into float32 vectors, checking the entry objects on the way.
func decodeData(t testing.TB, data []byte, enc vectorEncoding) [][]float32 {
	t.Helper()
	var entries []struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	}
	wrapped := append(append([]byte{'['}, data...), ']')
	require.True(t, json.Valid(wrapped), "output is not valid JSON: %s", wrapped)
	require.NoError(t, json.Unmarshal(wrapped, &entries))
	out := make([][]float32, len(entries))
	for i, e := range entries {
		require.Equal(t, "embedding", e.Object)
		require.Equal(t, i, e.Index)
		if enc == encodeBase64 {
			var s string
			require.NoError(t, json.Unmarshal(e.Embedding, &s))
			raw, err := base64.StdEncoding.DecodeString(s)
			require.NoError(t, err)
			require.Zero(t, len(raw)%4)
			for k := 0; k < len(raw); k += 4 {
				out[i] = append(out[i], math.Float32frombits(binary.LittleEndian.Uint32(raw[k:])))
			}
			continue
		}
		var fs []float64
		require.NoError(t, json.Unmarshal(e.Embedding, &fs))
		for _, f := range fs {
			out[i] = append(out[i], float32(f))
		}
	}
	return out
}

func TestVectorShapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		src    string
		opt    vectorOptions
		want   [][]float32
		tokens int
		err    string
	}{
		{name: "1d_single_input", src: `[0.5, -1.25, 3e-2]`, opt: vectorOptions{Inputs: 1},
			want: [][]float32{{0.5, -1.25, 0.03}}},
		{name: "2d_two_inputs", src: " [[1,2],\n [3,4]] ", opt: vectorOptions{Inputs: 2},
			want: [][]float32{{1, 2}, {3, 4}}},
		{name: "2d_one_row_for_one_input", src: `[[0.25,0.75]]`, opt: vectorOptions{Inputs: 1},
			want: [][]float32{{0.25, 0.75}}},
		{name: "3d_single_input_mean_pooled", src: `[[[1,2],[3,4],[5,9]]]`, opt: vectorOptions{Inputs: 1},
			want: [][]float32{{3, 5}}, tokens: 3},
		{name: "3d_tei_embed_all_two_inputs", src: `[[[1,1],[3,3]],[[2,4]]]`, opt: vectorOptions{Inputs: 2},
			want: [][]float32{{2, 2}, {2, 4}}, tokens: 3},
		{name: "4d_pipeline_list_input", src: `[[[[1,0],[0,1]]],[[[2,2],[4,4],[6,6]]]]`, opt: vectorOptions{Inputs: 2},
			want: [][]float32{{0.5, 0.5}, {4, 4}}, tokens: 5},
		{name: "3d_normalized_after_pooling", src: `[[[3,0],[3,8]]]`, opt: vectorOptions{Inputs: 1, Normalize: true},
			want: [][]float32{{0.6, 0.8}}, tokens: 2},
		{name: "base64_2d", src: `[[0.1,-0.2],[1e-3,7]]`, opt: vectorOptions{Inputs: 2, Encoding: encodeBase64},
			want: [][]float32{{0.1, -0.2}, {0.001, 7}}},
		{name: "base64_3d", src: `[[[0.1,0.3],[0.3,0.1]]]`, opt: vectorOptions{Inputs: 1, Encoding: encodeBase64},
			want: [][]float32{{0.2, 0.2}}, tokens: 2},
		{name: "dimensions_honoured", src: `[[1,2,3]]`, opt: vectorOptions{Inputs: 1, Dimensions: 3},
			want: [][]float32{{1, 2, 3}}},

		{name: "empty_body", src: ``, opt: vectorOptions{Inputs: 1}, err: "ends before its first number"},
		{name: "object_not_array", src: `{"error":"x"}`, opt: vectorOptions{Inputs: 1}, err: "expected a JSON array"},
		{name: "empty_outer", src: `[]`, opt: vectorOptions{Inputs: 1}, err: "empty array"},
		{name: "empty_vector_later", src: `[[1],[]]`, opt: vectorOptions{Inputs: 2}, err: "empty array or trailing comma"},
		{name: "trailing_comma", src: `[1,2,]`, opt: vectorOptions{Inputs: 1}, err: "trailing comma"},
		{name: "non_numeric_first", src: `[["a"]]`, opt: vectorOptions{Inputs: 1}, err: "non-numeric"},
		{name: "non_numeric_null", src: `[[1,null]]`, opt: vectorOptions{Inputs: 1}, err: "non-numeric"},
		{name: "non_numeric_bool", src: `[true]`, opt: vectorOptions{Inputs: 1}, err: "non-numeric"},
		{name: "nan_literal", src: `[NaN]`, opt: vectorOptions{Inputs: 1}, err: "non-numeric"},
		{name: "ragged_lengths", src: `[[1,2],[3]]`, opt: vectorOptions{Inputs: 2}, err: "ragged array: a vector has 1 dimensions where the first had 2"},
		{name: "ragged_depth_number", src: `[[1,2],3]`, opt: vectorOptions{Inputs: 2}, err: "ragged array: found a number"},
		{name: "ragged_depth_array", src: `[[1,[2]]]`, opt: vectorOptions{Inputs: 1}, err: "ragged array: found a nested array"},
		{name: "ragged_tokens", src: `[[[1,2],[3]]]`, opt: vectorOptions{Inputs: 1}, err: "ragged array"},
		{name: "ragged_tokens_longer", src: `[[[1,2],[3,4,5]]]`, opt: vectorOptions{Inputs: 1}, err: "more than 2 dimensions"},
		{name: "ragged_across_inputs", src: `[[[1,2]],[[3,4,5]]]`, opt: vectorOptions{Inputs: 2}, err: "ragged array"},
		{name: "4d_two_sequences", src: `[[[[1]],[[2]]]]`, opt: vectorOptions{Inputs: 1}, err: "more than one sequence"},
		{name: "too_deep", src: `[[[[[1]]]]]`, opt: vectorOptions{Inputs: 1}, err: "nested 5 levels"},
		{name: "too_few_vectors", src: `[[1],[2]]`, opt: vectorOptions{Inputs: 3}, err: "2 vectors for 3 inputs"},
		{name: "too_many_vectors", src: `[[1],[2],[3]]`, opt: vectorOptions{Inputs: 2}, err: "more than 2 vectors for 2 inputs"},
		{name: "1d_for_two_inputs", src: `[1,2]`, opt: vectorOptions{Inputs: 2}, err: "1 vectors for 2 inputs"},
		{name: "2d_token_matrix_for_one_input", src: `[[1,2],[3,4]]`, opt: vectorOptions{Inputs: 1}, err: "more than 1 vectors"},
		{name: "dimensions_not_honoured", src: `[[1,2,3]]`, opt: vectorOptions{Inputs: 1, Dimensions: 2}, err: "dimensions=2"},
		{name: "out_of_float32_range", src: `[1e39]`, opt: vectorOptions{Inputs: 1}, err: "out of float32 range"},
		{name: "out_of_float32_range_long_literal", src: `[1000000000000000000000000000000000000000]`, opt: vectorOptions{Inputs: 1}, err: "out of float32 range"},
		{name: "out_of_float64_range", src: `[[1e400]]`, opt: vectorOptions{Inputs: 1, Encoding: encodeBase64}, err: "out of float32 range"},
		{name: "leading_zero", src: `[01]`, opt: vectorOptions{Inputs: 1}, err: "',' or ']'"},
		{name: "bare_minus", src: `[-]`, opt: vectorOptions{Inputs: 1}, err: "malformed number"},
		{name: "dot_without_digits", src: `[1.]`, opt: vectorOptions{Inputs: 1}, err: "malformed number"},
		{name: "exp_without_digits", src: `[1e+]`, opt: vectorOptions{Inputs: 1}, err: "malformed number"},
		{name: "plus_sign", src: `[+1]`, opt: vectorOptions{Inputs: 1}, err: "non-numeric"},
		{name: "truncated", src: `[[1,2],[3,`, opt: vectorOptions{Inputs: 2}, err: "ends where a number was expected"},
		{name: "unclosed", src: `[[1,2`, opt: vectorOptions{Inputs: 1}, err: "ends inside an array"},
		{name: "trailing_data", src: `[1] [2]`, opt: vectorOptions{Inputs: 1}, err: "unexpected data after the array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, res, err := appendEmbeddingData(nil, []byte(tc.src), tc.opt)
			_, _, refErr := refVectors([]byte(tc.src), tc.opt)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				var ve *vectorError
				require.ErrorAs(t, err, &ve)
				require.Error(t, refErr, "the oracle accepts what the scanner refuses")
				return
			}
			require.NoError(t, err)
			require.NoError(t, refErr)
			require.Equal(t, len(tc.want), res.Vectors)
			require.Equal(t, len(tc.want[0]), res.Dims)
			require.Equal(t, tc.tokens, res.Tokens)
			require.Equal(t, tc.tokens > 0, res.Pooled)
			got := decodeData(t, out, tc.opt.Encoding)
			require.Equal(t, len(tc.want), len(got))
			for i := range tc.want {
				require.InDeltaSlice(t, tc.want[i], got[i], 1e-6, "vector %d", i)
			}
		})
	}
}

// TestVectorFloatLiteralsCopied checks that float output keeps the
// upstream's literals byte for byte (no precision lost or invented) while
// dropping its whitespace.
func TestVectorFloatLiteralsCopied(t *testing.T) {
	src := `[ [ -0.0069292835 , 1E-7,0.12345678901234567 ] ]`
	out, _, err := appendEmbeddingData([]byte("prefix:"), []byte(src), vectorOptions{Inputs: 1})
	require.NoError(t, err)
	require.Equal(t, `prefix:{"object":"embedding","index":0,"embedding":[-0.0069292835,1E-7,0.12345678901234567]}`, string(out))
}

// TestVectorBase64Exact checks base64 output bit for bit against float32
// values computed independently, including awkward ones.
func TestVectorBase64Exact(t *testing.T) {
	vals := []float32{0, -0.0, 1, -1, math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32, 0.1, 1.0 / 3, 123456.789}
	var src strings.Builder
	var want []byte
	src.WriteByte('[')
	for i, v := range vals {
		if i > 0 {
			src.WriteByte(',')
		}
		src.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
		want = binary.LittleEndian.AppendUint32(want, math.Float32bits(v))
	}
	src.WriteByte(']')
	out, _, err := appendEmbeddingData(nil, []byte(src.String()), vectorOptions{Inputs: 1, Encoding: encodeBase64})
	require.NoError(t, err)
	wantOut := `{"object":"embedding","index":0,"embedding":"` + base64.StdEncoding.EncodeToString(want) + `"}`
	require.Equal(t, wantOut, string(out))
	got := decodeData(t, out, encodeBase64)
	for i, v := range vals {
		require.Equal(t, math.Float32bits(v), math.Float32bits(got[0][i]), "value %d", i)
	}
}

// sameVectors compares vectors bit for bit, or, for pooled ones, within 1
// float32 ulp: pooling sums values read within 2 float64 ulps (approxFloat),
// which can move a mean that sits on a float32 rounding midpoint.
func sameVectors(got, want [][]float32, pooled bool) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return false
		}
		for k := range got[i] {
			g, w := got[i][k], want[i][k]
			if math.Float32bits(g) == math.Float32bits(w) || (g == 0 && w == 0) {
				continue
			}
			if !pooled || (math.Nextafter32(w, g) != g) {
				return false
			}
		}
	}
	return true
}

func FuzzVectorScan(f *testing.F) {
	for _, seed := range []string{
		`[0.5,-1.25]`, `[[1,2],[3,4]]`, `[[[1,2],[3,4]]]`, `[[[[1,0],[0,1]]],[[[2,2]]]]`,
		`[[1,2],[3]]`, `[1e39]`, `[[1,null]]`, `[]`, `[[[[[1]]]]]`, `[-0.0e-0]`, ` [ 1 ] `, `[1,]`, `[[1],[2]`,
	} {
		for inputs := 1; inputs <= 2; inputs++ {
			f.Add([]byte(seed), uint8(inputs), false, false)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte, inputs uint8, b64, normalize bool) {
		opt := vectorOptions{Inputs: int(inputs%4) + 1, Normalize: normalize}
		if b64 {
			opt.Encoding = encodeBase64
		}
		out, res, err := appendEmbeddingData(nil, src, opt)
		want, tokens, refErr := refVectors(src, opt)
		if err != nil {
			var ve *vectorError
			if !errors.As(err, &ve) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if refErr == nil {
				t.Fatalf("scanner refused what the oracle accepts: %v\ninput: %q", err, src)
			}
			return
		}
		if refErr != nil {
			t.Fatalf("scanner accepted what the oracle refuses (%v)\ninput: %q", refErr, src)
		}
		if res.Tokens != tokens || res.Vectors != opt.Inputs {
			t.Fatalf("result %+v, oracle tokens %d inputs %d", res, tokens, opt.Inputs)
		}
		got := decodeData(t, out, opt.Encoding)
		if !sameVectors(got, want, res.Pooled) {
			t.Fatalf("vectors differ\n got %v\nwant %v\ninput %q", got, want, src)
		}
	})
}

// checkFastFloat compares fastFloat and fastFloat32 with ParseFloat on one
// literal that has JSON number syntax, bit for bit.
func checkFastFloat(t *testing.T, lit string) {
	t.Helper()
	want, err := strconv.ParseFloat(lit, 64)
	if got, ok := fastFloat([]byte(lit)); ok {
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("fastFloat(%q) = %v, ParseFloat = %v (%v)", lit, got, want, err)
		}
	}
	if got, ok := approxFloat([]byte(lit)); ok {
		a := math.Abs(want)
		if ulp := math.Nextafter(a, math.Inf(1)) - a; err != nil || math.Abs(got-want) > 2*ulp {
			t.Fatalf("approxFloat(%q) = %v, ParseFloat = %v (%v): more than 2 ulps apart", lit, got, want, err)
		}
	}
	if got, ok := fastFloat32([]byte(lit)); ok {
		if err != nil || math.Float32bits(got) != math.Float32bits(float32(want)) {
			t.Fatalf("fastFloat32(%q) = %v, float32(ParseFloat) = %v (%v)", lit, got, float32(want), err)
		}
	}
}

// TestFastFloat32Coverage checks that the fast path does hold for the
// literals it exists for, so that it is not silently always falling back.
func TestFastFloat32Coverage(t *testing.T) {
	x, hits, n := uint32(7), 0, 0
	for i := 0; i < 10000; i++ {
		x = x*1664525 + 1013904223
		v := float32(int32(x>>8)-1<<23) / (1 << 23) * 0.1
		if v == 0 {
			continue
		}
		n++
		if _, ok := fastFloat32(strconv.AppendFloat(nil, float64(v), 'g', -1, 64)); ok {
			hits++
		}
	}
	require.Greater(t, hits, n*99/100, "fast path taken %d times of %d", hits, n)
}

func TestFastFloatExact(t *testing.T) {
	for _, lit := range []string{"0", "-0", "0.0", "1", "-1", "0.1", "123456789012345", "1234567890123456",
		"0.012345679", "-3.4028235e+38", "1e22", "1e23", "1e-22", "1e-23", "9.99999999999999e22", "0.000000000000000000001",
		"0e999", "100", "1.5E-7", "12.5e+3"} {
		checkFastFloat(t, lit)
	}
	// Float32 values printed the way TEI (shortest float32) and Python
	// (shortest float64 of the widened value) print them.
	x := uint32(1)
	for i := 0; i < 200000; i++ {
		x = x*1664525 + 1013904223
		v := math.Float32frombits(x)
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			continue
		}
		checkFastFloat(t, strconv.FormatFloat(float64(v), 'g', -1, 32))
		checkFastFloat(t, strconv.FormatFloat(float64(v), 'g', -1, 64))
		checkFastFloat(t, strconv.FormatFloat(float64(v)*1e-3, 'f', -1, 64))
		checkFastFloat(t, strconv.FormatFloat(float64(v), 'e', 18, 64))
		// Midpoints between float32 neighbours, the fast path's hard case.
		mid := (float64(v) + float64(math.Nextafter32(v, float32(math.Inf(1))))) / 2
		checkFastFloat(t, strconv.FormatFloat(mid, 'g', -1, 64))
		checkFastFloat(t, strconv.FormatFloat(mid, 'g', 17, 64))
		checkFastFloat(t, strconv.FormatFloat(mid, 'g', 19, 64))
	}
}

func FuzzFastFloat(f *testing.F) {
	for _, s := range []string{"0.1", "-1e22", "123456789012345e-22", "1.0", "0.000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		s := vecScan{src: []byte(lit)}
		got, _, err := s.number(valueNone)
		if err != nil || s.pos != len(lit) || len(got) == 0 {
			return // not a JSON number: fastFloat is never called on it
		}
		checkFastFloat(t, string(got))
	})
}
