package translate

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// This file converts a Hugging Face feature-extraction answer (a bare JSON
// array of numbers, 1 to 4 levels deep) into the "data" entries of an OpenAI
// embeddings list. Answers are large (256 inputs × 1024 dimensions is about
// 5 MB of JSON), so the conversion is one pass over the bytes with a small
// hand-written scanner: no decoding into []interface{}, no intermediate
// [][]float64, numbers go straight from the upstream bytes into the output
// buffer. The shape is validated while scanning; any problem is an error and
// the partly written output is discarded by the caller, so a client never
// gets a partial answer.

// vectorEncoding is the client's encoding_format.
type vectorEncoding uint8

const (
	// encodeFloat writes JSON number arrays.
	encodeFloat vectorEncoding = iota
	// encodeBase64 writes the little-endian float32 bytes of each vector in
	// standard base64, as OpenAI does for encoding_format=base64.
	encodeBase64
)

// vectorOptions says what the answer must look like and how to write it.
type vectorOptions struct {
	Encoding vectorEncoding
	// Inputs is the number of inputs sent: the answer must hold exactly as
	// many vectors.
	Inputs int
	// Dimensions, when > 0, is the vector length the client asked for.
	Dimensions int
	// Normalize L2-normalises vectors this conversion pools itself (the
	// upstream normalises the ones it pools).
	Normalize bool
}

// vectorResult describes a converted answer.
type vectorResult struct {
	Vectors int
	Dims    int
	// Tokens is the number of token vectors seen in a token-level (3-D or
	// 4-D) answer: the upstream tokenizer's real count, special tokens
	// included. It is 0 for pooled (1-D, 2-D) answers.
	Tokens int
	Pooled bool
}

// maxVectorDepth is the deepest answer accepted: N×1×T×H from the
// hf-inference pipeline for a list input to a model without pooling.
const maxVectorDepth = 4

// vectorError is a malformed upstream answer. It never reaches the client
// as is: the capability turns it into a 502 that quotes Msg.
type vectorError struct {
	Offset int
	Msg    string
}

func (e *vectorError) Error() string {
	return fmt.Sprintf("%s (at byte %d)", e.Msg, e.Offset)
}

// vecScan holds the scanner's position and the output being built.
type vecScan struct {
	src []byte
	pos int
	opt vectorOptions
	dst []byte

	dims   int // vector length, fixed by the first vector or token vector
	count  int // vectors written
	tokens int // token vectors pooled
	// f32 is the scratch for one vector's float32 bytes (base64 output).
	f32 []byte
	// sum accumulates one input's token vectors (mean pooling).
	sum []float64
}

// appendEmbeddingData scans src, a feature-extraction answer, and appends to
// dst the comma-separated OpenAI embedding objects
// {"object":"embedding","index":i,"embedding":...} for it.
//
// The outer level is always the inputs, except for a 1-D answer, which is
// the single input's vector:
//
//	1-D  [h]          one input, already pooled
//	2-D  [n][h]       one pooled vector per input
//	3-D  [n][t][h]    token vectors per input (1×T×H for one input, or
//	                  TEI /embed_all's N×T×H), mean-pooled here
//	4-D  [n][1][t][h] the pipeline's per-input 1×T×H, mean-pooled here
func appendEmbeddingData(dst, src []byte, opt vectorOptions) ([]byte, vectorResult, error) {
	s := vecScan{src: src, opt: opt, dst: dst}
	err := s.run()
	res := vectorResult{Vectors: s.count, Dims: s.dims, Tokens: s.tokens, Pooled: s.tokens > 0}
	return s.dst, res, err
}

func (s *vecScan) fail(format string, args ...any) error {
	return &vectorError{Offset: s.pos, Msg: fmt.Sprintf(format, args...)}
}

func (s *vecScan) run() error {
	depth, err := s.peekDepth()
	if err != nil {
		return err
	}
	switch depth {
	case 1:
		err = s.vector()
	default:
		err = s.inputs(depth)
	}
	if err != nil {
		return err
	}
	s.ws()
	if s.pos != len(s.src) {
		return s.fail("unexpected data after the array")
	}
	if s.count != s.opt.Inputs {
		return s.fail("the answer has %d vectors for %d inputs", s.count, s.opt.Inputs)
	}
	return nil
}

