package translate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate/sse"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// streamCase is one upstream transcript (testdata/stream/upstream/*.sse,
// recorded from internal/hfsim or written from the shapes of the Hugging
// Face doc) run through a capability's Stream as the relay runs it. Its
// golden files are testdata/stream/<name>.golden.sse (the client's bytes)
// and <name>.golden.json (usage, errors, when the stream started).
type streamCase struct {
	name     string
	route    string // testdata/<route>/configs holds config
	config   string
	state    State
	upstream string
	// end is what the relay reports after the last byte: "" the parser's
	// Close, "timeout" a deadline, "reset" a connection reset (its URL
	// holds a secret that must not reach the client).
	end string
	// broken: the upstream itself sends an event that is not JSON, which a
	// passed-through stream hands on; the output check skips its events.
	broken bool
}

const secretInURL = "hf_secretvalue123"

// streamCases covers every translator: usage chunk present and absent,
// tool-call deltas, error events mid-stream, cuts, bad JSON, timeouts.
var streamCases = []streamCase{
	// chat (router / TGI upstream_url): passed through.
	// Kong's worked example F.3 (TGI 2.1.1: no space after data:, a
	// keep-alive comment, no usage chunk).
	{name: "chat_kong_f3", route: "chat", config: "kong_spec", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", PromptTokens: 14}, upstream: "chat_kong_f3.sse"},
	{name: "chat_tgi_usage", route: "chat", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", PromptTokens: 9}, upstream: "chat_tgi_usage.sse"},
	{name: "chat_tgi_nousage", route: "chat", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", PromptTokens: 9}, upstream: "chat_tgi_nousage.sse"},
	{name: "chat_openai_usage", route: "chat", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2"}, upstream: "chat_openai_usage.sse"},
	{name: "chat_openai_nousage", route: "chat", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", PromptTokens: 9}, upstream: "chat_openai_nousage.sse"},
	{name: "chat_tools_tgi", route: "chat", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2"}, upstream: "chat_tools_tgi.sse"},
	{name: "chat_tools_openai", route: "chat", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2"}, upstream: "chat_tools_openai.sse"},
	{name: "chat_reasoning_usage_in_last", route: "chat", config: "router", state: State{Model: "deepseek-ai/DeepSeek-R1"}, upstream: "chat_reasoning_usage_in_last.sse"},
	{name: "chat_no_done_crlf", route: "chat", config: "router", state: State{Model: "m/x", PromptTokens: 3}, upstream: "chat_no_done_crlf.sse"},
	{name: "chat_stream_error", route: "chat", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2"}, upstream: "chat_stream_error.sse"},
	{name: "chat_stream_cut", route: "chat", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2"}, upstream: "chat_stream_cut.sse", broken: true},
	{name: "chat_bad_json", route: "chat", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2"}, upstream: "chat_bad_json.sse", broken: true},
	{name: "chat_timeout", route: "chat", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2"}, upstream: "chat_stream_cut.sse", end: "timeout", broken: true},
	{name: "chat_reset", route: "chat", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2"}, upstream: "chat_no_done_crlf.sse", end: "reset"},

	// completions on the router: text-generation events translated.
	{name: "textgen_details", route: "completions", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", StartedAt: 1722866733123, PromptTokens: 5}, upstream: "textgen_details.sse"},
	{name: "textgen_include_usage", route: "completions", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", StartedAt: 1722866733123, PromptTokens: 5, IncludeUsage: true}, upstream: "textgen_details.sse"},
	{name: "textgen_length", route: "completions", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", StartedAt: 1722866733123}, upstream: "textgen_length.sse"},
	{name: "textgen_no_details", route: "completions", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", StartedAt: 1722866733123, PromptTokens: 5, IncludeUsage: true}, upstream: "textgen_no_details.sse"},
	{name: "textgen_special_final", route: "completions", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", StartedAt: 1722866733123, PromptTokens: 5, IncludeUsage: true}, upstream: "textgen_special_final.sse"},
	{name: "textgen_special_first", route: "completions", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", StartedAt: 1722866733123}, upstream: "textgen_special_first.sse"},
	{name: "textgen_stream_error", route: "completions", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", StartedAt: 1722866733123}, upstream: "textgen_stream_error.sse"},
	{name: "textgen_stream_cut", route: "completions", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", StartedAt: 1722866733123}, upstream: "textgen_stream_cut.sse"},
	{name: "textgen_bad_json", route: "completions", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", StartedAt: 1722866733123}, upstream: "textgen_bad_json.sse"},
	{name: "textgen_wrong_shape", route: "completions", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", StartedAt: 1722866733123}, upstream: "textgen_wrong_shape.sse"},
	{name: "textgen_timeout", route: "completions", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", StartedAt: 1722866733123}, upstream: "textgen_stream_cut.sse", end: "timeout"},

	// completions on a TGI/vLLM upstream_url: passed through.
	{name: "completions_tgi", route: "completions", config: "tgi", state: State{Model: "bigcode/starcoder", PromptTokens: 2}, upstream: "completions_tgi.sse"},
	{name: "completions_tgi_usage", route: "completions", config: "tgi", state: State{Model: "bigcode/starcoder"}, upstream: "completions_tgi_usage.sse"},

	// native /generate_stream: passed through, TGI's error shape.
	{name: "native_details", route: "native", config: "tgi", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", Mode: ModeGenerate}, upstream: "native_details.sse"},
	{name: "native_no_details", route: "native", config: "tgi", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", Mode: ModeGenerate, PromptTokens: 5}, upstream: "native_no_details.sse"},
	{name: "native_special_no_input_length", route: "native", config: "router", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", PromptTokens: 5}, upstream: "textgen_special_final.sse"},
	{name: "native_stream_error", route: "native", config: "tgi", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", Mode: ModeGenerate}, upstream: "native_stream_error.sse"},
	{name: "native_stream_cut", route: "native", config: "tgi", state: State{Model: "mistralai/Mistral-7B-Instruct-v0.2", Mode: ModeGenerate}, upstream: "native_stream_cut.sse", broken: true},

	// preserve: anything passes, what is known is counted.
	{name: "preserve_chat", route: "preserve", config: "router", state: State{Model: "m/x"}, upstream: "chat_openai_usage.sse"},
	{name: "preserve_tgi", route: "preserve", config: "router", state: State{Model: "m/x"}, upstream: "native_details.sse"},
	{name: "preserve_unknown", route: "preserve", config: "router", state: State{Model: "m/x"}, upstream: "preserve_unknown.sse", broken: true},
	{name: "preserve_error_event", route: "preserve", config: "router", state: State{Model: "m/x"}, upstream: "chat_stream_error.sse"},
	{name: "preserve_reset", route: "preserve", config: "router", state: State{Model: "m/x"}, upstream: "chat_stream_cut.sse", end: "reset", broken: true},
}

// streamRecord is the golden JSON of a case.
type streamRecord struct {
	Passthrough bool  `json:"passthrough"`
	Usage       Usage `json:"usage"`
	// StartedAfterEvent is the event (from 1) after which Started became
	// true; 0: never.
	StartedAfterEvent int `json:"started_after_event"`
	// EventError is the error an Event returned ("" none); EndError what
	// End was given.
	EventError string `json:"event_error,omitempty"`
	EndError   string `json:"end_error,omitempty"`
}

// endError is the error the relay would pass to End after the last byte.
func endError(kind string, closeErr error) error {
	switch kind {
	case "timeout":
		return context.DeadlineExceeded
	case "reset":
		return &url.Error{Op: "Post", URL: "https://router.huggingface.co/v1/chat/completions?api_key=" + secretInURL, Err: syscall.ECONNRESET}
	}
	return closeErr
}

// relay runs a Stream over the upstream bytes cut into chunks, the way
// the relay does: a passed-through chunk goes to the client as it came,
// then its events are parsed; the first error ends the stream.
func relay(t testing.TB, s Stream, chunks [][]byte, end string) ([]byte, streamRecord) {
	p := sse.NewParser(0)
	var client []byte
	rec := streamRecord{Passthrough: s.Passthrough()}
	n := 0
	var failed error
	emit := func(ev sse.Event) error {
		n++
		var dst []byte
		if !rec.Passthrough {
			dst = client
		}
		out, err := s.Event(dst, ev)
		if !rec.Passthrough {
			client = out
		} else if len(out) != 0 {
			t.Fatalf("a passthrough stream wrote %q", out)
		}
		if rec.StartedAfterEvent == 0 && s.Started() {
			rec.StartedAfterEvent = n
		}
		if err != nil {
			rec.EventError = err.Error()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Event error is not an *Error: %v", err)
			}
		}
		return err
	}
	for _, c := range chunks {
		if rec.Passthrough {
			client = append(client, c...)
		}
		if err := p.Feed(c, emit); err != nil {
			failed = err
			break
		}
	}
	if failed == nil {
		failed = endError(end, p.Close())
	}
	if failed != nil {
		rec.EndError = failed.Error()
	}
	client = s.End(client, failed)
	rec.Usage = s.Usage()
	return client, rec
}

func capabilityFor(t testing.TB, route string, cfg *schema.Config) Streamer {
	t.Helper()
	capab, err := For(cfg)
	require.NoError(t, err)
	st, ok := capab.(Streamer)
	require.True(t, ok, "%s does not stream", route)
	return st
}

func TestStreamGolden(t *testing.T) {
	for _, tc := range streamCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadConfig(t, tc.route, rawJSON(`"`+tc.config+`"`))
			streamer := capabilityFor(t, tc.route, cfg)
			upstream, err := os.ReadFile(filepath.Join("testdata", "stream", "upstream", tc.upstream))
			require.NoError(t, err)
			newStream := func() Stream { st := tc.state; return streamer.NewStream(cfg, &st) }

			client, rec := relay(t, newStream(), [][]byte{upstream}, tc.end)
			compareGolden(t, filepath.Join("testdata", "stream", tc.name+".json"), rec)
			goldenSSE := filepath.Join("testdata", "stream", tc.name+".golden.sse")
			if *update {
				require.NoError(t, os.WriteFile(goldenSSE, client, 0o644))
			}
			want, err := os.ReadFile(goldenSSE)
			require.NoError(t, err, "missing golden file; run go test -run StreamGolden -update and review it")
			require.Equal(t, string(want), string(client))

			checkClientStream(t, tc, upstream, client, rec)
			require.NotContains(t, string(client), secretInURL)

			// Wherever the network splits the upstream, the client gets the
			// same (a passed-through stream that fails gets the bytes up to
			// the failing chunk, so only its record is compared).
			for i := 0; i <= len(upstream); i++ {
				got, gotRec := relay(t, newStream(), [][]byte{upstream[:i], upstream[i:]}, tc.end)
				require.Equal(t, rec, gotRec, "split at %d", i)
				if !rec.Passthrough || rec.EventError == "" {
					require.Equal(t, string(client), string(got), "split at %d", i)
				}
			}
		})
	}
}

// rawJSON is a test's raw JSON literal.
func rawJSON(s string) []byte { return []byte(s) }

// checkClientStream checks what any client of the route can rely on: the
// stream parses without truncation, every event's data is JSON (or
// [DONE] for OpenAI formats), and it ends with [DONE] when clean (OpenAI
// formats, no [DONE] for native) or with one error event in the client's
// shape, after which nothing comes.
func checkClientStream(t *testing.T, tc streamCase, upstream, client []byte, rec streamRecord) {
	t.Helper()
	var datas []string
	p := sse.NewParser(0)
	require.NoError(t, p.Feed(client, func(ev sse.Event) error {
		datas = append(datas, string(ev.Data))
		return nil
	}))
	require.NoError(t, p.Close(), "the client stream must end on an event boundary")
	require.NotEmpty(t, datas)
	native := tc.route == "native"
	if !tc.broken {
		for _, d := range datas {
			if d == "[DONE]" && !native {
				continue
			}
			require.True(t, gjson.Valid(d), "event data is not JSON: %q", d)
		}
	}
	last := datas[len(datas)-1]
	failed := rec.EndError != ""
	switch {
	case failed && native:
		require.Equal(t, gjson.String, gjson.Get(last, "error").Type, last)
		require.NotEmpty(t, gjson.Get(last, "error_type").Str, last)
	case failed:
		require.Equal(t, "server_error", gjson.Get(last, "error.type").Str, last)
		require.NotEmpty(t, gjson.Get(last, "error.message").Str, last)
		require.NotEmpty(t, gjson.Get(last, "error.code").Str, last)
	case native || tc.route == "preserve":
		require.Equal(t, string(upstream), string(client), "%s streams end as the upstream ends them", tc.route)
	default:
		require.Equal(t, "[DONE]", last)
		require.Equal(t, 1, strings.Count(string(client), "[DONE]"), "one [DONE]")
	}
	if failed && !bytes.Contains(upstream, []byte("[DONE]")) {
		require.NotContains(t, string(client), "[DONE]", "a failed stream gets no [DONE] of the plugin's")
	}
}

// TestStreamUsage checks the figures the analytics take from each kind of
// stream against the upstream transcripts' own numbers.
func TestStreamUsage(t *testing.T) {
	cases := []struct {
		name  string
		usage Usage
	}{
		// The usage chunk {"prompt_tokens":8,"completion_tokens":6,"total_tokens":14}.
		{"chat_tgi_usage", Usage{PromptTokens: 8, CompletionTokens: 6, TotalTokens: 14, ResponseModel: "mistralai/Mistral-7B-Instruct-v0.2"}},
		// No usage chunk: "Echo: What is 1 + 1?" is 20 bytes → 5, prompt from State.
		{"chat_tgi_nousage", Usage{PromptTokens: 9, CompletionTokens: 5, TotalTokens: 14, Estimated: true, ResponseModel: "mistralai/Mistral-7B-Instruct-v0.2"}},
		// details.generated_tokens 4 and input_length 3: the upstream's own.
		{"textgen_details", Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}},
		// No details: four token events counted, prompt estimated.
		{"textgen_no_details", Usage{PromptTokens: 5, CompletionTokens: 4, TotalTokens: 9, Estimated: true}},
		// generated_tokens 3 but no input_length: prompt estimated.
		{"native_special_no_input_length", Usage{PromptTokens: 5, CompletionTokens: 3, TotalTokens: 8, Estimated: true}},
	}
	byName := map[string]streamCase{}
	for _, c := range streamCases {
		byName[c.name] = c
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := byName[c.name]
			cfg := loadConfig(t, tc.route, rawJSON(`"`+tc.config+`"`))
			upstream, err := os.ReadFile(filepath.Join("testdata", "stream", "upstream", tc.upstream))
			require.NoError(t, err)
			st := tc.state
			_, rec := relay(t, capabilityFor(t, tc.route, cfg).NewStream(cfg, &st), [][]byte{upstream}, "")
			require.Equal(t, c.usage, rec.Usage)
		})
	}
}

func TestTextgenChunks(t *testing.T) {
	cfg := loadConfig(t, "completions", rawJSON(`"router"`))
	st := State{Model: "org/m", StartedAt: 1722866733999}
	s := (Completions{}).NewStream(cfg, &st)
	require.False(t, s.Passthrough())
	var out []byte
	feed := func(data string) error {
		var err error
		out, err = s.Event(out, sse.Event{Data: []byte(data)})
		return err
	}
	require.NoError(t, feed(`{"index":1,"token":{"id":1,"text":"A","logprob":-1,"special":false},"generated_text":null,"details":null}`))
	require.True(t, s.Started())
	require.NoError(t, feed(`{"index":2,"token":{"id":2,"text":"</s>","logprob":-1,"special":true},"generated_text":"A","details":{"finish_reason":"length","generated_tokens":2}}`))
	out = s.End(out, nil)

	var chunks []gjson.Result
	p := sse.NewParser(0)
	require.NoError(t, p.Feed(out, func(ev sse.Event) error {
		if string(ev.Data) != "[DONE]" {
			chunks = append(chunks, gjson.ParseBytes(bytes.Clone(ev.Data)))
		}
		return nil
	}))
	require.Len(t, chunks, 2)
	for _, c := range chunks {
		require.Equal(t, "text_completion", c.Get("object").Str)
		require.Equal(t, "org/m", c.Get("model").Str)
		require.Equal(t, int64(1722866733), c.Get("created").Int())
		require.True(t, strings.HasPrefix(c.Get("id").Str, "cmpl-"))
		require.Equal(t, chunks[0].Get("id").Str, c.Get("id").Str, "one id per stream")
	}
	require.Equal(t, "A", chunks[0].Get("choices.0.text").Str)
	require.Equal(t, gjson.Null, chunks[0].Get("choices.0.finish_reason").Type)
	require.Equal(t, "", chunks[1].Get("choices.0.text").Str, "special token text is not sent")
	require.Equal(t, "length", chunks[1].Get("choices.0.finish_reason").Str)
	require.True(t, strings.HasSuffix(string(out), "data: [DONE]\n\n"))
}

// TestStreamEndMessages: each cause has its own text; an *Error adds its
// message; other errors add nothing (a URL may hold a credential).
func TestStreamEndMessages(t *testing.T) {
	cases := []struct {
		err       error
		msg, code string
	}{
		{sse.ErrTruncated, msgStreamTruncated, "upstream_stream_truncated"},
		{sse.ErrEventTooLarge, msgStreamTooLarge, "upstream_event_too_large"},
		{context.DeadlineExceeded, msgStreamTimeout, "upstream_timeout"},
		{&url.Error{Op: "Get", URL: "http://x/?key=" + secretInURL, Err: context.DeadlineExceeded}, msgStreamTimeout, "upstream_timeout"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, msgStreamTimeout, "upstream_timeout"},
		{fmt.Errorf("idle for 30s: %w", context.DeadlineExceeded), msgStreamTimeout, "upstream_timeout"},
		{context.Canceled, msgStreamCanceled, "stream_cancelled"},
		{&url.Error{Op: "Post", URL: "http://x/?key=" + secretInURL, Err: syscall.ECONNRESET}, msgStreamFailed, "upstream_stream_failed"},
		{badGateway("the shape is wrong"), msgStreamBadEvent + ": the shape is wrong", "bad_upstream_response"},
		{&Error{Status: 502, Message: "the upstream closed the connection", Err: errors.New("read tcp: " + secretInURL)}, msgStreamFailed + ": the upstream closed the connection", "upstream_stream_failed"},
		{eventError(`{"error":"Model is overloaded","error_type":"overloaded"}`), msgStreamUpstream + ": Model is overloaded", "overloaded"},
		{eventError(`{"error":{"message":"boom"}}`), msgStreamUpstream + ": boom", codeUpstreamEvent},
	}
	for _, c := range cases {
		t.Run(c.msg, func(t *testing.T) {
			out := appendOpenAIError(nil, c.err)
			require.True(t, strings.HasPrefix(string(out), "data: {") && strings.HasSuffix(string(out), "}\n\n"), string(out))
			data := strings.TrimSuffix(strings.TrimPrefix(string(out), "data: "), "\n\n")
			require.Equal(t, c.msg, gjson.Get(data, "error.message").Str)
			require.Equal(t, "server_error", gjson.Get(data, "error.type").Str)
			require.Equal(t, c.code, gjson.Get(data, "error.code").Str)
			require.NotContains(t, string(out), secretInURL)
		})
	}
}

// TestStreamersRegistered: every route that can stream has a Streamer.
func TestStreamersRegistered(t *testing.T) {
	for route, cfgName := range map[string]string{"chat": "router", "completions": "tgi", "native": "tgi", "preserve": "router"} {
		cfg := loadConfig(t, route, rawJSON(`"`+cfgName+`"`))
		capabilityFor(t, route, cfg)
	}
}
