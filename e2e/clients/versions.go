package clients

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// Version is one installed set of the npm clients: the pinned packages, or
// the newest (the npm aliases hf-latest and openai-latest of package.json).
// The scripts import the packages HF_PKG and OPENAI_PKG name.
type Version struct {
	Name, HFPkg, OpenAIPkg string
}

// Versions are the two sets every client call runs with.
var Versions = []Version{
	{Name: "pinned", HFPkg: "@huggingface/inference", OpenAIPkg: "openai"},
	{Name: "latest", HFPkg: "hf-latest", OpenAIPkg: "openai-latest"},
}

// Latest reports the newest set.
func (v Version) Latest() bool { return v.Name == "latest" }

// Env is the environment that makes a script import v's packages.
func (v Version) Env() map[string]string {
	return map[string]string{"HF_PKG": v.HFPkg, "OPENAI_PKG": v.OpenAIPkg}
}

// Package is the package script imports: the Hugging Face client for the
// hf_ scripts, openai for the others.
func (v Version) Package(script string) string {
	if strings.HasPrefix(script, "hf_") {
		return v.HFPkg
	}
	return v.OpenAIPkg
}

// Each runs f as the parallel subtests "pinned" and "latest".
func Each(t *testing.T, f func(t *testing.T, v Version)) {
	t.Helper()
	for _, v := range Versions {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			f(t, v)
		})
	}
}

// CheckImported reports an error unless the line a script printed says it
// imported v's package for it at the version package.json (in dir)
// declares: a stale node_modules fails instead of testing another version.
func CheckImported(dir, script string, v Version, out gjson.Result) error {
	pkg := v.Package(script)
	if got := out.Get("client.package").String(); got != pkg {
		return fmt.Errorf("%s imported %q, not %q: %s", script, got, pkg, out.Raw)
	}
	want, err := DeclaredVersion(dir, pkg)
	if err != nil {
		return err
	}
	if got := out.Get("client.version").String(); got != want {
		return fmt.Errorf("installed %s is %q, not package.json's %q (run `make deps`)", pkg, got, want)
	}
	return nil
}

// DeclaredVersion is the version dir/package.json asks for pkg: "4.13.16",
// or an alias's ("npm:@huggingface/inference@4.13.30").
func DeclaredVersion(dir, pkg string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return "", err
	}
	var spec string
	gjson.GetBytes(raw, "dependencies").ForEach(func(k, val gjson.Result) bool {
		if k.Str == pkg {
			spec = val.String()
		}
		return spec == ""
	})
	if spec == "" {
		return "", fmt.Errorf("%s has no dependency %s", filepath.Join(dir, "package.json"), pkg)
	}
	return spec[strings.LastIndexByte(spec, '@')+1:], nil
}
