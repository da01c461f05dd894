package kong_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// There is no Docker engine or Kong here, so these tests check by reading
// that the packaging would work: every file, env var and plugin name that
// docker-compose.yml, kong/*.yaml, kong/kong.conf, kong/Dockerfile, the k8s
// examples and kong/dev.sh refer to exists and agrees with the others and
// with the plugin binary itself.

// goPDKDefaultPrefix is go-pdk's default -kong-prefix, and the prefix of
// the official Kong image.
const goPDKDefaultPrefix = "/usr/local/kong"

// helmChartPrefix is the KONG_PREFIX the kong/kong and kong/ingress Helm
// charts set in the gateway container.
const helmChartPrefix = "/kong_prefix"

// settings is one source of Kong settings (kong.conf keys, or KONG_*
// variables), looked up by kong.conf key name.
type settings struct {
	source string
	get    func(key string) (string, bool)
}

func confSettings(source string, conf map[string]string) settings {
	return settings{source: source, get: func(k string) (string, bool) { v, ok := conf[k]; return v, ok }}
}

// envSettings maps kong.conf keys to Kong's KONG_<KEY> environment names.
func envSettings(source string, env map[string]string) settings {
	return settings{source: source, get: func(k string) (string, bool) {
		v, ok := env["KONG_"+strings.ToUpper(k)]
		return v, ok
	}}
}

// pluginServerKeys are the kong.conf keys for a plugin server named name:
// "pluginserver_" + name with dashes turned into underscores
// (kong/conf_loader/init.lua).
func pluginServerKeys(name string) (names, socket, start, query, plugins string) {
	p := "pluginserver_" + strings.ReplaceAll(name, "-", "_")
	return "pluginserver_names", p + "_socket", p + "_start_cmd", p + "_query_cmd", "plugins"
}

// pluginServerSetup is what a settings source says about the plugin server.
type pluginServerSetup struct {
	values    map[string]string // by kong.conf key
	prefix    string            // Kong prefix the start command gives go-pdk
	startBin  string
	queryArgs []string
}

