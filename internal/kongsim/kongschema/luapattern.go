package kongschema

import (
	"fmt"
	"regexp"
	"strings"
)

// luaPattern is a compiled Lua pattern (the language of string.match, which
// Kong's match/not_match/match_all/... validators use), translated into an
// RE2 expression that works on bytes: Lua patterns see a string as bytes, so
// both the pattern and the subject are mapped byte-for-rune into Latin-1
// before matching. Only the boolean "does it match anywhere" is needed, and
// that answer does not depend on Lua's backtracking versus RE2's automaton.
type luaPattern struct {
	src string
	re  *regexp.Regexp
}

// match reports whether s contains a match, as `s:match(p) ~= nil`.
func (p *luaPattern) match(s string) bool {
	return p.re.MatchString(latin1(s))
}

// latin1 maps each byte of s to the rune with the same value.
func latin1(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// luaClass reports whether byte c belongs to Lua's class %n (C locale);
// ok is false when n is not a class letter.
func luaClass(n byte, c byte) (in, ok bool) {
	lower := n | 0x20
	switch lower {
	case 'a':
		in = (c|0x20) >= 'a' && (c|0x20) <= 'z'
	case 'c':
		in = c < 0x20 || c == 0x7f
	case 'd':
		in = c >= '0' && c <= '9'
	case 'g':
		in = c > 0x20 && c < 0x7f
	case 'l':
		in = c >= 'a' && c <= 'z'
	case 'p':
		in = c > 0x20 && c < 0x7f && !((c|0x20) >= 'a' && (c|0x20) <= 'z') && !(c >= '0' && c <= '9')
	case 's':
		in = c == ' ' || (c >= 0x09 && c <= 0x0d)
	case 'u':
		in = c >= 'A' && c <= 'Z'
	case 'w':
		in = ((c|0x20) >= 'a' && (c|0x20) <= 'z') || (c >= '0' && c <= '9')
	case 'x':
		in = (c >= '0' && c <= '9') || ((c|0x20) >= 'a' && (c|0x20) <= 'f')
	default:
		return false, false
	}
	if n >= 'A' && n <= 'Z' {
		in = !in
	}
	return in, true
}

// classRanges renders the bytes of class %n as the inside of a [...] set.
func classRanges(n byte) (string, bool) {
	if _, ok := luaClass(n, 0); !ok {
		return "", false
	}
	var b strings.Builder
	for c := 0; c < 256; {
		if in, _ := luaClass(n, byte(c)); !in {
			c++
			continue
		}
		lo := c
		for c < 256 {
			if in, _ := luaClass(n, byte(c)); !in {
				break
			}
			c++
		}
		b.WriteString(byteLiteral(byte(lo)))
		if c-1 > lo {
			b.WriteString("-" + byteLiteral(byte(c-1)))
		}
	}
	return b.String(), true
}

// compileLuaPattern translates a Lua pattern. Features with no RE2
// equivalent (%b, %f, back-references) are refused with an error naming
// them, rather than silently matching something else.
func compileLuaPattern(p string) (*luaPattern, error) {
	var out strings.Builder
	i := 0
	if strings.HasPrefix(p, "^") {
		out.WriteString(`\A`)
		i = 1
	}
	depth := 0
	for i < len(p) {
		c := p[i]
		// A '$' is an anchor only as the very last character.
		if c == '$' && i == len(p)-1 {
			out.WriteString(`\z`)
			i++
			continue
		}
		var atom string
		switch c {
		case '(':
			depth++
			out.WriteString("(")
			i++
			continue
		case ')':
			if depth == 0 {
				return nil, fmt.Errorf("invalid pattern capture in %q", p)
			}
			depth--
			out.WriteString(")")
			i++
			continue
		case '%':
			if i+1 >= len(p) {
				return nil, fmt.Errorf("malformed pattern (ends with '%%') in %q", p)
			}
			n := p[i+1]
			switch {
			case n == 'b' || n == 'f':
				return nil, fmt.Errorf("Lua pattern item %%%c is not supported (pattern %q)", n, p)
			case n >= '0' && n <= '9':
				return nil, fmt.Errorf("Lua pattern back-reference %%%c is not supported (pattern %q)", n, p)
			}
			atom = classAtom(n)
			i += 2
		case '[':
			set, next, err := translateSet(p, i)
			if err != nil {
				return nil, err
			}
			atom = set
			i = next
		case '.':
			atom = `[\x00-\x{ff}]`
			i++
		default:
			atom = byteLiteral(c)
			i++
		}
		// A single-character item may carry one quantifier.
		if i < len(p) {
			switch p[i] {
			case '*', '+', '?':
				atom += string(p[i])
				i++
			case '-':
				atom += "*?"
				i++
			}
		}
		out.WriteString(atom)
	}
	if depth != 0 {
		return nil, fmt.Errorf("unfinished capture in %q", p)
	}
	re, err := regexp.Compile(out.String())
	if err != nil {
		return nil, fmt.Errorf("translating Lua pattern %q: %w", p, err)
	}
	return &luaPattern{src: p, re: re}, nil
}

// classAtom is the regexp for %x outside a set.
func classAtom(n byte) string {
	if r, ok := classRanges(n); ok {
		return "[" + r + "]"
	}
	return byteLiteral(n)
}

// byteLiteral escapes one byte for use as a literal (in or out of a set).
func byteLiteral(c byte) string {
	return fmt.Sprintf(`\x{%02x}`, c)
}

// translateSet translates the set starting at p[start] == '['. It returns
// the regexp class and the index just past the closing ']'.
func translateSet(p string, start int) (string, int, error) {
	i := start + 1
	var b strings.Builder
	b.WriteString("[")
	if i < len(p) && p[i] == '^' {
		b.WriteString("^")
		i++
	}
	first := true
	for {
		if i >= len(p) {
			return "", 0, fmt.Errorf("malformed pattern (missing ']') in %q", p)
		}
		c := p[i]
		// Lua reads a ']' right after '[' or '[^' as a literal.
		if c == ']' && !first {
			i++
			break
		}
		first = false
		switch {
		case c == '%':
			if i+1 >= len(p) {
				return "", 0, fmt.Errorf("malformed pattern (ends with '%%') in %q", p)
			}
			n := p[i+1]
			if r, ok := classRanges(n); ok {
				b.WriteString(r)
			} else {
				b.WriteString(byteLiteral(n))
			}
			i += 2
		case i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']':
			lo, hi := c, p[i+2]
			if lo <= hi {
				b.WriteString(byteLiteral(lo) + "-" + byteLiteral(hi))
			}
			// Lua treats an inverted range as matching nothing.
			i += 3
		default:
			b.WriteString(byteLiteral(c))
			i++
		}
	}
	if body := b.String(); body == "[" || body == "[^" {
		// Only inverted ranges: Lua's set matches nothing (or, negated,
		// any byte).
		if body == "[" {
			return `[^\x00-\x{10FFFF}]`, i, nil
		}
		return `[\x00-\x{ff}]`, i, nil
	}
	b.WriteString("]")
	return b.String(), i, nil
}
