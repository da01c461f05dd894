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

// number scans one JSON number and returns its literal and, when needValue
// is set or the literal could be out of range, its value. Values must fit a
// float32, since that is what embeddings are and what base64 output carries.
func (s *vecScan) number(needValue bool) ([]byte, float64, error) {
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
	if !needValue && !hasExp && intDigits <= 38 {
		return lit, 0, nil
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
		lit, v, err := s.number(b64)
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
		_, v, err := s.number(true)
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