// checkPluginServer checks one source's plugin-server settings against the
// plugin's name: Kong registers the plugin under the name the query command
// reports, and connects to the socket setting, while go-pdk listens on
// <kong prefix>/<plugin name>.socket.
func checkPluginServer(s settings, name string) (pluginServerSetup, []string) {
	var problems []string
	addf := func(format string, args ...any) {
		problems = append(problems, s.source+": "+fmt.Sprintf(format, args...))
	}
	kNames, kSocket, kStart, kQuery, kPlugins := pluginServerKeys(name)
	setup := pluginServerSetup{values: map[string]string{}}
	for _, k := range []string{kNames, kSocket, kStart, kQuery, kPlugins} {
		v, ok := s.get(k)
		if !ok {
			addf("%s is not set", k)
			continue
		}
		setup.values[k] = v
	}
	if len(problems) > 0 {
		return setup, problems
	}
	if got := setup.values[kNames]; got != name {
		addf("%s = %q, want %q (the plugin's name)", kNames, got, name)
	}
	if list := splitList(setup.values[kPlugins]); !contains(list, name) {
		addf("%s = %q does not list %q", kPlugins, setup.values[kPlugins], name)
	}
	start, err := shellWords(setup.values[kStart])
	if err != nil || len(start) == 0 {
		addf("%s = %q is not a command", kStart, setup.values[kStart])
		return setup, problems
	}
	setup.startBin = start[0]
	if base := path.Base(start[0]); base != name {
		addf("%s runs %q: its file name %q is not the plugin's name %q, and go-pdk names the plugin after it", kStart, start[0], base, name)
	}
	setup.prefix = goPDKDefaultPrefix
	for i, w := range start[1:] {
		switch {
		case (w == "-kong-prefix" || w == "--kong-prefix") && i+2 < len(start):
			setup.prefix = start[i+2]
		case strings.HasPrefix(w, "-kong-prefix="):
			setup.prefix = strings.TrimPrefix(w, "-kong-prefix=")
		}
	}
	if want := path.Join(setup.prefix, name+".socket"); setup.values[kSocket] != want {
		addf("%s = %q, want %q: go-pdk listens on <kong prefix>/<plugin name>.socket and the start command's prefix is %q",
			kSocket, setup.values[kSocket], want, setup.prefix)
	}
	query, err := shellWords(setup.values[kQuery])
	if err != nil || len(query) == 0 {
		addf("%s = %q is not a command", kQuery, setup.values[kQuery])
		return setup, problems
	}
	if query[0] != start[0] {
		addf("%s runs %q, but %s runs %q: the query must describe the server Kong starts", kQuery, query[0], kStart, start[0])
	}
	if !contains(query[1:], "-dump") {
		addf("%s = %q has no -dump", kQuery, setup.values[kQuery])
	}
	setup.queryArgs = query[1:]
	return setup, problems
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// runQuery runs the query command's arguments on the built binary, as Kong
// would at start-up, and checks Kong would register the plugin under name.
func runQuery(t *testing.T, source string, bin string, args []string, name string) {
	t.Helper()
	out, err := runDump(bin, args...)
	if err != nil {
		t.Errorf("%s: query command: %v", source, err)
		return
	}
	var d pluginDump
	if err := decodeDump(out, &d); err != nil {
		t.Errorf("%s: query command: %v", source, err)
		return
	}
	if d.Plugins[0].Name != name {
		t.Errorf("%s: query command reports plugin %q, want %q", source, d.Plugins[0].Name, name)
	}
}

func loadKongConf(t *testing.T) map[string]string {
	t.Helper()
	conf, err := parseKongConf(string(readFile(t, "kong/kong.conf")))
	if err != nil {
		t.Fatalf("kong/kong.conf: %v", err)
	}
	return conf
}

func reportAll(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

func TestPluginDump(t *testing.T) {
	_, info := requirePlugin(t)
	if info.Name != binaryName {
		t.Errorf("-dump Plugins[0].Name = %q, want %q: the plugin is named after its binary", info.Name, binaryName)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(info.Version) {
		t.Errorf("-dump Version = %q: Kong accepts only x.y.z", info.Version)
	}
	s, err := parseSchema(info.Schema)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != info.Name {
		t.Errorf("-dump Schema.name = %q, want the plugin name %q", s.Name, info.Name)
	}
	rec, err := s.configRecord()
	if err != nil {
		t.Fatal(err)
	}
	// kong.yaml and the manifests rely on these two being required.
	for _, p := range []string{"route_type", "model.provider"} {
		f, ok := fieldAt(rec, p)
		if !ok || !f.Required {
			t.Errorf("-dump Schema: config.%s is not a required field", p)
		}
	}
}

// TestPluginServerSocket starts the real server the way the start commands
// do and checks it listens where the socket settings say: <prefix>/<name>.socket.
func TestPluginServerSocket(t *testing.T) {
	bin, info := requirePlugin(t)
	prefix, err := os.MkdirTemp(tmpDir, "prefix")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-kong-prefix", prefix)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	want := filepath.Join(prefix, info.Name+".socket")
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("plugin server exited before listening: %v (stderr: %q)", err, stderr.String())
		case <-ctx.Done():
			t.Fatalf("plugin server started with -kong-prefix %s did not create %s within 20 s (stderr: %q)", prefix, want, stderr.String())
		case <-tick.C:
			if fi, err := os.Stat(want); err == nil && fi.Mode()&fs.ModeSocket != 0 {
				return
			}
		}
	}
}

func TestKongConf(t *testing.T) {
	bin, info := requirePlugin(t)
	setup, problems := checkPluginServer(confSettings("kong/kong.conf", loadKongConf(t)), info.Name)
	reportAll(t, problems)
	if len(problems) == 0 {
		if setup.prefix != goPDKDefaultPrefix {
			t.Errorf("kong/kong.conf: start command sets -kong-prefix %q; the fragment is for a standard Kong whose prefix is %q", setup.prefix, goPDKDefaultPrefix)
		}
		runQuery(t, "kong/kong.conf", bin, setup.queryArgs, info.Name)
	}
}

// dockerfile is what the tests need from kong/Dockerfile.
type dockerfile struct {
	stages   []string // FROM images, in order
	aliases  []string // AS names, "" when none
	buildRun string   // the RUN with "go build"
	copyFrom string   // COPY --from=<stage>
	copySrc  string
	copyDst  string
	env      map[string]string
	user     string // last USER
}

func loadDockerfile(t *testing.T) dockerfile {
	t.Helper()
	d := dockerfile{env: map[string]string{}}
	// ARGs before the first FROM parameterize the FROM lines: their
	// defaults are what a plain docker build uses.
	args := map[string]string{}
	for _, in := range parseDockerfile(string(readFile(t, "kong/Dockerfile"))) {
		switch in.Cmd {
		case "ARG":
			if k, v, ok := strings.Cut(in.Args, "="); ok && len(d.stages) == 0 {
				args[k] = v
			}
		case "FROM":
			w, _ := shellWords(os.Expand(in.Args, func(k string) string { return args[k] }))
			alias := ""
			if len(w) == 3 && strings.EqualFold(w[1], "AS") {
				alias = w[2]
			}
			if len(w) > 0 {
				d.stages = append(d.stages, w[0])
				d.aliases = append(d.aliases, alias)
			}
		case "RUN":
			if strings.Contains(in.Args, "go build") {
				d.buildRun = in.Args
			}
		case "COPY":
			w, _ := shellWords(in.Args)
			if len(w) == 3 && strings.HasPrefix(w[0], "--from=") {
				d.copyFrom, d.copySrc, d.copyDst = strings.TrimPrefix(w[0], "--from="), w[1], w[2]
			}
		case "ENV":
			w, err := shellWords(in.Args)
			if err != nil {
				t.Fatalf("kong/Dockerfile line %d: ENV: %v", in.Line, err)
			}
			for _, kv := range w {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("kong/Dockerfile line %d: ENV %q: use the KEY=value form", in.Line, kv)
				}
				d.env[k] = v
			}
		case "USER":
			d.user = in.Args
		}
	}
	return d
}

