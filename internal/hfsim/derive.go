package hfsim

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Everything the fake upstream "generates" is a pure function of the request,
// exported here so that tests on the far side of a proxy can predict exact
// values instead of asserting loose shapes.

// ReplyPrefix starts every generated text.
const ReplyPrefix = "Echo: "

// Reply is the full generated text for a prompt: ReplyPrefix + prompt, or
// ReplyPrefix + "(empty)" when the prompt has no visible characters, so a
// reply always has at least two pieces and a stream at least two events.
func Reply(prompt string) string {
	if strings.TrimSpace(prompt) == "" {
		return ReplyPrefix + "(empty)"
	}
	return ReplyPrefix + prompt
}

// Pieces splits text into the "tokens" the simulator streams: each piece is
// a run of whitespace followed by a run of non-whitespace, so concatenating
// the pieces gives back text exactly (" The", " sum", ...), like real BPE
// tokens that carry their leading space.
func Pieces(text string) []string {
	var out []string
	start := 0
	inWord := false
	for i, r := range text {
		space := unicode.IsSpace(r)
		if inWord && space {
			out = append(out, text[start:i])
			start = i
			inWord = false
		}
		if !space {
			inWord = true
		}
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

// Truncate returns the first limit pieces of text joined, and whether the
// text was cut. limit <= 0 means no limit.
func Truncate(text string, limit int) (string, bool) {
	p := Pieces(text)
	if limit <= 0 || len(p) <= limit {
		return text, false
	}
	return strings.Join(p[:limit], ""), true
}

// Words counts whitespace-separated words; it is the simulator's tokenizer
// for prompts.
func Words(s string) int { return len(strings.Fields(s)) }

// ChatOverheadTokens is added per chat message to the prompt token count, as
// a chat template adds role markers. It makes the simulator's prompt_tokens
// differ from a plain word count, so a proxy that estimates instead of
// reading upstream usage is caught.
const ChatOverheadTokens = 3

// TokenID is the deterministic vocabulary id of a piece (0..31999).
func TokenID(piece string) int {
	h := fnv.New32a()
	h.Write([]byte(piece))
	return int(h.Sum32() % 32000)
}

// TokenLogprob is the deterministic log-probability reported for a piece.
func TokenLogprob(piece string) float32 {
	return -float32(TokenID(piece)%997) / 1000
}

// shortHash is a stable 16-hex-digit digest used for ids.
func shortHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func seedOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// Vector is the pooled embedding of text: dim float32 values in [-1, 1)
// derived from an FNV-1a seed and splitmix64, L2-normalised when normalize
// is true (the hf-inference default).
func Vector(text string, dim int, normalize bool) []float32 {
	seed := seedOf(text)
	raw := make([]float64, dim)
	var norm float64
	for j := range raw {
		u := splitmix64(seed + uint64(j))
		v := float64(u>>11)/float64(1<<53)*2 - 1
		v = float64(float32(v))
		raw[j] = v
		norm += v * v
	}
	out := make([]float32, dim)
	norm = math.Sqrt(norm)
	for j, v := range raw {
		if normalize && norm > 0 {
			v /= norm
		}
		out[j] = float32(v)
	}
	return out
}

// TokenCount is the number of token vectors a token-level model returns for
// text: one per word plus the two special tokens (<s>, </s>).
func TokenCount(text string) int { return Words(text) + 2 }

// TokenVectors is the token-level (un-pooled, never normalised) output of a
// plain transformer for text: TokenCount(text) rows of Vector(text+"#"+k).
func TokenVectors(text string, dim int) [][]float32 {
	n := TokenCount(text)
	out := make([][]float32, n)
	for k := range out {
		out[k] = Vector(text+"#"+strconv.Itoa(k), dim, false)
	}
	return out
}

// splitRunes cuts s into consecutive pieces of at most n bytes without
// splitting a UTF-8 sequence.
func splitRunes(s string, n int) []string {
	var out []string
	for len(s) > 0 {
		end := min(n, len(s))
		for end < len(s) && end > 0 && !utf8.RuneStart(s[end]) {
			end--
		}
		if end == 0 {
			_, end = utf8.DecodeRuneInString(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}