// ws skips JSON whitespace.
func (s *vecScan) ws() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peekDepth counts the opening brackets before the first number, without
// consuming them. Every later element is checked against this depth as it is
// scanned, so a ragged answer fails where it stops matching.
func (s *vecScan) peekDepth() (int, error) {
	s.ws()
	start := s.pos
	depth := 0
	for {
		s.ws()
		if s.pos >= len(s.src) {
			return 0, s.fail("the answer ends before its first number")
		}
		c := s.src[s.pos]
		if c != '[' {
			break
		}
		depth++
		s.pos++
	}
	c := s.src[s.pos]
	switch {
	case depth == 0:
		return 0, s.fail("expected a JSON array of numbers")
	case depth > maxVectorDepth:
		return 0, s.fail("the array is nested %d levels deep; at most %d are understood", depth, maxVectorDepth)
	case c == ']':
		return 0, s.fail("empty array")
	case c != '-' && (c < '0' || c > '9'):
		return 0, s.fail("non-numeric value in the array")
	}
	s.pos = start
	return depth, nil
}

// expect consumes c (after whitespace) or fails with what it found.
func (s *vecScan) expect(c byte, what string) error {
	s.ws()
	if s.pos >= len(s.src) {
		return s.fail("the answer ends where %s was expected", what)
	}
	if s.src[s.pos] != c {
		return s.unexpected(what)
	}
	s.pos++
	return nil
}

// unexpected names the kind of value found where something else was due:
// the difference between a ragged array and a non-numeric one matters to
// whoever debugs the upstream.
func (s *vecScan) unexpected(what string) error {
	switch c := s.src[s.pos]; {
	case c == '[':
		return s.fail("ragged array: found a nested array where %s was expected", what)
	case c == '-' || (c >= '0' && c <= '9'):
		return s.fail("ragged array: found a number where %s was expected", what)
	case c == ']':
		return s.fail("empty array or trailing comma where %s was expected", what)
	case c == ',':
		return s.fail("malformed array: found ',' where %s was expected", what)
	default:
		return s.fail("non-numeric value where %s was expected", what)
	}
}

// next consumes a ',' or the closing ']' of a list and reports whether the
// list goes on.
func (s *vecScan) next() (more bool, err error) {
	s.ws()
	if s.pos >= len(s.src) {
		return false, s.fail("the answer ends inside an array")
	}
	switch s.src[s.pos] {
	case ',':
		s.pos++
		return true, nil
	case ']':
		s.pos++
		return false, nil
	default:
		return false, s.unexpected("',' or ']'")
	}
}

// inputs scans the outer list of a 2-D, 3-D or 4-D answer.
func (s *vecScan) inputs(depth int) error {
	if err := s.expect('[', "the list of inputs"); err != nil {
		return err
	}
	for {
		if s.count == s.opt.Inputs {
			return s.fail("the answer has more than %d vectors for %d inputs", s.count, s.opt.Inputs)
		}
		var err error
		switch depth {
		case 2:
			err = s.vector()
		case 3:
			err = s.pool()
		default:
			err = s.pool4()
		}
		if err != nil {
			return err
		}
		more, err := s.next()
		if err != nil || !more {
			return err
		}
	}
}

// valueKind says what number must compute besides the literal.
type valueKind uint8

const (
	// valueNone: only the literal (float output copies it).
	valueNone valueKind = iota
	// valueFloat32: float32(the float64 value), for base64 output.
	valueFloat32
	// valueFloat64: the float64 value, for pooling sums, within 2 ulps:
	// a sum of hundreds of token values rounds far more than that, and the
	// mean is written as a float32.
	valueFloat64
)