// goDirective reads the "go" line of go.mod: the builder image must carry
// that Go version.
func goDirective(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(readFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

func TestDockerfile(t *testing.T) {
	bin, info := requirePlugin(t)
	d := loadDockerfile(t)
	conf := loadKongConf(t)
	if len(d.stages) != 2 {
		t.Fatalf("kong/Dockerfile has %d FROM stages %q, want 2 (Go builder, Kong)", len(d.stages), d.stages)
	}
	if want := "golang:" + goDirective(t); d.stages[0] != want {
		t.Errorf("kong/Dockerfile builder is FROM %q, want %q (go.mod's go version)", d.stages[0], want)
	}
	if d.stages[1] != "kong:3.9" {
		t.Errorf("kong/Dockerfile final stage is FROM %q, want \"kong:3.9\"", d.stages[1])
	}
	if d.copyFrom == "" || d.copyFrom != d.aliases[0] {
		t.Errorf("kong/Dockerfile: COPY --from=%q does not name the builder stage %q", d.copyFrom, d.aliases[0])
	}
	w, _ := shellWords(d.buildRun)
	var out, pkg string
	for i, x := range w {
		if x == "-o" && i+1 < len(w) {
			out = w[i+1]
		}
		if strings.HasPrefix(x, "./cmd/") {
			pkg = x
		}
	}
	if pkg != "./cmd/"+info.Name {
		t.Errorf("kong/Dockerfile builds %q, want \"./cmd/%s\"", pkg, info.Name)
	} else if fi, err := os.Stat(filepath.Join(repoRoot, pkg)); err != nil || !fi.IsDir() {
		t.Errorf("kong/Dockerfile builds %s, which is not a directory: %v", pkg, err)
	}
	if !strings.Contains(d.buildRun, "CGO_ENABLED=0") {
		t.Errorf("kong/Dockerfile: the go build does not set CGO_ENABLED=0 (the Kong image's libc is not the builder's)")
	}
	if out == "" || d.copySrc != out {
		t.Errorf("kong/Dockerfile copies %q from the builder, but go build writes %q", d.copySrc, out)
	}
	_, _, kStart, _, _ := pluginServerKeys(info.Name)
	start, _ := shellWords(conf[kStart])
	if len(start) == 0 || d.copyDst != start[0] {
		t.Errorf("kong/Dockerfile installs the binary at %q, but kong/kong.conf's %s is %q", d.copyDst, kStart, conf[kStart])
	}
	if d.user != "kong" {
		t.Errorf("kong/Dockerfile: last USER is %q, want \"kong\"", d.user)
	}
	setup, problems := checkPluginServer(envSettings("kong/Dockerfile ENV", d.env), info.Name)
	reportAll(t, problems)
	agree(t, "kong/Dockerfile ENV", setup, conf)
	if len(problems) == 0 {
		runQuery(t, "kong/Dockerfile ENV", bin, setup.queryArgs, info.Name)
	}
}

// agree checks a source's plugin-server values equal kong/kong.conf's.
func agree(t *testing.T, source string, setup pluginServerSetup, conf map[string]string) {
	t.Helper()
	for k, v := range setup.values {
		if conf[k] != v {
			t.Errorf("%s: %s = %q, but kong/kong.conf has %q", source, k, v, conf[k])
		}
	}
}

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Build struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
}

func loadCompose(t *testing.T) composeService {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal(readFile(t, "docker-compose.yml"), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v (environment must be a mapping, ports and volumes lists of strings)", err)
	}
	kong, ok := c.Services["kong"]
	if !ok || len(c.Services) != 1 {
		t.Fatalf("docker-compose.yml: services = %v, want exactly one service \"kong\"", keys(c.Services))
	}
	return kong
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestCompose(t *testing.T) {
	bin, info := requirePlugin(t)
	kong := loadCompose(t)
	conf := loadKongConf(t)
	env := kong.Environment

	ctxDir := filepath.Join(repoRoot, kong.Build.Context)
	if _, err := os.Stat(filepath.Join(ctxDir, "go.mod")); err != nil {
		t.Errorf("docker-compose.yml: build.context %q is not the module root (no go.mod): %v", kong.Build.Context, err)
	}
	if kong.Build.Dockerfile != "kong/Dockerfile" {
		t.Errorf("docker-compose.yml: build.dockerfile = %q, want \"kong/Dockerfile\"", kong.Build.Dockerfile)
	} else if _, err := os.Stat(filepath.Join(ctxDir, kong.Build.Dockerfile)); err != nil {
		t.Errorf("docker-compose.yml: build.dockerfile: %v", err)
	}

	if env["KONG_DATABASE"] != "off" {
		t.Errorf("docker-compose.yml: KONG_DATABASE = %q, want \"off\" (DB-less)", env["KONG_DATABASE"])
	}
	mounted := ""
	for _, v := range kong.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Errorf("docker-compose.yml: volume %q is not host:container", v)
			continue
		}
		host := filepath.Join(repoRoot, parts[0])
		if _, err := os.Stat(host); err != nil {
			t.Errorf("docker-compose.yml: volume %q: %v", v, err)
		}
		if parts[1] == env["KONG_DECLARATIVE_CONFIG"] {
			mounted = filepath.ToSlash(parts[0])
		}
	}
	if mounted != "./kong/kong.yaml" {
		t.Errorf("docker-compose.yml: KONG_DECLARATIVE_CONFIG = %q is mounted from %q, want \"./kong/kong.yaml\"", env["KONG_DECLARATIVE_CONFIG"], mounted)
	}

	listens := map[string]string{"KONG_PROXY_LISTEN": "8000", "KONG_ADMIN_LISTEN": "8001"}
	for key, port := range listens {
		if !strings.HasSuffix(env[key], ":"+port) {
			t.Errorf("docker-compose.yml: %s = %q, want it on port %s", key, env[key], port)
		}
		if !contains(kong.Ports, "127.0.0.1:"+port+":"+port) {
			t.Errorf("docker-compose.yml: ports %q do not publish %s on 127.0.0.1 only", kong.Ports, port)
		}
	}

	setup, problems := checkPluginServer(envSettings("docker-compose.yml", env), info.Name)
	reportAll(t, problems)
	agree(t, "docker-compose.yml", setup, conf)
	if len(problems) == 0 {
		runQuery(t, "docker-compose.yml", bin, setup.queryArgs, info.Name)
	}

	// Host variables: only the token comes from the host, and compose must
	// stop with a message when it is missing rather than start Kong with an
	// empty credential.
	for k, v := range env {
		for _, r := range composeRefs(v) {
			if r.Name != "HUGGINGFACE_TOKEN" {
				t.Errorf("docker-compose.yml: %s refers to host variable %s; only HUGGINGFACE_TOKEN is passed through", k, r.Name)
			} else if !strings.HasPrefix(r.Modifier, ":?") {
				t.Errorf("docker-compose.yml: %s uses ${HUGGINGFACE_TOKEN%s}; use ${HUGGINGFACE_TOKEN:?message} so a missing token stops compose", k, r.Modifier)
			}
		}
	}
	if refs := composeRefs(env["HUGGINGFACE_TOKEN"]); len(refs) != 1 || refs[0].Name != "HUGGINGFACE_TOKEN" {
		t.Errorf("docker-compose.yml: HUGGINGFACE_TOKEN = %q does not pass the host's HUGGINGFACE_TOKEN through", env["HUGGINGFACE_TOKEN"])
	}

	// Every env vault reference in kong.yaml must find its variable.
	for _, ref := range vaultRefs(t, "kong/kong.yaml") {
		v, ok := env[ref.envVar]
		if !ok {
			t.Errorf("kong/kong.yaml: %s at %s reads env var %s, which docker-compose.yml does not set", ref.ref, ref.where, ref.envVar)
			continue
		}
		if ref.headerName == "Authorization" {
			refs := composeRefs(v)
			if !strings.HasPrefix(v, "Bearer ") || len(refs) != 1 || refs[0].Name != "HUGGINGFACE_TOKEN" {
				t.Errorf("docker-compose.yml: %s = %q, want \"Bearer ${HUGGINGFACE_TOKEN...}\" for the Authorization header", ref.envVar, v)
			}
		}
	}
}

