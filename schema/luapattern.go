package schema

import (
	"errors"
	"fmt"
)

// Kong's `match` validator runs Lua's string.match, whose patterns are not
// regular expressions. To interpret the same declaration in Go this file
// ports the matcher of Lua 5.1's lstrlib.c (the semantics LuaJIT, and so
// Kong, implements): character classes in the C locale, sets, the
// quantifiers * + - ?, anchors, captures, back-references, %b and %f.

// errPattern marks a malformed pattern (Lua raises an error for these).
var errPattern = errors.New("malformed Lua pattern")

const (
	luaMaxCaptures = 32
	capUnfinished  = -1
	capPosition    = -2
	// luaMaxDepth bounds the matcher's recursion; patterns of a schema are
	// short, so only a hostile pattern could reach it.
	luaMaxDepth = 200
)

type luaCapture struct{ init, len int }

type luaMatcher struct {
	src, pat string
	level    int
	capture  [luaMaxCaptures]luaCapture
	depth    int
}

// luaMatch reports whether s:match(pattern) finds a match.
func luaMatch(s, pattern string) (bool, error) {
	p := 0
	anchor := len(pattern) > 0 && pattern[0] == '^'
	if anchor {
		p = 1
	}
	m := &luaMatcher{src: s, pat: pattern}
	for s1 := 0; ; s1++ {
		m.level, m.depth = 0, 0
		e, err := m.match(s1, p)
		if err != nil {
			return false, err
		}
		if e >= 0 {
			// Lua pushes the captures of a match and raises on one left
			// open: "(a" is a malformed pattern, not a match.
			for i := 0; i < m.level; i++ {
				if m.capture[i].len == capUnfinished {
					return false, fmt.Errorf("%w: unfinished capture", errPattern)
				}
			}
			return true, nil
		}
		if s1 >= len(s) || anchor {
			return false, nil
		}
	}
}

// at returns the pattern byte at i, or 0 past its end (C's terminator).
func (m *luaMatcher) at(i int) byte {
	if i < len(m.pat) {
		return m.pat[i]
	}
	return 0
}

// classEnd returns the index just past the single-character class at p.
func (m *luaMatcher) classEnd(p int) (int, error) {
	c := m.at(p)
	p++
	switch c {
	case '%':
		if p >= len(m.pat) {
			return 0, fmt.Errorf("%w: ends with '%%'", errPattern)
		}
		return p + 1, nil
	case '[':
		if m.at(p) == '^' {
			p++
		}
		for {
			if p >= len(m.pat) {
				return 0, fmt.Errorf("%w: missing ']'", errPattern)
			}
			c := m.pat[p]
			p++
			if c == '%' && p < len(m.pat) {
				p++
			}
			if m.at(p) == ']' {
				return p + 1, nil
			}
		}
	default:
		return p, nil
	}
}

