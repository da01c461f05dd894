package kongschema

import (
	"fmt"
	"strings"
)

// entityCheck is one compiled entry of an entity_checks list.
type entityCheck struct {
	name string
	list []string // the field list of list-shaped checkers

	// conditional and conditional_at_least_one_of
	ifField   string
	thenField string
	ifMatch   *field
	thenMatch *field
	elseMatch *field
	// thenRequired is then_match.required as Kong reads it once the
	// clause's metatable points at the field (every run but the first).
	thenRequired    bool
	thenErr         *string
	elseThenErr     *string
	thenAtLeast     []string
	elseThenAtLeast []string

	// mutually_exclusive_sets
	set1, set2 []string
}

// checker holds the per-checker flags of Kong's Schema.entity_checkers.
type checker struct {
	runWithMissing bool
	runWithInvalid bool
}

var checkers = map[string]checker{
	"at_least_one_of":             {runWithMissing: true, runWithInvalid: true},
	"conditional_at_least_one_of": {runWithMissing: true, runWithInvalid: true},
	"only_one_of":                 {runWithInvalid: true},
	"distinct":                    {runWithInvalid: true},
	"conditional":                 {runWithInvalid: true},
	"mutually_required":           {runWithMissing: true},
	"mutually_exclusive":          {runWithMissing: true},
	"mutually_exclusive_sets":     {runWithMissing: true},
}

// checkerNames lists Kong's entity checkers in declaration order (the order
// of the metaschema's "exactly one of" message).
var checkerNames = []string{
	"at_least_one_of", "conditional_at_least_one_of", "only_one_of", "distinct",
	"conditional", "custom_entity_check", "mutually_required", "mutually_exclusive",
	"mutually_exclusive_sets",
}