// declarative is the part of a DB-less kong.yaml the tests read.
type declarative struct {
	FormatVersion string        `yaml:"_format_version"`
	Services      []declService `yaml:"services"`
	Routes        []declRoute   `yaml:"routes"`
	Plugins       []declPlugin  `yaml:"plugins"`
}

type declService struct {
	Name    string       `yaml:"name"`
	URL     string       `yaml:"url"`
	Routes  []declRoute  `yaml:"routes"`
	Plugins []declPlugin `yaml:"plugins"`
}

type declRoute struct {
	Name    string       `yaml:"name"`
	Paths   []string     `yaml:"paths"`
	Plugins []declPlugin `yaml:"plugins"`
}

type declPlugin struct {
	Name   string         `yaml:"name"`
	Config map[string]any `yaml:"config"`
}

// where names a plugin's place in the file for messages.
type placedPlugin struct {
	where  string
	plugin declPlugin
}

func loadDeclarative(t *testing.T, rel string) (declarative, []placedPlugin) {
	t.Helper()
	var d declarative
	if err := yaml.Unmarshal(readFile(t, rel), &d); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	var out []placedPlugin
	for i, p := range d.Plugins {
		out = append(out, placedPlugin{fmt.Sprintf("plugins[%d]", i), p})
	}
	for _, s := range d.Services {
		for i, p := range s.Plugins {
			out = append(out, placedPlugin{fmt.Sprintf("service %s plugins[%d]", s.Name, i), p})
		}
		for _, r := range s.Routes {
			for i, p := range r.Plugins {
				out = append(out, placedPlugin{fmt.Sprintf("route %s plugins[%d]", r.Name, i), p})
			}
		}
	}
	for _, r := range d.Routes {
		for i, p := range r.Plugins {
			out = append(out, placedPlugin{fmt.Sprintf("route %s plugins[%d]", r.Name, i), p})
		}
	}
	return d, out
}

