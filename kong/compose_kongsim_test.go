package kong_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim"
)

// composeBinary is where kong/Dockerfile installs the plugin and where
// docker-compose.yml's start and query commands run it.
const composeBinary = "/usr/local/bin/ai-proxy-hf"

// composeTestToken stands for the host's HUGGINGFACE_TOKEN.
const composeTestToken = "hf_composeTestToken"

// composeEnviron turns docker-compose.yml's kong environment into the
// process environment of the container, with only its paths moved to the
// test's: the image prefix to prefix, the installed binary to bin, the
// mounted kong.yaml to declarative. Compose's ${HUGGINGFACE_TOKEN...}
// references are interpolated with a dummy token, as compose would with
// the host's. Anything else is passed as written, so a value the stand-in
// cannot take fails the test instead of being rewritten here.
func composeEnviron(t *testing.T, env map[string]string, prefix, bin, declarative string) []string {
	t.Helper()
	out := make([]string, 0, len(env))
	for k, v := range env {
		v = composeVarRef.ReplaceAllStringFunc(v, func(ref string) string {
			m := composeVarRef.FindStringSubmatch(ref)
			if m[1] != "HUGGINGFACE_TOKEN" && m[3] != "HUGGINGFACE_TOKEN" {
				t.Fatalf("docker-compose.yml: %s refers to %s, which this test does not interpolate", k, ref)
			}
			return composeTestToken
		})
		if k == "KONG_DECLARATIVE_CONFIG" {
			v = declarative
		}
		// The image's prefix is go-pdk's default -kong-prefix, so the
		// container's start command needs no flag; the test's prefix is a
		// temp dir, so the binary must be told where it is.
		v = strings.ReplaceAll(v, composeBinary, bin+" -kong-prefix "+prefix)
		v = strings.ReplaceAll(v, goPDKDefaultPrefix, prefix)
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// TestComposeEnvironmentStartsKongsim starts the Kong stand-in with
// docker-compose.yml's environment, read from the file, and proves the
// plugin server it names starts, registers and answers on a route.
func TestComposeEnvironmentStartsKongsim(t *testing.T) {
	bin, info := requirePlugin(t)
	env := loadCompose(t).Environment
	prefix := t.TempDir()

	// The upstream records the credential Kong's env vault put in
	// {vault://env/huggingface-auth-header} (HUGGINGFACE_AUTH_HEADER).
	var (
		mu       sync.Mutex
		gotAuth  []string
		gotPaths []string
	)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		gotPaths = append(gotPaths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m/x",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	t.Cleanup(upstream.Close)

	declarative := filepath.Join(prefix, "kong.yaml")
	yaml := fmt.Sprintf(`_format_version: "3.0"
services:
- name: huggingface
  url: http://127.0.0.1:9/unused
  routes:
  - name: chat
    paths: ["/chat"]
    plugins:
    - name: %s
      config:
        route_type: llm/v1/chat
        auth:
          header_name: Authorization
          header_value: "{vault://env/huggingface-auth-header}"
        model:
          provider: huggingface
          name: m/x
          options:
            upstream_url: %s/v1/chat/completions
`, info.Name, upstream.URL)
	require.NoError(t, os.WriteFile(declarative, []byte(yaml), 0o600))

	environ := composeEnviron(t, env, prefix, bin, declarative)
	t.Logf("environment:\n%s", strings.Join(environ, "\n"))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := kongsim.Start(ctx, kongsim.Options{
		Environ:   environ,
		ProxyAddr: "127.0.0.1:0",
		AdminAddr: "127.0.0.1:0",
	})
	// The error log goes where compose sends it (KONG_PROXY_ERROR_LOG,
	// /dev/stderr), so go test shows it.
	require.NoError(t, err, "kongsim.Start with docker-compose.yml's environment")
	t.Cleanup(k.Close)

	require.NotNil(t, k.Plugin(info.Name), "plugin %s is not registered", info.Name)
	client := &http.Client{Timeout: 20 * time.Second}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := client.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	status, body := get(k.AdminURL() + "/plugins/enabled")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, gjson.Get(body, "enabled_plugins").Value(), info.Name, "GET /plugins/enabled: %s", body)

	post := func(payload string) (int, string) {
		t.Helper()
		resp, err := client.Post(k.ProxyURL()+"/chat", "application/json", strings.NewReader(payload))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	// A body the plugin refuses: its 400 shows it ran in access.
	status, body = post(`{"messages":`)
	assert.Equal(t, http.StatusBadRequest, status, body)
	assert.NotEmpty(t, gjson.Get(body, "error.message").String(), "400 body: %s", body)
	mu.Lock()
	assert.Empty(t, gotPaths, "a refused request reached the upstream")
	mu.Unlock()

	// A good one reaches the upstream with compose's credential.
	status, body = post(`{"messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "hi", gjson.Get(body, "choices.0.message.content").String(), body)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"/v1/chat/completions"}, gotPaths)
	assert.Equal(t, []string{"Bearer " + composeTestToken}, gotAuth)
}
