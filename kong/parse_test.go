package kong_test

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// parseKongConf reads kong.conf's format: "key = value" lines, "#" starts a
// comment (Kong's loader accepts "\#" for a literal one), blank lines skipped.
func parseKongConf(text string) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = stripConfComment(line)
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not \"key = value\"", i+1, line)
		}
		k = strings.TrimSpace(k)
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("line %d: %s is set twice", i+1, k)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

func stripConfComment(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' && i+1 < len(line) && line[i+1] == '#' {
			b.WriteByte('#')
			i++
			continue
		}
		if line[i] == '#' {
			break
		}
		b.WriteByte(line[i])
	}
	return b.String()
}

// shellWords splits a command line or an ENV instruction the way a shell
// (and Docker's ENV) does for the simple forms used here: whitespace
// separates words, single and double quotes group, backslash escapes.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == '\'':
			cur.WriteByte(c)
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case quote == '"':
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// dockerInstruction is one Dockerfile instruction with continuation lines
// joined.
type dockerInstruction struct {
	Cmd  string // upper-cased: FROM, COPY, ENV, RUN, USER, ...
	Args string
	Line int
}

func parseDockerfile(text string) []dockerInstruction {
	var out []dockerInstruction
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		start := i + 1
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") {
				continue
			}
			line = strings.TrimSuffix(line, "\\") + " " + next
		}
		cmd, args, _ := strings.Cut(line, " ")
		out = append(out, dockerInstruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start})
	}
	return out
}

// composeVarRef matches Compose's interpolation forms ${VAR}, ${VAR:?msg},
// ${VAR:-default}, ${VAR?msg}, ${VAR-default} and $VAR ($$ escapes a "$").
var composeVarRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)([:]?[?+-][^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

type composeRef struct {
	Name     string
	Modifier string // ":?message", ":-default", ... or ""
}

func composeRefs(s string) []composeRef {
	var out []composeRef
	for _, m := range composeVarRef.FindAllStringSubmatch(s, -1) {
		switch {
		case m[0] == "$$":
		case m[1] != "":
			out = append(out, composeRef{Name: m[1], Modifier: m[2]})
		default:
			out = append(out, composeRef{Name: m[3]})
		}
	}
	return out
}

// vaultEnvRef matches a reference to Kong's env vault. Kong resolves it by
// upper-casing the resource and turning "-" into "_" (kong/vaults/env).
var vaultEnvRef = regexp.MustCompile(`^\{vault://env/([A-Za-z0-9_-]+)\}$`)

func vaultEnvVar(resource string) string {
	return strings.ToUpper(strings.ReplaceAll(resource, "-", "_"))
}

func TestParsers(t *testing.T) {
	t.Run("kong.conf", func(t *testing.T) {
		for _, tc := range []struct {
			name, in string
			want     map[string]string
			wantErr  string
		}{
			{name: "comments and blanks", in: "# c\n\na = 1 # trailing\n b=two words \n", want: map[string]string{"a": "1", "b": "two words"}},
			{name: "escaped hash", in: `x = a\#b`, want: map[string]string{"x": "a#b"}},
			{name: "not key value", in: "plugins bundled", wantErr: `line 1: "plugins bundled" is not "key = value"`},
			{name: "duplicate", in: "a = 1\na = 2", wantErr: "line 2: a is set twice"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := parseKongConf(tc.in)
				if tc.wantErr != "" {
					if err == nil || err.Error() != tc.wantErr {
						t.Fatalf("error = %v, want %q", err, tc.wantErr)
					}
					return
				}
				if err != nil || !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("got %v, %v; want %v", got, err, tc.want)
				}
			})
		}
	})
	t.Run("shell words", func(t *testing.T) {
		for _, tc := range []struct {
			in   string
			want []string
		}{
			{`A=1 B="two words" C='x y'`, []string{"A=1", "B=two words", "C=x y"}},
			{`/usr/local/bin/ai-proxy-hf -kong-prefix /kong_prefix`, []string{"/usr/local/bin/ai-proxy-hf", "-kong-prefix", "/kong_prefix"}},
			{`a\ b "c\"d"`, []string{"a b", `c"d`}},
			{`"${bin}/ai-proxy-hf -dump"`, []string{"${bin}/ai-proxy-hf -dump"}},
		} {
			got, err := shellWords(tc.in)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("shellWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		}
		if _, err := shellWords(`"open`); err == nil || err.Error() != `unterminated " quote in "\"open"` {
			t.Errorf("unterminated quote: err = %v", err)
		}
	})
	t.Run("dockerfile", func(t *testing.T) {
		got := parseDockerfile("# syntax=docker/dockerfile:1\nFROM a AS b\nRUN x \\\n  # note\n  y\nenv K=v\n")
		want := []dockerInstruction{{"FROM", "a AS b", 2}, {"RUN", "x  y", 3}, {"ENV", "K=v", 6}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("compose refs", func(t *testing.T) {
		got := composeRefs("Bearer ${HUGGINGFACE_TOKEN:?set it} $$NOT ${A:-x} $B")
		want := []composeRef{{"HUGGINGFACE_TOKEN", ":?set it"}, {"A", ":-x"}, {"B", ""}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("vault env name", func(t *testing.T) {
		m := vaultEnvRef.FindStringSubmatch("{vault://env/huggingface-auth-header}")
		if m == nil || vaultEnvVar(m[1]) != "HUGGINGFACE_AUTH_HEADER" {
			t.Fatalf("got %v", m)
		}
	})
}
