package kong_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The real-Kong end-to-end run cannot run here (no Docker): these tests
// check its shape, and that its parts agree with each other and with the
// suite's external mode (e2e/external_test.go).

type e2eComposeFile struct {
	Services map[string]struct {
		Build struct {
			Context    string            `yaml:"context"`
			Dockerfile string            `yaml:"dockerfile"`
			Args       map[string]string `yaml:"args"`
		} `yaml:"build"`
		NetworkMode string            `yaml:"network_mode"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn []string `yaml:"depends_on"`
	} `yaml:"services"`
}

// composeDefault reads ${NAME:-default} (or the plain value).
func composeDefault(t *testing.T, v, name string) string {
	t.Helper()
	m := regexp.MustCompile(`^\$\{` + name + `:-([^}]*)\}$`).FindStringSubmatch(v)
	require.NotNil(t, m, "%q should be ${%s:-default}", v, name)
	return m[1]
}

// shellAssign finds NAME=value in a shell script.
func shellAssign(t *testing.T, script []byte, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `=(\S+)$`).FindSubmatch(script)
	require.NotNil(t, m, "no %s= line", name)
	return string(m[1])
}

// suiteToken is e2e/rig_test.go's hfToken: the token the suite's configs
// send to the router, so the one the router's hfsim must demand.
func suiteToken(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`hfToken\s*=\s*"([^"]+)"`).FindSubmatch(readFile(t, "e2e/rig_test.go"))
	require.NotNil(t, m, "e2e/rig_test.go has no hfToken")
	return string(m[1])
}

func TestComposeE2EShape(t *testing.T) {
	var c e2eComposeFile
	require.NoError(t, yaml.Unmarshal(readFile(t, "kong/compose.e2e.yml"), &c))
	kong, hf := c.Services["kong"], c.Services["hfsim"]
	require.NotEmpty(t, kong.Build.Dockerfile, "service kong")
	require.NotEmpty(t, hf.Build.Dockerfile, "service hfsim")
	script := readFile(t, "kong/e2e-docker.sh")

	// Kong: kong/Dockerfile on KONG_IMAGE, kong:3.9 by default.
	assert.Equal(t, "..", kong.Build.Context, "the build context is the repository root")
	assert.Equal(t, "kong/Dockerfile", kong.Build.Dockerfile)
	assert.Equal(t, "kong:3.9", composeDefault(t, kong.Build.Args["KONG_IMAGE"], "KONG_IMAGE"))
	df := string(readFile(t, "kong/Dockerfile"))
	assert.Regexp(t, `(?m)^ARG KONG_IMAGE=kong:3\.9$`, df)
	assert.Regexp(t, `(?m)^FROM \$\{KONG_IMAGE\}$`, df, "the Kong stage is the build argument")

	// hfsim: its own image built from cmd/hfsim, with the suite's token.
	assert.Equal(t, "..", hf.Build.Context)
	hfDockerfile := string(readFile(t, hf.Build.Dockerfile))
	assert.Contains(t, hfDockerfile, "go build")
	assert.Contains(t, hfDockerfile, "./cmd/hfsim")
	require.Len(t, hf.Command, 4)
	assert.Equal(t, []string{"-listen", "-token"}, []string{hf.Command[0], hf.Command[2]})
	assert.Equal(t, suiteToken(t), hf.Command[3], "hfsim demands the token the suite's configs send")
	hfAddr := hf.Command[1]
	assert.Equal(t, hfAddr, shellAssign(t, script, "HF"))
	assert.Contains(t, kong.DependsOn, "hfsim")

	// One network: Kong reaches hfsim and the suite's own upstreams on
	// 127.0.0.1, and its ports are the host's.
	assert.Equal(t, "host", kong.NetworkMode)
	assert.Equal(t, "host", hf.NetworkMode)
	env := kong.Environment
	assert.Equal(t, "off", env["KONG_DATABASE"])
	assert.Equal(t, shellAssign(t, script, "PROXY"), env["KONG_PROXY_LISTEN"], "the script probes the proxy Kong listens on")
	assert.Equal(t, shellAssign(t, script, "ADMIN"), env["KONG_ADMIN_LISTEN"])
	assert.Equal(t, "1", env["KONG_NGINX_WORKER_PROCESSES"], "one worker: one router rebuilt per POST /config")
	assert.Equal(t, "http://"+hfAddr, env["AI_PROXY_HF_ROUTER_URL"], "the plugin's router is hfsim")
	assert.Contains(t, strings.Fields(strings.ReplaceAll(env["KONG_NGINX_MAIN_ENV"], ";", " ")), "AI_PROXY_HF_ROUTER_URL",
		"nginx workers keep only env-declared variables: the plugin server would not see the router's address")

	// The log directory, mounted at the same path, holds the error log.
	require.Len(t, kong.Volumes, 1)
	assert.Equal(t, "${E2E_LOG_DIR}:${E2E_LOG_DIR}", kong.Volumes[0], "mounted at the same path: file-log paths are the suite's paths")
	assert.Regexp(t, `^\$\{E2E_LOG_DIR(:\?[^}]*)?\}/error\.log$`, env["KONG_PROXY_ERROR_LOG"])
	assert.Equal(t, []string{"CMD", "kong", "health"}, kong.Healthcheck.Test)
}

