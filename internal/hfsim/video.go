package hfsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

type formFile struct {
	field, name, contentType string
	size                     int
	sum                      string
}

type form struct {
	fields map[string]string
	files  []formFile
}

func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

// parseForm reads a multipart body, keeping field values and a digest of
// each file.
func parseForm(r *http.Request, body []byte) (form, error) {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return form{}, fmt.Errorf("content type: %w", err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	f := form{fields: map[string]string{}}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return f, nil
		}
		if err != nil {
			return form{}, fmt.Errorf("multipart: %w", err)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return form{}, fmt.Errorf("multipart part %q: %w", part.FormName(), err)
		}
		if part.FileName() != "" {
			sum := sha256.Sum256(data)
			f.files = append(f.files, formFile{field: part.FormName(), name: part.FileName(),
				contentType: part.Header.Get("Content-Type"), size: len(data), sum: fmt.Sprintf("%x", sum[:8])})
			continue
		}
		f.fields[part.FormName()] = string(data)
	}
}

// videoJob is the OpenAI "Create video" answer.
type videoJob struct {
	ID                 string  `json:"id"`
	Object             string  `json:"object"`
	Model              string  `json:"model"`
	Status             string  `json:"status"`
	Progress           int     `json:"progress"`
	CreatedAt          int64   `json:"created_at"`
	CompletedAt        *int64  `json:"completed_at"`
	ExpiresAt          *int64  `json:"expires_at"`
	Size               string  `json:"size"`
	Seconds            string  `json:"seconds"`
	Quality            string  `json:"quality"`
	Prompt             string  `json:"prompt"`
	RemixedFromVideoID *string `json:"remixed_from_video_id"`
	Error              any     `json:"error"`
}

// Video defaults, as OpenAI's create-video.
const (
	DefaultVideoModel   = "sora-2"
	DefaultVideoSeconds = "4"
	DefaultVideoSizeWxH = "720x1280"
)

// video serves POST /v1/videos with a JSON or multipart body. The answer is
// the queued job (JSON) unless X-Hfsim-Video: mp4, Accept: video/mp4, or a
// text-to-video model id ("T2V", "text-to-video") asks for raw bytes, as
// HF's text-to-video task returns; X-Hfsim-Video: json forces the job.
func (c *call) video() {
	fields := map[string]string{}
	var fileSums []string
	if isMultipart(c.r) {
		f, err := parseForm(c.r, c.body)
		if err != nil {
			writeJSONError(c.w, http.StatusBadRequest, err.Error())
			return
		}
		fields = f.fields
		for _, ff := range f.files {
			fileSums = append(fileSums, ff.field+"="+ff.sum)
		}
	} else {
		if !gjson.ValidBytes(c.body) || !gjson.ParseBytes(c.body).IsObject() {
			writeJSON(c.w, http.StatusBadRequest, errorEnvelope{Error: openAIError{Message: "We could not parse the JSON body of your request.", Type: "invalid_request_error"}})
			return
		}
		gjson.ParseBytes(c.body).ForEach(func(k, v gjson.Result) bool {
			fields[k.String()] = v.String()
			return true
		})
	}
	prompt := fields["prompt"]
	if prompt == "" {
		writeJSON(c.w, http.StatusBadRequest, errorEnvelope{Error: openAIError{
			Message: "Missing required parameter: 'prompt'.", Type: "invalid_request_error", Param: "prompt", Code: "missing_required_parameter"}})
		return
	}
	model := fields["model"]
	if model == "" {
		model = DefaultVideoModel
	}
	if c.wantsBinaryVideo(model) {
		c.videoBytes(prompt)
		return
	}
	job := videoJob{
		ID:     "video_" + shortHash(append([]string{model, prompt, fields["seconds"], fields["size"]}, fileSums...)...),
		Object: "video", Model: model, Status: "queued", CreatedAt: c.s.opts.Created,
		Size: orDefault(fields["size"], DefaultVideoSizeWxH), Seconds: orDefault(fields["seconds"], DefaultVideoSeconds),
		Quality: "standard", Prompt: prompt,
	}
	if c.fault == FaultHuge {
		c.hugeJSON(`{"id":"`+job.ID+`","object":"video","prompt":"`, `"}`)
		return
	}
	c.writeAnswer(nil, marshal(job))
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func (c *call) wantsBinaryVideo(model string) bool {
	switch strings.ToLower(c.r.Header.Get(headerVideo)) {
	case "mp4":
		return true
	case "json":
		return false
	}
	if strings.Contains(c.r.Header.Get("Accept"), "video/mp4") {
		return true
	}
	m := strings.ToLower(model)
	return strings.Contains(m, "t2v") || strings.Contains(m, "text-to-video")
}

// videoSize is Options.VideoSize, X-Hfsim-Size under fault huge, or the
// X-Hfsim-Size header.
func (c *call) videoSize() int64 {
	if v := c.r.Header.Get(headerSize); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return n
		}
	}
	if c.fault == FaultHuge {
		return c.s.opts.HugeSize
	}
	return c.s.opts.VideoSize
}

func (c *call) videoBytes(prompt string) {
	size := c.videoSize()
	h := c.w.Header()
	h.Set("Content-Type", "video/mp4")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	if c.fault == FaultStreamCut {
		c.w.WriteHeader(http.StatusOK)
		half := make([]byte, size/2)
		_, _ = io.ReadFull(VideoReader(prompt, size), half)
		c.cut(half)
		return
	}
	c.w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(c.w, VideoReader(prompt, size))
}

// VideoReader yields the size bytes of the fake video for prompt: an MP4
// "ftyp" box, then an "mdat" box whose payload is a SHA-256 counter stream
// seeded by the prompt. Generated on the fly: any size costs O(1) memory.
func VideoReader(prompt string, size int64) io.Reader {
	head := make([]byte, 0, 32)
	head = binary.BigEndian.AppendUint32(head, 24)
	head = append(head, "ftypisom"...)
	head = binary.BigEndian.AppendUint32(head, 0x200)
	head = append(head, "isommp42"...)
	head = binary.BigEndian.AppendUint32(head, uint32(min(max(size-24, 0), 1<<32-1)))
	head = append(head, "mdat"...)
	if int64(len(head)) > size {
		head = head[:size]
	}
	return io.MultiReader(bytes.NewReader(head),
		io.LimitReader(&hashStream{seed: sha256.Sum256([]byte(prompt))}, size-int64(len(head))))
}

type hashStream struct {
	seed  [32]byte
	ctr   uint64
	block [32]byte
	buf   []byte // unread tail of block
}

func (h *hashStream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(h.buf) == 0 {
			var in [40]byte
			copy(in[:], h.seed[:])
			binary.BigEndian.PutUint64(in[32:], h.ctr)
			h.ctr++
			h.block = sha256.Sum256(in[:])
			h.buf = h.block[:]
		}
		k := copy(p[n:], h.buf)
		h.buf = h.buf[k:]
		n += k
	}
	return n, nil
}
