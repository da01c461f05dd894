package translate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNativeOpenAIStreams: an OpenAI request on a native route (State.Mode
// ModeCompletions or ModeChat, what newer @huggingface/inference clients
// send to <endpointUrl>/v1/...) streams exactly as on its own route type:
// the same client bytes and the same usage, from the same upstream
// transcript, on the router (text-generation events translated to
// text_completion chunks) and on a TGI (OpenAI chunks passed through).
func TestNativeOpenAIStreams(t *testing.T) {
	for _, tc := range []struct {
		name, mode, route, config, upstream string
	}{
		{name: "completions on the router", mode: ModeCompletions, route: "completions", config: "router", upstream: "textgen_details.sse"},
		{name: "completions error on the router", mode: ModeCompletions, route: "completions", config: "router", upstream: "textgen_stream_error.sse"},
		{name: "completions on a tgi", mode: ModeCompletions, route: "completions", config: "tgi", upstream: "completions_tgi.sse"},
		{name: "chat on the router", mode: ModeChat, route: "chat", config: "router", upstream: "chat_tgi_usage.sse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upstream, err := os.ReadFile(filepath.Join("testdata", "stream", "upstream", tc.upstream))
			require.NoError(t, err)
			st := State{Model: "mistralai/Mistral-7B-Instruct-v0.2", StartedAt: 1722866733123, PromptTokens: 5}

			ownCfg := loadConfig(t, tc.route, rawJSON(`"`+tc.config+`"`))
			own := st
			wantClient, wantRec := relay(t, capabilityFor(t, tc.route, ownCfg).NewStream(ownCfg, &own), [][]byte{upstream}, "")

			nativeCfg := loadConfig(t, "native", rawJSON(`"`+tc.config+`"`))
			native := st
			native.Mode = tc.mode
			gotClient, gotRec := relay(t, capabilityFor(t, "native", nativeCfg).NewStream(nativeCfg, &native), [][]byte{upstream}, "")

			require.Equal(t, wantRec, gotRec)
			require.Equal(t, string(wantClient), string(gotClient))
			if tc.config == "router" && tc.route == "completions" {
				require.False(t, gotRec.Passthrough, "router text-generation events are translated, not passed through")
			}
		})
	}
}