// TestE2EKongScripts: the make targets exist and run what they say; the
// scripts hand the suite every setting its external mode reads.
func TestE2EKongScripts(t *testing.T) {
	mk := string(readFile(t, "Makefile"))
	recipe := func(target string) string {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(target) + `:[^\n]*\n((?:\t[^\n]*\n)+)`).FindStringSubmatch(mk)
		require.NotNil(t, m, "Makefile has no target %s with a recipe", target)
		return m[1]
	}
	assert.Regexp(t, `\$\(GO\) test -v [^\n]*\./e2e/`, recipe("e2e-kong"))
	assert.Contains(t, recipe("e2e-kong"), " -v ", "go test -v: each test's result is printed")
	assert.Contains(t, recipe("e2e-kong-standin"), "kong/e2e-standin.sh")
	assert.Contains(t, recipe("e2e-kong-docker"), "kong/e2e-docker.sh")
	assert.Contains(t, recipe("test"), "e2e-kong-standin", "make test runs the suite in its external mode against the stand-in")

	external := string(readFile(t, "e2e/external_test.go"))
	for _, script := range []string{"kong/e2e-docker.sh", "kong/e2e-standin.sh"} {
		s := string(readFile(t, script))
		fi, err := os.Stat(filepath.Join(repoRoot, script))
		require.NoError(t, err)
		assert.NotZero(t, fi.Mode()&0o111, "%s is executable", script)
		for _, v := range []string{"KONG_PROXY_URL", "KONG_ADMIN_URL", "HF_UPSTREAM_URL", "KONG_FILE_LOG_DIR", "KONG_ERROR_LOG_PATH"} {
			assert.Contains(t, s, v+"=", "%s sets %s", script, v)
			assert.Contains(t, external, `os.Getenv("`+v+`")`, "the suite reads %s", v)
		}
		assert.Contains(t, s, "e2e-kong", "%s runs make e2e-kong", script)
	}
	docker := string(readFile(t, "kong/e2e-docker.sh"))
	assert.Contains(t, docker, "kong/compose.e2e.yml")
	assert.Contains(t, docker, `"http://${ADMIN}/status"`, "waits for Kong's /status on the Admin API")
	assert.Regexp(t, `trap down EXIT`, docker, "the stack is torn down whatever happens")
	assert.Contains(t, docker, "down --volumes")
	assert.Equal(t, suiteToken(t), shellAssign(t, readFile(t, "kong/e2e-standin.sh"), "E2E_HF_TOKEN"))
}

type workflow struct {
	On   any `yaml:"on"`
	Jobs map[string]struct {
		RunsOn   string `yaml:"runs-on"`
		Strategy struct {
			Matrix struct {
				Include []map[string]string `yaml:"include"`
			} `yaml:"matrix"`
		} `yaml:"strategy"`
		Env   map[string]string `yaml:"env"`
		Steps []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			If   string            `yaml:"if"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

func TestKongWorkflow(t *testing.T) {
	var w workflow
	require.NoError(t, yaml.Unmarshal(readFile(t, ".github/workflows/kong.yml"), &w))
	require.Len(t, w.Jobs, 1)
	for name, job := range w.Jobs {
		versions := map[string]string{}
		for _, m := range job.Strategy.Matrix.Include {
			versions[m["kong"]] = m["image"]
		}
		assert.Equal(t, map[string]string{"3.9": "kong:3.9", "3.13": "kong/kong-gateway:3.13"}, versions,
			"job %s: Kong 3.9 (the last open-source image) and 3.13 (kong/kong-gateway only)", name)
		assert.Equal(t, "${{ matrix.image }}", job.Env["KONG_IMAGE"])
		var runs, setupGo, upload bool
		for _, s := range job.Steps {
			switch {
			case strings.Contains(s.Run, "make e2e-kong-docker"):
				runs = true
				assert.Contains(t, s.Run, "KONG_IMAGE=${{ matrix.image }}")
			case strings.HasPrefix(s.Uses, "actions/setup-go@"):
				setupGo = true
				assert.Equal(t, "go.mod", s.With["go-version-file"], "Go from go.mod")
			case strings.HasPrefix(s.Uses, "actions/upload-artifact@"):
				upload = true
				assert.Equal(t, "failure()", s.If, "logs are uploaded when the run fails")
				assert.Contains(t, s.With["path"], "error.log", "Kong's error log")
				assert.Contains(t, s.With["path"], ".jsonl", "the file-log records")
				assert.Contains(t, s.With["path"], "${{ env.E2E_LOG_DIR }}")
			}
		}
		assert.True(t, runs, "job %s runs make e2e-kong-docker", name)
		assert.True(t, setupGo, "job %s sets Go up with actions/setup-go", name)
		assert.True(t, upload, "job %s uploads the logs on failure", name)
		assert.NotEmpty(t, job.Env["E2E_LOG_DIR"], "the log directory the script and the upload share")
	}
}