// number scans one JSON number and returns its literal and, unless need is
// valueNone and the literal is surely in range, its value. Values must fit a
// float32, since that is what embeddings are and what base64 output carries.
func (s *vecScan) number(need valueKind) ([]byte, float64, error) {
	s.ws()
	start := s.pos
	src := s.src
	i := s.pos
	if i < len(src) && src[i] == '-' {
		i++
	}
	switch {
	case i >= len(src):
		return nil, 0, s.fail("the answer ends where a number was expected")
	case src[i] == '0':
		i++
	case src[i] >= '1' && src[i] <= '9':
		for i < len(src) && src[i] >= '0' && src[i] <= '9' {
			i++
		}
	default:
		if i == start {
			return nil, 0, s.unexpected("a number")
		}
		s.pos = i
		return nil, 0, s.fail("malformed number")
	}
	intDigits := i - start
	if i < len(src) && src[i] == '.' {
		i++
		j := i
		for i < len(src) && src[i] >= '0' && src[i] <= '9' {
			i++
		}
		if i == j {
			s.pos = i
			return nil, 0, s.fail("malformed number")
		}
	}
	hasExp := false
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		hasExp = true
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		j := i
		for i < len(src) && src[i] >= '0' && src[i] <= '9' {
			i++
		}
		if i == j {
			s.pos = i
			return nil, 0, s.fail("malformed number")
		}
	}
	lit := src[start:i]
	s.pos = i
	// A literal without exponent and with at most 38 integer digits (sign
	// included) is below float32's 3.4e38: the float output copies such
	// literals without parsing them, which is most of its speed.
	switch {
	case need == valueNone && !hasExp && intDigits <= 38:
		return lit, 0, nil
	case need == valueFloat32:
		if f, ok := fastFloat32(lit); ok {
			return lit, float64(f), nil
		}
	default:
		if v, ok := approxFloat(lit); ok {
			return lit, v, nil
		}
	}
	// The grammar is JSON's, checked above, so ParseFloat cannot meet a
	// syntax it accepts and JSON does not (hex, "inf", underscores).
	v, err := strconv.ParseFloat(string(lit), 64)
	// float32(v) rounds to nearest, so the shortest float32 literal of
	// MaxFloat32 (3.4028235e+38, a little above it) is still in range.
	if err != nil || math.IsInf(float64(float32(v)), 0) {
		s.pos = start
		return nil, 0, s.fail("number %s is out of float32 range", lit)
	}
	return lit, v, nil
}

// decimal is a JSON number literal as mantissa × 10^exp10: the parts the
// fast paths below need, read in one scan of the literal.
type decimal struct {
	mant   uint64
	exp10  int
	digits int // significant digits in mant
	neg    bool
}

// parseDecimal reads a literal already checked by number. ok is false when
// it has more than 19 significant digits (mant would overflow) or an
// exponent beyond ±100 (far outside every fast path).
func parseDecimal(lit []byte) (decimal, bool) {
	var d decimal
	i := 0
	if lit[0] == '-' {
		d.neg, i = true, 1
	}
	fraction := false
	for ; i < len(lit); i++ {
		c := lit[i]
		switch {
		case c >= '0' && c <= '9':
			// Leading zeros are not significant digits.
			if d.mant != 0 || c != '0' {
				if d.digits++; d.digits > 19 {
					return d, false
				}
				d.mant = d.mant*10 + uint64(c-'0')
			}
			if fraction {
				d.exp10--
			}
		case c == '.':
			fraction = true
		default: // 'e' or 'E'
			e, err := strconv.Atoi(string(lit[i+1:]))
			if err != nil || e > 100 || e < -100 {
				return d, false
			}
			d.exp10 += e
			i = len(lit)
		}
	}
	return d, true
}

// exactPow10 are the powers of ten a float64 holds exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// scaled is float64(mant) × 10^exp10 in one operation; exp10 within ±22.
func (d decimal) scaled() float64 {
	v := float64(d.mant)
	if d.exp10 < 0 {
		return v / exactPow10[-d.exp10]
	}
	return v * exactPow10[d.exp10]
}

// fastFloat converts a literal exactly when it can: at most 15 significant
// digits (the mantissa is exact in a float64) and a decimal exponent within
// ±22 (so is the power of ten), so that one correctly rounded multiplication
// or division gives the correctly rounded result (Clinger's fast path). TEI
// prints float32 values with 9 digits at most, so its answers never need
// ParseFloat's slower general algorithm. ok is false for everything else.
func fastFloat(lit []byte) (float64, bool) {
	d, ok := parseDecimal(lit)
	if !ok {
		return 0, false
	}
	return d.fast()
}

func (d decimal) fast() (float64, bool) {
	var v float64
	switch {
	case d.mant == 0:
	case d.digits > 15 || d.exp10 < -22 || d.exp10 > 22:
		return 0, false
	default:
		v = d.scaled()
	}
	if d.neg {
		v = -v
	}
	return v, true
}

