package hfsim

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Embedding kinds: pooled models (sentence-transformers) answer one vector
// per input; token-level models (plain transformers) one vector per token.
const (
	KindPooled = "pooled"
	KindToken  = "token"
)

// EmbeddingKindFor guesses from a model id whether it is an embedding model
// and which kind, as the Hub's pipeline would: sentence-transformers and
// well-known embedding families pool; bart/bert-base/roberta-base/gpt2/t5
// checkpoints are token-level. "" means "not an embedding model".
func EmbeddingKindFor(model string) string {
	m := strings.ToLower(model)
	for _, s := range []string{"sentence-transformers", "bge-", "/bge", "e5-", "gte-", "minilm", "mpnet", "nomic-embed", "embed", "instructor"} {
		if strings.Contains(m, s) {
			return KindPooled
		}
	}
	for _, s := range []string{"bart", "bert-base", "roberta-base", "distilbert", "gpt2", "t5-"} {
		if strings.Contains(m, s) {
			return KindToken
		}
	}
	return ""
}

// embedInputs reads "inputs" (or field) as one string or a list of strings.
// On error it has answered in TEI's error shape.
func (c *call) embedInputs(field string) (texts []string, list bool, ok bool) {
	if !gjson.ValidBytes(c.body) || !gjson.ParseBytes(c.body).IsObject() {
		writeJSON(c.w, http.StatusUnprocessableEntity, tgiError{Error: "Failed to parse the request body as JSON: expected value at line 1 column 1", ErrorType: "validation"})
		return nil, false, false
	}
	in := gjson.GetBytes(c.body, field)
	switch {
	case in.Type == gjson.String:
		return []string{in.String()}, false, true
	case in.IsArray():
		for _, v := range in.Array() {
			if v.Type != gjson.String {
				writeJSON(c.w, http.StatusUnprocessableEntity, tgiError{Error: "Input validation error: `" + field + "` must be a string or a list of strings", ErrorType: "validation"})
				return nil, false, false
			}
			texts = append(texts, v.String())
		}
		if len(texts) == 0 {
			writeRaw(c.w, http.StatusBadRequest, "application/json", `{"error":"Batch is empty","error_type":"empty"}`)
			return nil, false, false
		}
		return texts, true, true
	}
	writeJSON(c.w, http.StatusUnprocessableEntity, tgiError{Error: MissingFieldMessage(c.body, field), ErrorType: "validation"})
	return nil, false, false
}

// dim is Options.EmbeddingDim, the X-Hfsim-Dim header, or a smaller
// "dimensions" from the body (TEI's Matryoshka truncation).
func (c *call) dim() int {
	d := c.s.opts.EmbeddingDim
	if v, err := strconv.Atoi(c.r.Header.Get(headerDim)); err == nil && v > 0 {
		d = v
	}
	if v := gjson.GetBytes(c.body, "dimensions"); v.Type == gjson.Number && v.Int() > 0 && int(v.Int()) < d {
		d = int(v.Int())
	}
	return d
}

func (c *call) normalize() bool {
	n := gjson.GetBytes(c.body, "normalize")
	return !n.Exists() || n.Bool()
}

// featureExtraction serves hf-inference feature-extraction. Shape: pooled
// model + string → 1-D; pooled + list → 2-D; token-level + string → 3-D
// (1×T×H); token-level + list → 4-D (N×1×T×H). X-Hfsim-Shape
// (pooled|token|1d|2d|3d|4d) overrides.
func (c *call) featureExtraction() {
	texts, list, ok := c.embedInputs("inputs")
	if !ok {
		return
	}
	shape := c.embedShape(list)
	if c.fault == FaultHuge {
		c.hugeArray()
		return
	}
	c.writeAnswer(nil, EncodeEmbeddings(texts, shape, c.dim(), c.normalize()))
}