func stringList(v any) []string {
	var out []string
	for _, e := range asList(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func optString(m map[string]any, k string) *string {
	if s, ok := m[k].(string); ok {
		return &s
	}
	return nil
}

// compileChecks compiles a record's entity_checks. owner is the record the
// checks are declared on: match clauses inherit from its fields.
func compileChecks(v any, owner *field) ([]entityCheck, error) {
	var out []entityCheck
	for _, item := range asList(v) {
		m, _ := item.(map[string]any)
		for _, name := range sortedKeys(m) {
			arg := m[name]
			if arg == nil {
				continue
			}
			c := entityCheck{name: name}
			switch name {
			case "at_least_one_of", "only_one_of", "distinct", "mutually_required", "mutually_exclusive":
				c.list = stringList(arg)
			case "mutually_exclusive_sets":
				a, _ := arg.(map[string]any)
				c.set1, c.set2 = stringList(a["set1"]), stringList(a["set2"])
			case "conditional", "conditional_at_least_one_of":
				a, _ := arg.(map[string]any)
				c.ifField, _ = a["if_field"].(string)
				c.thenField, _ = a["then_field"].(string)
				c.thenErr = optString(a, "then_err")
				c.elseThenErr = optString(a, "else_then_err")
				c.thenAtLeast = stringList(a["then_at_least_one_of"])
				c.elseThenAtLeast = stringList(a["else_then_at_least_one_of"])
				var err error
				clause := func(k string) map[string]any {
					cl, _ := a[k].(map[string]any)
					if cl == nil {
						cl = map[string]any{}
					}
					return cl
				}
				ifBase := owner.fieldAtPath(c.ifField)
				if c.ifMatch, err = withOverlay(ifBase, clause("if_match")); err != nil {
					return nil, fmt.Errorf("entity check %s: %w", name, err)
				}
				if _, ok := a["else_match"].(map[string]any); ok {
					if c.elseMatch, err = withOverlay(ifBase, clause("else_match")); err != nil {
						return nil, fmt.Errorf("entity check %s: %w", name, err)
					}
				}
				if name == "conditional" {
					if c.thenMatch, err = withOverlay(owner.fieldAtPath(c.thenField), clause("then_match")); err != nil {
						return nil, fmt.Errorf("entity check %s: %w", name, err)
					}
					c.thenRequired = c.thenMatch.required
				}
			case "custom_entity_check":
				return nil, fmt.Errorf("entity check custom_entity_check needs a Lua function, which a JSON schema cannot carry")
			default:
				return nil, fmt.Errorf("unknown entity check %q", name)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// fieldsToCheck lists the fields a check reads and which of them must be
// present (Kong's field_sources / required_fields).
func (c *entityCheck) fieldsToCheck() (names []string, required map[string]bool) {
	required = map[string]bool{}
	switch c.name {
	case "conditional":
		names = []string{c.ifField, c.thenField}
		required[c.ifField] = true
	case "conditional_at_least_one_of":
		names = append([]string{c.ifField}, c.thenAtLeast...)
		names = append(names, c.elseThenAtLeast...)
	case "mutually_exclusive_sets":
		names = append(append(names, c.set1...), c.set2...)
	default:
		names = c.list
		for _, n := range c.list {
			required[n] = true
		}
	}
	return names, required
}

// runEntityChecks is Kong's run_entity_checks for one record.
func (v *validator) runEntityChecks(rec *field, checks []entityCheck, input map[string]any, fullCheck bool, errs *errTable) {
	for i := range checks {
		v.runEntityCheck(rec, &checks[i], input, fullCheck, errs)
	}
}

// runEntityCheck is Kong's run_entity_check: it decides whether the check
// runs at all (missing fields, fields already in error, nothing given on an
// update) and records the outcome.
func (v *validator) runEntityCheck(rec *field, c *entityCheck, input map[string]any, fullCheck bool, errs *errTable) {
	ck := checkers[c.name]
	names, required := c.fieldsToCheck()
	var missing []string
	allNil, allOK := true, true
	for _, name := range names {
		val, present := getPath(input, name)
		if !present {
			f := rec.fieldAtPath(name)
			if !ck.runWithMissing && required[name] && (f == nil || !f.nilable) {
				missing = append(missing, name)
			}
		} else {
			allNil = false
			// A vault reference in a referenceable field is resolved
			// later; Kong skips the check rather than judge the
			// reference.
			if f := rec.fieldAtPath(name); f != nil && f.typ == "string" && f.referenceable && isReference(val) {
				return
			}
		}
		// Kong looks the (possibly dotted) name up as a plain key.
		if _, bad := errs.fields[name]; bad {
			allOK = false
		}
	}
	if !allOK && !ck.runWithInvalid {
		return
	}
	if allNil && !(ck.runWithMissing && fullCheck) {
		return
	}
	if len(missing) > 0 {
		for _, name := range missing {
			errs.setPath(name, v.requiredForEC())
		}
		return
	}

	msg, custom, failed := v.checkFn(rec, c, input, errs)
	if !failed {
		return
	}
	if custom != nil {
		errs.addEntity(*custom)
		return
	}
	errs.addEntity(msg)
}

// checkFn runs the checker itself. It returns the formatted message, a
// user-supplied message (then_err/else_then_err) if any, and whether the
// check failed.
func (v *validator) checkFn(rec *field, c *entityCheck, input map[string]any, errs *errTable) (string, *string, bool) {
	nonEmpty := func(name string) bool {
		val, present := getPath(input, name)
		return isNonEmpty(val, present)
	}
	switch c.name {
	case "at_least_one_of":
		for _, n := range c.list {
			if nonEmpty(n) {
				return "", nil, false
			}
		}
		return fmt.Sprintf(v.atLeastOneOf(), quotedList(c.list)), nil, true
	case "only_one_of":
		count := 0
		for _, n := range c.list {
			if nonEmpty(n) {
				count++
			}
		}
		if count == 1 {
			return "", nil, false
		}
		return fmt.Sprintf(errOnlyOneOf, quotedList(c.list)), nil, true
	case "distinct":
		var seen []any
		for _, n := range c.list {
			val, present := getPath(input, n)
			if !isNonEmpty(val, present) {
				continue
			}
			for _, s := range seen {
				if luaEqual(s, val) {
					return fmt.Sprintf(errDistinct, quotedList(c.list)), nil, true
				}
			}
			seen = append(seen, val)
		}
		return "", nil, false
	case "mutually_required", "mutually_exclusive":
		count := 0
		for _, n := range c.list {
			if nonEmpty(n) {
				count++
			}
		}
		if c.name == "mutually_required" && (count == 0 || count == len(c.list)) {
			return "", nil, false
		}
		if c.name == "mutually_exclusive" && count <= 1 {
			return "", nil, false
		}
		format := errMutuallyReq
		if c.name == "mutually_exclusive" {
			format = errMutuallyExcl
		}
		return fmt.Sprintf(format, quotedList(c.list)), nil, true
	case "mutually_exclusive_sets":
		var ne1, ne2 []string
		for _, n := range c.set1 {
			if nonEmpty(n) {
				ne1 = append(ne1, n)
			}
		}
		for _, n := range c.set2 {
			if nonEmpty(n) {
				ne2 = append(ne2, n)
			}
		}
		if len(ne1) > 0 && len(ne2) > 0 {
			return fmt.Sprintf(errMutuallyExSets, fmt.Sprintf("(%s), (%s)", quotedList(ne1), quotedList(ne2))), nil, true
		}
		return "", nil, false
	case "conditional":
		return v.conditional(c, input, errs)
	case "conditional_at_least_one_of":
		return v.conditionalAtLeastOneOf(c, input)
	}
	return fmt.Sprintf(errEntityCheck, c.name, "..."), nil, true
}

// matches runs a match clause against a value the way Kong's conditional
// checkers call validate_field: an absent value matches nothing, while
// null is judged by the clause (and so matches most clauses).
func (v *validator) matches(clause *field, val any, present bool) bool {
	if clause == nil || !present {
		return false
	}
	ok, _ := v.validateField(clause, val)
	return ok
}

func (v *validator) conditional(c *entityCheck, input map[string]any, errs *errTable) (string, *string, bool) {
	ifVal, ifPresent := getPath(input, c.ifField)
	thenVal, _ := getPath(input, c.thenField) // absent reads as null here
	if !v.matches(c.ifMatch, ifVal, ifPresent) {
		return "", nil, false
	}
	failMsg := fmt.Sprintf(errConditional, c.ifField)
	if c.thenRequired && thenVal == nil {
		errs.setPath(c.thenField, errRequired)
		return failMsg, nil, true
	}
	if ok, err := v.validateField(c.thenMatch, thenVal); !ok {
		errs.setPath(c.thenField, err)
		if c.thenErr != nil {
			custom := luaFormatS(*c.thenErr, c.ifField)
			return failMsg, &custom, true
		}
		return failMsg, nil, true
	}
	return "", nil, false
}

func (v *validator) conditionalAtLeastOneOf(c *entityCheck, input map[string]any) (string, *string, bool) {
	ifVal, ifPresent := getPath(input, c.ifField)
	if !ifPresent {
		return "", nil, false
	}
	nonEmptyAny := func(names []string) bool {
		for _, n := range names {
			val, present := getPath(input, n)
			if isNonEmpty(val, present) {
				return true
			}
		}
		return false
	}
	fail := func(names []string, custom *string) (string, *string, bool) {
		list := quotedList(names)
		msg := fmt.Sprintf(v.atLeastOneOf(), list)
		if custom != nil {
			s := luaFormatS(*custom, list)
			return msg, &s, true
		}
		return msg, nil, true
	}
	if !v.matches(c.ifMatch, ifVal, ifPresent) {
		if c.elseMatch == nil || !v.matches(c.elseMatch, ifVal, ifPresent) {
			return "", nil, false
		}
		if nonEmptyAny(c.elseThenAtLeast) {
			return "", nil, false
		}
		return fail(c.elseThenAtLeast, c.elseThenErr)
	}
	if nonEmptyAny(c.thenAtLeast) {
		return "", nil, false
	}
	return fail(c.thenAtLeast, c.thenErr)
}

// luaFormatS is string.format for a user message with %s placeholders.
func luaFormatS(format string, arg string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] == '%' && i+1 < len(format) {
			switch format[i+1] {
			case 's':
				b.WriteString(arg)
				i++
				continue
			case '%':
				b.WriteByte('%')
				i++
				continue
			}
		}
		b.WriteByte(format[i])
	}
	return b.String()
}