type vaultRef struct {
	where, ref, field, envVar, headerName string
}

// vaultRefs lists the {vault://env/...} references in a file's plugin
// configs, with the config field that holds each.
func vaultRefs(t *testing.T, rel string) []vaultRef {
	t.Helper()
	_, plugins := loadDeclarative(t, rel)
	var out []vaultRef
	for _, p := range plugins {
		walkStrings(p.plugin.Config, "", func(field, s string) {
			if m := vaultEnvRef.FindStringSubmatch(s); m != nil {
				hn, _ := lookup(p.plugin.Config, "auth.header_name").(string)
				out = append(out, vaultRef{where: p.where + " config." + field, ref: s, field: field, envVar: vaultEnvVar(m[1]), headerName: hn})
			}
		})
	}
	return out
}

func walkStrings(v any, path string, fn func(path, s string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkStrings(e, p, fn)
		}
	case []any:
		for i, e := range x {
			walkStrings(e, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case string:
		fn(path, x)
	}
}

// checkDeclarative checks one kong.yaml-style file: Kong's format version,
// routes with names and paths, and every plugin known and valid.
func checkDeclarative(t *testing.T, rel string, s *pluginSchema, name string) []placedPlugin {
	t.Helper()
	d, plugins := loadDeclarative(t, rel)
	if d.FormatVersion != "3.0" {
		t.Errorf("%s: _format_version = %q, want \"3.0\"", rel, d.FormatVersion)
	}
	paths := map[string]string{}
	for _, svc := range d.Services {
		if svc.Name == "" || svc.URL == "" {
			t.Errorf("%s: service %q needs a name and a url", rel, svc.Name)
		}
		for _, r := range svc.Routes {
			if r.Name == "" || len(r.Paths) == 0 {
				t.Errorf("%s: route %q needs a name and paths", rel, r.Name)
			}
			for _, p := range r.Paths {
				if other, dup := paths[p]; dup {
					t.Errorf("%s: path %s is on routes %s and %s", rel, p, other, r.Name)
				}
				paths[p] = r.Name
			}
		}
	}
	ours := 0
	for _, p := range plugins {
		switch p.plugin.Name {
		case name:
			ours++
			for _, problem := range checkPluginConfig(s, p.plugin.Config) {
				t.Errorf("%s: %s: %s", rel, p.where, problem)
			}
		case "file-log":
			// Kong's bundled file-log: path is its one required field.
			if v, _ := p.plugin.Config["path"].(string); v == "" {
				t.Errorf("%s: %s: file-log config.path: required field missing", rel, p.where)
			}
		default:
			t.Errorf("%s: %s: plugin %q is neither %q nor a bundled plugin this setup uses (file-log)", rel, p.where, p.plugin.Name, name)
		}
	}
	if ours == 0 {
		t.Errorf("%s: no plugin named %q", rel, name)
	}
	return plugins
}

func TestKongYAML(t *testing.T) {
	_, info := requirePlugin(t)
	s, err := parseSchema(info.Schema)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.configRecord()
	if err != nil {
		t.Fatal(err)
	}
	checkDeclarative(t, "kong/kong.yaml", s, info.Name)
	refs := vaultRefs(t, "kong/kong.yaml")
	if len(refs) == 0 {
		t.Errorf("kong/kong.yaml: the token must come from a vault reference, not the file")
	}
	for _, ref := range refs {
		// Kong resolves references only in fields the schema marks
		// referenceable; elsewhere the reference text itself would be sent.
		f, ok := fieldAt(rec, ref.field)
		if !ok || !f.Referenceable {
			t.Errorf("kong/kong.yaml: %s holds %s, but the dumped schema does not mark config.%s referenceable", ref.where, ref.ref, ref.field)
		}
	}
}

// devScript reads DEV_TOKEN (the token hfsim demands) and the exported
// variables from kong/dev.sh.
func devScript(t *testing.T) (token string, exports map[string]string) {
	t.Helper()
	text := string(readFile(t, "kong/dev.sh"))
	m := regexp.MustCompile(`(?m)^DEV_TOKEN=(\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("kong/dev.sh: no DEV_TOKEN=<token> line")
	}
	exports = map[string]string{}
	for _, e := range regexp.MustCompile(`(?m)^export ([A-Z_]+)=(.*)$`).FindAllStringSubmatch(text, -1) {
		w, err := shellWords(e[2])
		if err != nil || len(w) != 1 {
			t.Fatalf("kong/dev.sh: export %s=%s is not one word", e[1], e[2])
		}
		exports[e[1]] = w[0]
	}
	return m[1], exports
}

func TestKongDevYAML(t *testing.T) {
	_, info := requirePlugin(t)
	s, err := parseSchema(info.Schema)
	if err != nil {
		t.Fatal(err)
	}
	plugins := checkDeclarative(t, "kong/kong.dev.yaml", s, info.Name)
	token, _ := devScript(t)
	for _, p := range plugins {
		if p.plugin.Name != info.Name {
			continue
		}
		if got := lookup(p.plugin.Config, "auth.header_value"); got != "Bearer "+token {
			t.Errorf("kong/kong.dev.yaml: %s: auth.header_value = %v, want \"Bearer %s\" (kong/dev.sh starts hfsim with -token %s)", p.where, got, token, token)
		}
	}
	if refs := vaultRefs(t, "kong/kong.dev.yaml"); len(refs) > 0 {
		t.Errorf("kong/kong.dev.yaml: %s: make dev sets no vault variables", refs[0].where)
	}

	// Same routes and configs as kong.yaml but for the token.
	blank := func(rel string) any {
		var v any
		if err := yaml.Unmarshal(readFile(t, rel), &v); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		var strip func(any)
		strip = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				if _, ok := x["header_value"]; ok {
					x["header_value"] = "<token>"
				}
				for _, e := range x {
					strip(e)
				}
			case []any:
				for _, e := range x {
					strip(e)
				}
			}
		}
		strip(v)
		return v
	}
	if !reflect.DeepEqual(blank("kong/kong.yaml"), blank("kong/kong.dev.yaml")) {
		t.Errorf("kong/kong.dev.yaml differs from kong/kong.yaml in more than auth.header_value: keep them the same shape")
	}
}

func TestDevScript(t *testing.T) {
	bin, info := requirePlugin(t)
	_, exports := devScript(t)
	setup, problems := checkPluginServer(envSettings("kong/dev.sh", exports), info.Name)
	reportAll(t, problems)
	if len(problems) == 0 {
		if setup.prefix != "${prefix}" || exports["KONG_PREFIX"] != "${prefix}" {
			t.Errorf("kong/dev.sh: KONG_PREFIX = %q and the start command's -kong-prefix = %q must both be the temporary ${prefix}", exports["KONG_PREFIX"], setup.prefix)
		}
		runQuery(t, "kong/dev.sh", bin, setup.queryArgs, info.Name)
	}
	if got := exports["KONG_DECLARATIVE_CONFIG"]; got != "${root}/kong/kong.dev.yaml" {
		t.Errorf("kong/dev.sh: KONG_DECLARATIVE_CONFIG = %q, want \"${root}/kong/kong.dev.yaml\"", got)
	}
	if got := exports["AI_PROXY_HF_ROUTER_URL"]; got != "http://${HF_ADDR}" {
		t.Errorf("kong/dev.sh: AI_PROXY_HF_ROUTER_URL = %q, want \"http://${HF_ADDR}\" (hfsim's address)", got)
	}
	// make dev only reaches hfsim if the plugin honours the override.
	if !sourceMentions(t, "AI_PROXY_HF_ROUTER_URL", "cmd", "plugin", "schema") {
		t.Errorf("kong/dev.sh points the plugin at hfsim with AI_PROXY_HF_ROUTER_URL, which no non-test Go file in cmd/, plugin/ or schema/ reads")
	}
}

// sourceMentions reports whether a non-test Go file under dirs contains s.
func sourceMentions(t *testing.T, s string, dirs ...string) bool {
	t.Helper()
	found := false
	for _, d := range dirs {
		err := filepath.WalkDir(filepath.Join(repoRoot, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil || found || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil && bytes.Contains(b, []byte(s)) {
				found = true
			}
			return err
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("walk %s: %v", d, err)
		}
	}
	return found
}

type k8sDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	// KongPlugin
	Plugin        string         `yaml:"plugin"`
	Config        map[string]any `yaml:"config"`
	ConfigPatches []struct {
		Path      string `yaml:"path"`
		ValueFrom struct {
			SecretKeyRef struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"configPatches"`
	// Service, Ingress
	Spec struct {
		IngressClassName string `yaml:"ingressClassName"`
		Ports            []struct {
			Port int `yaml:"port"`
		} `yaml:"ports"`
		Rules []struct {
			HTTP struct {
				Paths []struct {
					Path    string `yaml:"path"`
					Backend struct {
						Service struct {
							Name string `yaml:"name"`
							Port struct {
								Number int `yaml:"number"`
							} `yaml:"port"`
						} `yaml:"service"`
					} `yaml:"backend"`
				} `yaml:"paths"`
			} `yaml:"http"`
		} `yaml:"rules"`
	} `yaml:"spec"`
}

func loadK8s(t *testing.T, rel string) []k8sDoc {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, rel)))
	var docs []k8sDoc
	for {
		var d k8sDoc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		docs = append(docs, d)
	}
}