func (c *call) embedShape(list bool) int {
	kind := EmbeddingKindFor(c.model)
	if kind == "" {
		kind = KindPooled
	}
	switch strings.ToLower(c.r.Header.Get(headerShape)) {
	case "1d":
		return 1
	case "2d":
		return 2
	case "3d":
		return 3
	case "4d":
		return 4
	case KindPooled:
		kind = KindPooled
	case KindToken:
		kind = KindToken
	}
	shape := 1
	if kind == KindToken {
		shape = 3
	}
	if list {
		shape++
	}
	return shape
}

// EncodeEmbeddings renders the feature-extraction answer for texts with the
// given number of dimensions (1..4). 1 and 2 hold pooled Vectors (only the
// first text for 1); 3 holds TokenVectors of each text (N×T×H); 4 wraps
// each text's token matrix once more (N×1×T×H). Token-level values are
// never normalised.
func EncodeEmbeddings(texts []string, dims, dim int, normalize bool) []byte {
	var b []byte
	vec := func(v []float32) {
		b = append(b, '[')
		for i, f := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloat32(b, f)
		}
		b = append(b, ']')
	}
	tokens := func(text string) {
		b = append(b, '[')
		for i, v := range TokenVectors(text, dim) {
			if i > 0 {
				b = append(b, ',')
			}
			vec(v)
		}
		b = append(b, ']')
	}
	switch dims {
	case 1:
		vec(Vector(texts[0], dim, normalize))
		return b
	}
	b = append(b, '[')
	for i, t := range texts {
		if i > 0 {
			b = append(b, ',')
		}
		switch dims {
		case 2:
			vec(Vector(t, dim, normalize))
		case 3:
			tokens(t)
		default:
			b = append(b, '[')
			tokens(t)
			b = append(b, ']')
		}
	}
	return append(b, ']')
}

// teiEmbed serves TEI /embed (always 2-D) and /embed_all (N×T×H).
func (c *call) teiEmbed(all bool) {
	texts, _, ok := c.embedInputs("inputs")
	if !ok {
		return
	}
	if c.fault == FaultHuge {
		c.hugeArray()
		return
	}
	dims := 2
	if all {
		dims = 3
	}
	c.writeAnswer(nil, EncodeEmbeddings(texts, dims, c.dim(), c.normalize()))
}

type embeddingItem struct {
	Object    string `json:"object"`
	Embedding any    `json:"embedding"`
	Index     int    `json:"index"`
}

type embeddingList struct {
	Object string          `json:"object"`
	Data   []embeddingItem `json:"data"`
	Model  string          `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

// openAIEmbeddings serves TEI's OpenAI-compatible /v1/embeddings; usage
// counts TokenCount per input.
func (c *call) openAIEmbeddings() {
	texts, _, ok := c.embedInputs("input")
	if !ok {
		return
	}
	out := embeddingList{Object: "list", Model: c.responseModel()}
	b64 := gjson.GetBytes(c.body, "encoding_format").String() == "base64"
	for i, t := range texts {
		v := Vector(t, c.dim(), true)
		var emb any = v
		if b64 {
			raw := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(raw)
		}
		out.Data = append(out.Data, embeddingItem{Object: "embedding", Embedding: emb, Index: i})
		out.Usage.PromptTokens += TokenCount(t)
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	c.writeAnswer(nil, marshal(out))
}

// hugeArray answers a valid 1-D array of exactly hugeSize() bytes (at least
// 5), streamed.
func (c *call) hugeArray() {
	size := max(c.hugeSize(), 5)
	k := (size - 5) / 4
	pad := (size - 5) % 4
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	c.w.WriteHeader(http.StatusOK)
	if _, err := c.w.Write([]byte("[" + strings.Repeat(" ", int(pad)))); err != nil {
		return
	}
	block := []byte(strings.Repeat("0.5,", 8<<10))
	for k > 0 {
		n := min(k, int64(len(block)/4))
		if _, err := c.w.Write(block[:4*n]); err != nil {
			return
		}
		k -= n
	}
	_, _ = c.w.Write([]byte("0.5]"))
}