// approxFloat returns the literal's value exactly when fastFloat can, else
// within 2 ulps when the mantissa fits a uint64 and the exponent an exact
// power of ten (one rounding for float64(mantissa), one for the scaling,
// each at most 2^-53 relative).
func approxFloat(lit []byte) (float64, bool) {
	d, ok := parseDecimal(lit)
	if !ok {
		return 0, false
	}
	if v, ok := d.fast(); ok {
		return v, true
	}
	if d.exp10 < -22 || d.exp10 > 22 {
		return 0, false
	}
	v := d.scaled()
	if v > math.MaxFloat32 {
		return 0, false // the exact path decides whether it is in range
	}
	if d.neg {
		v = -v
	}
	return v, true
}

// fastFloat32 returns float32(v) for the float64 v nearest the literal,
// without computing v exactly, when that is safe. Python prints a float32
// embedding widened to float64, so hf-inference answers carry 16-17 digit
// literals that fastFloat leaves to ParseFloat; base64 output only needs
// their float32. Up to 19 digits the mantissa is an exact uint64, and
// float64(mantissa) scaled by an exact power of ten is within 2 ulps of v.
// Rounding that to float32 gives float32(v) unless v is that close to a
// float32 rounding midpoint (or to the overflow threshold): then ok is false
// and the caller takes the exact path. A widened float32 is never near a
// midpoint, so for those the fast path always holds.
func fastFloat32(lit []byte) (float32, bool) {
	d, ok := parseDecimal(lit)
	if !ok {
		return 0, false
	}
	if v, ok := d.fast(); ok {
		return float32(v), true
	}
	if d.mant == 0 || d.exp10 < -22 || d.exp10 > 22 {
		return 0, false
	}
	v := d.scaled()
	f := float32(v)
	if f == 0 || f >= math.MaxFloat32 {
		return 0, false
	}
	// The midpoints between f and its float32 neighbours are exact in a
	// float64. v is within 2 ulps (float64) of the true value, so keeping 4
	// ulps away from both midpoints leaves no doubt about the rounding.
	lo := (float64(f) + float64(math.Nextafter32(f, 0))) / 2
	hi := (float64(f) + float64(math.Nextafter32(f, math.MaxFloat32))) / 2
	ulp := math.Nextafter(v, math.Inf(1)) - v
	if v-lo <= 4*ulp || hi-v <= 4*ulp {
		return 0, false
	}
	if d.neg {
		f = -f
	}
	return f, true
}

// openEntry starts the next embedding object in the output.
func (s *vecScan) openEntry() {
	if s.count > 0 {
		s.dst = append(s.dst, ',')
	}
	s.dst = append(s.dst, `{"object":"embedding","index":`...)
	s.dst = strconv.AppendInt(s.dst, int64(s.count), 10)
	s.dst = append(s.dst, `,"embedding":`...)
}

// closeEntry checks the finished vector's length and ends the object.
func (s *vecScan) closeEntry(n int) error {
	if err := s.checkDims(n); err != nil {
		return err
	}
	s.dst = append(s.dst, '}')
	s.count++
	return nil
}

// checkDims holds every vector (and every token vector) of an answer to one
// length, and to the length the client asked for, if it asked.
func (s *vecScan) checkDims(n int) error {
	if s.dims == 0 {
		if s.opt.Dimensions > 0 && n != s.opt.Dimensions {
			return s.fail("the vectors have %d dimensions but the request asked for dimensions=%d; the model or upstream does not support shortening them", n, s.opt.Dimensions)
		}
		s.dims = n
		return nil
	}
	if n != s.dims {
		return s.fail("ragged array: a vector has %d dimensions where the first had %d", n, s.dims)
	}
	return nil
}