func TestK8sExamples(t *testing.T) {
	_, info := requirePlugin(t)
	s, err := parseSchema(info.Schema)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.configRecord()
	if err != nil {
		t.Fatal(err)
	}

	plugins := loadK8s(t, "kong/k8s/kongplugin.yaml")
	if len(plugins) != 1 || plugins[0].Kind != "KongPlugin" || plugins[0].APIVersion != "configuration.konghq.com/v1" {
		t.Fatalf("kong/k8s/kongplugin.yaml: want one configuration.konghq.com/v1 KongPlugin")
	}
	kp := plugins[0]
	if kp.Plugin != info.Name {
		t.Errorf("kong/k8s/kongplugin.yaml: plugin = %q, want %q", kp.Plugin, info.Name)
	}
	// KIC applies each patch (a JSON pointer into config) with the Secret's
	// value before Kong validates the config.
	config := kp.Config
	for i, p := range kp.ConfigPatches {
		ref := p.ValueFrom.SecretKeyRef
		if ref.Name == "" || ref.Key == "" {
			t.Errorf("kong/k8s/kongplugin.yaml: configPatches[%d] needs valueFrom.secretKeyRef name and key", i)
		}
		dotted := strings.ReplaceAll(strings.TrimPrefix(p.Path, "/"), "/", ".")
		f, ok := fieldAt(rec, dotted)
		if !ok || f.Type != "string" {
			t.Errorf("kong/k8s/kongplugin.yaml: configPatches[%d].path %q is not a string field of the config", i, p.Path)
			continue
		}
		setPath(config, dotted, "value of secret "+ref.Name+"/"+ref.Key)
	}
	for _, problem := range checkPluginConfig(s, config) {
		t.Errorf("kong/k8s/kongplugin.yaml: %s", problem)
	}

	docs := loadK8s(t, "kong/k8s/ingress.yaml")
	services := map[string]k8sDoc{}
	var ingresses []k8sDoc
	for _, d := range docs {
		switch d.Kind {
		case "Service":
			services[d.Metadata.Name] = d
		case "Ingress":
			ingresses = append(ingresses, d)
		}
	}
	if len(ingresses) == 0 {
		t.Fatal("kong/k8s/ingress.yaml: no Ingress")
	}
	for _, ing := range ingresses {
		if list := splitList(ing.Metadata.Annotations["konghq.com/plugins"]); !contains(list, kp.Metadata.Name) {
			t.Errorf("kong/k8s/ingress.yaml: Ingress %s: konghq.com/plugins = %q does not name the KongPlugin %q", ing.Metadata.Name, ing.Metadata.Annotations["konghq.com/plugins"], kp.Metadata.Name)
		}
		if ing.Spec.IngressClassName != "kong" {
			t.Errorf("kong/k8s/ingress.yaml: Ingress %s: ingressClassName = %q, want \"kong\"", ing.Metadata.Name, ing.Spec.IngressClassName)
		}
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				b := p.Backend.Service
				svc, ok := services[b.Name]
				if !ok {
					t.Errorf("kong/k8s/ingress.yaml: path %s: backend Service %q is not defined in the file", p.Path, b.Name)
					continue
				}
				if len(svc.Spec.Ports) == 0 || svc.Spec.Ports[0].Port != b.Port.Number {
					t.Errorf("kong/k8s/ingress.yaml: path %s: backend port %d is not a port of Service %s", p.Path, b.Port.Number, b.Name)
				}
			}
		}
	}

	var values struct {
		Gateway struct {
			Image struct {
				Repository string `yaml:"repository"`
				Tag        string `yaml:"tag"`
			} `yaml:"image"`
			Env map[string]string `yaml:"env"`
		} `yaml:"gateway"`
	}
	if err := yaml.Unmarshal(readFile(t, "kong/k8s/values.yaml"), &values); err != nil {
		t.Fatalf("kong/k8s/values.yaml: %v", err)
	}
	setup, problems := checkPluginServer(confSettings("kong/k8s/values.yaml gateway.env", values.Gateway.Env), info.Name)
	reportAll(t, problems)
	if len(problems) == 0 && setup.prefix != helmChartPrefix {
		t.Errorf("kong/k8s/values.yaml: the start command's -kong-prefix is %q, but the chart runs Kong with prefix %s", setup.prefix, helmChartPrefix)
	}
	if got, want := values.Gateway.Image.Repository+":"+values.Gateway.Image.Tag, loadCompose(t).Image; got != want {
		t.Errorf("kong/k8s/values.yaml: gateway image %q is not the image docker-compose.yml builds (%q)", got, want)
	}
}

func setPath(m map[string]any, dotted, v string) {
	parts := strings.Split(dotted, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}