// luaClass reports whether c belongs to the class letter cl (%a, %d, ...),
// with C-locale ctype semantics: bytes >= 0x80 belong to no class.
func luaClass(c, cl byte) bool {
	var res bool
	lower := cl | 0x20
	switch lower {
	case 'a':
		res = isAlpha(c)
	case 'c':
		res = c < 0x20 || c == 0x7f
	case 'd':
		res = c >= '0' && c <= '9'
	case 'l':
		res = c >= 'a' && c <= 'z'
	case 'p':
		res = c > 0x20 && c < 0x7f && !isAlpha(c) && !(c >= '0' && c <= '9')
	case 's':
		res = c == ' ' || (c >= '\t' && c <= '\r')
	case 'u':
		res = c >= 'A' && c <= 'Z'
	case 'w':
		res = isAlpha(c) || (c >= '0' && c <= '9')
	case 'x':
		res = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
	case 'z':
		res = c == 0
	default:
		return cl == c
	}
	if cl >= 'A' && cl <= 'Z' {
		return !res
	}
	return res
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// bracketClass matches c against the set [..] spanning p (the '[') to ec
// (the ']').
func (m *luaMatcher) bracketClass(c byte, p, ec int) bool {
	sig := true
	if m.at(p+1) == '^' {
		sig = false
		p++
	}
	for p++; p < ec; p++ {
		switch {
		case m.pat[p] == '%':
			p++
			if luaClass(c, m.at(p)) {
				return sig
			}
		case m.at(p+1) == '-' && p+2 < ec:
			p += 2
			if m.pat[p-2] <= c && c <= m.pat[p] {
				return sig
			}
		case m.pat[p] == c:
			return sig
		}
	}
	return !sig
}

// single matches one source byte against the class spanning p..ep.
func (m *luaMatcher) single(s, p, ep int) bool {
	if s >= len(m.src) {
		return false
	}
	c := m.src[s]
	switch m.pat[p] {
	case '.':
		return true
	case '%':
		return luaClass(c, m.at(p+1))
	case '[':
		return m.bracketClass(c, p, ep-1)
	default:
		return m.pat[p] == c
	}
}

// match returns the end of the match of pattern[p:] at src[s:], or -1.
func (m *luaMatcher) match(s, p int) (int, error) {
	m.depth++
	defer func() { m.depth-- }()
	if m.depth > luaMaxDepth {
		return -1, fmt.Errorf("%w: too complex", errPattern)
	}
	for {
		if p >= len(m.pat) {
			return s, nil
		}
		switch m.pat[p] {
		case '(':
			if m.at(p+1) == ')' {
				return m.startCapture(s, p+2, capPosition)
			}
			return m.startCapture(s, p+1, capUnfinished)
		case ')':
			return m.endCapture(s, p+1)
		case '$':
			if p+1 == len(m.pat) {
				if s == len(m.src) {
					return s, nil
				}
				return -1, nil
			}
		case '%':
			switch next := m.at(p + 1); {
			case next == 'b':
				e, err := m.balance(s, p+2)
				if err != nil || e < 0 {
					return -1, err
				}
				s, p = e, p+4
				continue
			case next == 'f':
				p += 2
				if m.at(p) != '[' {
					return -1, fmt.Errorf("%w: missing '[' after '%%f'", errPattern)
				}
				ep, err := m.classEnd(p)
				if err != nil {
					return -1, err
				}
				var prev, cur byte
				if s > 0 {
					prev = m.src[s-1]
				}
				if s < len(m.src) {
					cur = m.src[s]
				}
				if m.bracketClass(prev, p, ep-1) || !m.bracketClass(cur, p, ep-1) {
					return -1, nil
				}
				p = ep
				continue
			case next >= '0' && next <= '9':
				e, err := m.backRef(s, next)
				if err != nil || e < 0 {
					return -1, err
				}
				s, p = e, p+2
				continue
			}
		}
		// Default: a single-character class, maybe quantified.
		ep, err := m.classEnd(p)
		if err != nil {
			return -1, err
		}
		matched := m.single(s, p, ep)
		switch m.at(ep) {
		case '?':
			if matched {
				e, err := m.match(s+1, ep+1)
				if err != nil || e >= 0 {
					return e, err
				}
			}
			p = ep + 1
			continue
		case '*':
			return m.maxExpand(s, p, ep)
		case '+':
			if !matched {
				return -1, nil
			}
			return m.maxExpand(s+1, p, ep)
		case '-':
			return m.minExpand(s, p, ep)
		}
		if !matched {
			return -1, nil
		}
		s, p = s+1, ep
	}
}

func (m *luaMatcher) maxExpand(s, p, ep int) (int, error) {
	i := 0
	for m.single(s+i, p, ep) {
		i++
	}
	for ; i >= 0; i-- {
		e, err := m.match(s+i, ep+1)
		if err != nil || e >= 0 {
			return e, err
		}
	}
	return -1, nil
}

func (m *luaMatcher) minExpand(s, p, ep int) (int, error) {
	for {
		e, err := m.match(s, ep+1)
		if err != nil || e >= 0 {
			return e, err
		}
		if !m.single(s, p, ep) {
			return -1, nil
		}
		s++
	}
}

func (m *luaMatcher) startCapture(s, p, what int) (int, error) {
	if m.level >= luaMaxCaptures {
		return -1, fmt.Errorf("%w: too many captures", errPattern)
	}
	m.capture[m.level] = luaCapture{init: s, len: what}
	m.level++
	e, err := m.match(s, p)
	if err == nil && e < 0 {
		m.level--
	}
	return e, err
}

func (m *luaMatcher) endCapture(s, p int) (int, error) {
	l := -1
	for i := m.level - 1; i >= 0; i-- {
		if m.capture[i].len == capUnfinished {
			l = i
			break
		}
	}
	if l < 0 {
		return -1, fmt.Errorf("%w: invalid pattern capture", errPattern)
	}
	m.capture[l].len = s - m.capture[l].init
	e, err := m.match(s, p)
	if err == nil && e < 0 {
		m.capture[l].len = capUnfinished
	}
	return e, err
}

func (m *luaMatcher) balance(s, p int) (int, error) {
	if p+1 >= len(m.pat) {
		return -1, fmt.Errorf("%w: unbalanced pattern", errPattern)
	}
	if s >= len(m.src) || m.src[s] != m.pat[p] {
		return -1, nil
	}
	b, e := m.pat[p], m.pat[p+1]
	cont := 1
	for s++; s < len(m.src); s++ {
		switch m.src[s] {
		case e:
			cont--
			if cont == 0 {
				return s + 1, nil
			}
		case b:
			cont++
		}
	}
	return -1, nil
}

func (m *luaMatcher) backRef(s int, digit byte) (int, error) {
	l := int(digit) - '1'
	if l < 0 || l >= m.level || m.capture[l].len == capUnfinished {
		return -1, fmt.Errorf("%w: invalid capture index", errPattern)
	}
	c := m.capture[l]
	n := c.len
	if c.len == capPosition {
		// A position capture has no text; Lua compares zero bytes.
		n = 0
	}
	if len(m.src)-s >= n && m.src[c.init:c.init+n] == m.src[s:s+n] {
		return s + n, nil
	}
	return -1, nil
}