// vector scans one pooled vector and writes it as the next entry.
func (s *vecScan) vector() error {
	if err := s.expect('[', "a vector"); err != nil {
		return err
	}
	s.openEntry()
	b64 := s.opt.Encoding == encodeBase64
	if b64 {
		s.f32 = s.f32[:0]
	} else {
		s.dst = append(s.dst, '[')
	}
	n := 0
	for {
		need := valueNone
		if b64 {
			need = valueFloat32
		}
		lit, v, err := s.number(need)
		if err != nil {
			return err
		}
		if b64 {
			s.f32 = binary.LittleEndian.AppendUint32(s.f32, math.Float32bits(float32(v)))
		} else {
			if n > 0 {
				s.dst = append(s.dst, ',')
			}
			s.dst = append(s.dst, lit...)
		}
		n++
		more, err := s.next()
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	if b64 {
		s.dst = append(s.dst, '"')
		s.dst = base64.StdEncoding.AppendEncode(s.dst, s.f32)
		s.dst = append(s.dst, '"')
	} else {
		s.dst = append(s.dst, ']')
	}
	return s.closeEntry(n)
}

// pool4 scans one input of a 4-D answer: a batch of exactly one 1×T×H.
func (s *vecScan) pool4() error {
	if err := s.expect('[', "an input's batch of one sequence"); err != nil {
		return err
	}
	if err := s.pool(); err != nil {
		return err
	}
	s.ws()
	if s.pos < len(s.src) && s.src[s.pos] == ',' {
		return s.fail("an input of the 4-D answer holds more than one sequence")
	}
	return s.expect(']', "the end of an input's batch")
}

// pool scans one input's token vectors (T×H) and writes their mean as the
// next entry. Mean pooling over every token the upstream returned (special
// tokens included) is what sentence-transformers does for an unpadded
// sequence, and the only reduction that needs no model-specific knowledge.
func (s *vecScan) pool() error {
	if err := s.expect('[', "an input's token vectors"); err != nil {
		return err
	}
	tokens := 0
	for {
		if err := s.token(tokens == 0); err != nil {
			return err
		}
		tokens++
		more, err := s.next()
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	s.tokens += tokens
	s.writeMean(tokens)
	s.dst = append(s.dst, '}')
	s.count++
	return nil
}

// token adds one token vector to s.sum; first starts a new input's sum.
func (s *vecScan) token(first bool) error {
	if err := s.expect('[', "a token vector"); err != nil {
		return err
	}
	known := s.dims > 0
	k := 0
	for {
		_, v, err := s.number(valueFloat64)
		if err != nil {
			return err
		}
		switch {
		case !known:
			s.sum = append(s.sum, v)
		case k >= s.dims:
			return s.fail("ragged array: a token vector has more than %d dimensions", s.dims)
		case first:
			s.sum[k] = v
		default:
			s.sum[k] += v
		}
		k++
		more, err := s.next()
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	if known && k != s.dims {
		return s.fail("ragged array: a token vector has %d dimensions where the first had %d", k, s.dims)
	}
	return s.checkDims(k)
}

// writeMean writes the current input's mean vector as the next entry:
// float32 precision, as the upstream's own vectors are.
func (s *vecScan) writeMean(tokens int) {
	s.openEntry()
	sum := s.sum[:s.dims]
	scale := 1 / float64(tokens)
	if s.opt.Normalize {
		var sq float64
		for _, v := range sum {
			sq += v * v
		}
		if sq > 0 {
			// Normalising the sum is normalising the mean.
			scale = 1 / math.Sqrt(sq)
		}
	}
	if s.opt.Encoding == encodeBase64 {
		s.f32 = s.f32[:0]
		for _, v := range sum {
			s.f32 = binary.LittleEndian.AppendUint32(s.f32, math.Float32bits(float32(v*scale)))
		}
		s.dst = append(s.dst, '"')
		s.dst = base64.StdEncoding.AppendEncode(s.dst, s.f32)
		s.dst = append(s.dst, '"')
		return
	}
	s.dst = append(s.dst, '[')
	for i, v := range sum {
		if i > 0 {
			s.dst = append(s.dst, ',')
		}
		s.dst = strconv.AppendFloat(s.dst, float64(float32(v*scale)), 'g', -1, 32)
	}
	s.dst = append(s.dst, ']')
}

// embeddingOutputCap sizes the output buffer of a conversion, so that the
// common cases take one allocation: float output is at most the upstream
// literals plus each entry's wrapping; base64 takes about 5.3 bytes per
// number where a literal takes 10 to 20; pooled answers shrink by the token
// count and grow the buffer themselves if this guess is short.
func embeddingOutputCap(src []byte, opt vectorOptions) int {
	const perEntry = 64 // {"object":"embedding","index":N,"embedding":...},
	n := opt.Inputs*perEntry + 256
	depth := 0
	for _, c := range src {
		if c == '[' {
			depth++
		} else if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			break
		}
	}
	switch {
	case depth >= 3:
		return n + min(len(src), 1<<16)
	case opt.Encoding == encodeBase64:
		return n + len(src)/2
	default:
		return n + len(src)
	}
}
