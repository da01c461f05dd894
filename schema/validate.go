package schema

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Validation interprets the declaration the way Kong's Schema:validate
// (kong/db/schema/init.lua) does with full_check, message for message:
// per-field type checks and validators in Kong's order, required fields,
// then the record's entity checks with Kong's run conditions. Errors are
// collected in a tree shaped like Kong's (field name → message or sub-tree,
// "@entity" → the record's entity-check messages) and flattened into
// "path: message" strings.

// Kong's messages (validation_errors in kong/db/schema/init.lua).
const (
	msgRequired          = "required field missing"
	msgUnknown           = "unknown field"
	msgRequiredForCheck  = "field required for entity check"
	msgEq                = "value must be %s"
	msgGt                = "value must be greater than %s"
	msgBetween           = "value should be between %d and %d"
	msgLenMin            = "length must be at least %d"
	msgMatch             = "invalid value: %s"
	msgOneOf             = "expected one of: %s"
	msgConditional       = "failed conditional validation given value of field '%s'"
	msgAtLeastOneOf      = "at least one of these fields must be non-empty: %s"
	msgCondAtLeastOneOf  = "at least one of these fields must be non-empty: %s"
	msgOnlyOneOf         = "exactly one of these fields must be non-empty: %s"
	msgMutuallyRequired  = "all or none of these fields must be set: %s"
	entityKey            = "@entity"
	defaultStringLenMin  = 1
	msgExpectedArray     = "expected an array"
	msgExpectedSet       = "expected a set"
	msgExpectedMap       = "expected a map"
	msgExpectedRecord    = "expected a record"
	msgExpectedString    = "expected a string"
	msgExpectedNumber    = "expected a number"
	msgExpectedBoolean   = "expected a boolean"
	msgExpectedInteger   = "expected an integer"
	msgInvalidSchemaType = "invalid type: %s"
)

// errTree mirrors Kong's error table: values are a message (string), a
// nested errTree, or, under "@entity", the record's entity-check messages.
type errTree map[string]any

func (t errTree) addEntity(msg string) {
	list, _ := t[entityKey].([]string)
	t[entityKey] = append(list, msg)
}

// set is Kong's set_field on the error table: a dotted path creates
// nested tables.
func (t errTree) set(path string, e any) {
	head, tail, dotted := cutDot(path)
	if !dotted {
		t[head] = e
		return
	}
	sub, ok := t[head].(errTree)
	if !ok {
		sub = errTree{}
		t[head] = sub
	}
	sub.set(tail, e)
}

// validateField is Schema:validate_field. ov, when not nil, is a
// conditional's if_match/then_match laid over f (Kong reads attributes the
// match lacks from the field through a metatable). It returns nil, a
// message, or an errTree.
func validateField(f *Field, ov *Match, v any) any {
	a := effective(f, ov)
	if v == any(null) {
		if a.eq != nil {
			return fmt.Sprintf(msgEq, luaString(a.eq))
		}
		if a.required {
			return msgRequired
		}
		return nil
	}
	switch f.Type {
	case Array, Set:
		seq, ok := asSequence(v)
		if !ok {
			if f.Type == Set {
				return msgExpectedSet
			}
			return msgExpectedArray
		}
		if e := validateElements(f.Elements, seq); e != nil {
			return e
		}
	case Map:
		m, ok := asTable(v)
		if !ok {
			return msgExpectedMap
		}
		if e := validateMap(f, m); e != nil {
			return e
		}
	case Record:
		rec, ok := asTable(v)
		if !ok {
			return msgExpectedRecord
		}
		if e := validateRecord(f.Fields, f.EntityChecks, processRecord(f.Fields, rec)); e != nil {
			return e
		}
	case Integer:
		n, ok := asNumber(v)
		if !ok || n != math.Floor(n) || math.IsInf(n, 0) {
			return msgExpectedInteger
		}
	case Number:
		if _, ok := asNumber(v); !ok {
			return msgExpectedNumber
		}
	case String:
		s, ok := v.(string)
		if !ok {
			return msgExpectedString
		}
		if f.Referenceable && isReference(s) {
			return nil
		}
	case Boolean:
		if _, ok := v.(bool); !ok {
			return msgExpectedBoolean
		}
	default:
		return fmt.Sprintf(msgInvalidSchemaType, f.Type)
	}
	if msg := runValidators(f, a, v); msg != "" {
		return msg
	}
	return nil
}

// attrs are a field's validators after a match is laid over it.
type attrs struct {
	eq       any
	required bool
	oneOf    []string
	between  *Range
	gt       *float64
	match    string
}

func effective(f *Field, ov *Match) attrs {
	a := attrs{required: f.Required, oneOf: f.OneOf, between: f.Between, gt: f.Gt, match: f.Match}
	if ov == nil {
		return a
	}
	if ov.Eq != nil {
		a.eq = ov.Eq
	}
	if ov.Required {
		a.required = true
	}
	if ov.OneOf != nil {
		a.oneOf = ov.OneOf
	}
	if ov.Between != nil {
		a.between = ov.Between
	}
	if ov.Gt != nil {
		a.gt = ov.Gt
	}
	if ov.Match != "" {
		a.match = ov.Match
	}
	return a
}

// runValidators runs the validators in Kong's validators_order (eq,
// one_of, gt, between, len_min, match); the first failure wins.
func runValidators(f *Field, a attrs, v any) string {
	if a.eq != nil && !luaEqual(v, a.eq) {
		return fmt.Sprintf(msgEq, luaString(a.eq))
	}
	if a.oneOf != nil && !oneOf(v, a.oneOf) {
		return fmt.Sprintf(msgOneOf, strings.Join(a.oneOf, ", "))
	}
	n, isNum := asNumber(v)
	if a.gt != nil && isNum && !(n > *a.gt) {
		return fmt.Sprintf(msgGt, luaNumber(*a.gt))
	}
	if a.between != nil && isNum && (n < a.between.Min || n > a.between.Max) {
		return fmt.Sprintf(msgBetween, int64(a.between.Min), int64(a.between.Max))
	}
	if lenMin, ok := lengthMin(f); ok {
		if l, measurable := length(v); measurable && l < lenMin {
			return fmt.Sprintf(msgLenMin, lenMin)
		}
	}
	if s, isStr := v.(string); isStr && a.match != "" {
		if ok, err := luaMatch(s, a.match); !ok || err != nil {
			return fmt.Sprintf(msgMatch, s)
		}
	}
	return ""
}

// lengthMin is a field's len_min; strings default to 1 (Kong refuses empty
// strings unless a schema says otherwise).
func lengthMin(f *Field) (int, bool) {
	if f.LenMin != nil {
		return *f.LenMin, true
	}
	if f.Type == String {
		return defaultStringLenMin, true
	}
	return 0, false
}

func length(v any) (int, bool) {
	switch t := v.(type) {
	case string:
		return len(t), true
	case []any:
		return len(t), true
	case map[string]any:
		return len(t), true
	}
	return 0, false
}

func oneOf(v any, options []string) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

// validateElements checks array/set elements; elements are required (a
// null element is an error). Errors are keyed by 1-based index, as in Lua.
func validateElements(el *Field, seq []any) any {
	if el == nil {
		return nil
	}
	req := *el
	req.Required = true
	errs := errTree{}
	for i, e := range seq {
		if msg := validateField(&req, nil, e); msg != nil {
			errs[strconv.Itoa(i+1)] = msg
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// validateMap checks keys and values, returning the first error in key
// order (Kong stops at the first, in table order).
func validateMap(f *Field, m map[string]any) any {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if f.Keys != nil {
			kf := *f.Keys
			kf.Required = true
			if e := validateField(&kf, nil, k); e != nil {
				return e
			}
		}
		if f.Values != nil {
			vf := *f.Values
			vf.Required = true
			if e := validateField(&vf, nil, m[k]); e != nil {
				return e
			}
		}
	}
	return nil
}

// validateRecord is Schema:validate(input, full_check=true) for one
// record whose defaults are applied. It returns nil or the error tree.
func validateRecord(fields []Field, checks []Check, rec map[string]any) errTree {
	errs := errTree{}
	for k, v := range rec {
		f := lookup(fields, k)
		if f == nil || strings.Contains(k, ".") {
			errs[k] = msgUnknown
			continue
		}
		if e := validateField(f, nil, v); e != nil {
			errs[k] = e
		}
	}
	for i := range fields {
		f := &fields[i]
		if v, ok := rec[f.Name]; f.Required && (!ok || v == any(null)) {
			errs[f.Name] = msgRequired
		}
	}
	for _, c := range checks {
		runCheck(fields, rec, c, errs)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// checkRun holds how Kong runs an entity checker (Schema.entity_checkers).
type checkRun struct {
	fields      []string
	required    map[string]bool
	withMissing bool
	withInvalid bool
}

func checkRunOf(c Check) checkRun {
	all := func(names []string) map[string]bool {
		m := make(map[string]bool, len(names))
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	switch {
	case c.MutuallyRequired != nil:
		return checkRun{fields: c.MutuallyRequired, required: all(c.MutuallyRequired), withMissing: true}
	case c.AtLeastOneOf != nil:
		return checkRun{fields: c.AtLeastOneOf, required: all(c.AtLeastOneOf), withMissing: true, withInvalid: true}
	case c.OnlyOneOf != nil:
		return checkRun{fields: c.OnlyOneOf, required: all(c.OnlyOneOf), withInvalid: true}
	case c.Conditional != nil:
		k := c.Conditional
		return checkRun{fields: []string{k.IfField, k.ThenField},
			required: map[string]bool{k.IfField: true}, withInvalid: true}
	case c.ConditionalAtLeastOneOf != nil:
		k := c.ConditionalAtLeastOneOf
		// Kong declares this checker's required_fields as an array
		// ({ "if_field" }) while run_entity_check indexes it by name, so in
		// effect no field is required.
		return checkRun{fields: append([]string{k.IfField}, k.ThenAtLeastOneOf...),
			required: map[string]bool{}, withMissing: true, withInvalid: true}
	}
	return checkRun{}
}

// runCheck is run_entity_check with full_check=true.
func runCheck(fields []Field, rec map[string]any, c Check, errs errTree) {
	run := checkRunOf(c)
	var missing []string
	allNil, allOK := true, true
	for _, name := range run.fields {
		v, present := getField(rec, name)
		if !present {
			if !run.withMissing && run.required[name] {
				missing = append(missing, name)
			}
		} else {
			allNil = false
			// A vault reference is resolved only at run time: Kong skips
			// the check rather than judge the reference's text.
			if f := lookup(fields, name); f != nil && f.Type == String && f.Referenceable {
				if s, ok := v.(string); ok && isReference(s) {
					return
				}
			}
		}
		// Kong looks the error up by the literal (possibly dotted) name.
		if _, failed := errs[name]; failed {
			allOK = false
		}
	}
	if !allOK && !run.withInvalid {
		return
	}
	if allNil && !run.withMissing {
		return
	}
	if missing != nil {
		for _, name := range missing {
			errs.set(name, msgRequiredForCheck)
		}
		return
	}
	if msg := checkFails(fields, rec, c, errs); msg != "" {
		errs.addEntity(msg)
	}
}

// checkFails runs one checker's function and returns its entity message,
// or "" when the check passes.
func checkFails(fields []Field, rec map[string]any, c Check, errs errTree) string {
	switch {
	case c.MutuallyRequired != nil:
		n := countNonEmpty(rec, c.MutuallyRequired)
		if n == 0 || n == len(c.MutuallyRequired) {
			return ""
		}
		return fmt.Sprintf(msgMutuallyRequired, quotedList(c.MutuallyRequired))
	case c.AtLeastOneOf != nil:
		if countNonEmpty(rec, c.AtLeastOneOf) > 0 {
			return ""
		}
		return fmt.Sprintf(msgAtLeastOneOf, quotedList(c.AtLeastOneOf))
	case c.OnlyOneOf != nil:
		if countNonEmpty(rec, c.OnlyOneOf) == 1 {
			return ""
		}
		return fmt.Sprintf(msgOnlyOneOf, quotedList(c.OnlyOneOf))
	case c.Conditional != nil:
		return conditionalFails(fields, rec, c.Conditional, errs)
	case c.ConditionalAtLeastOneOf != nil:
		k := c.ConditionalAtLeastOneOf
		v, present := getField(rec, k.IfField)
		if !present || validateField(lookupOrAny(fields, k.IfField), &k.IfMatch, v) != nil {
			return ""
		}
		if countNonEmpty(rec, k.ThenAtLeastOneOf) > 0 {
			return ""
		}
		return fmt.Sprintf(msgCondAtLeastOneOf, quotedList(k.ThenAtLeastOneOf))
	}
	return ""
}

// conditionalFails is the `conditional` checker: it also records the
// failure on then_field itself, as Kong does.
func conditionalFails(fields []Field, rec map[string]any, k *Conditional, errs errTree) string {
	ifValue, _ := getField(rec, k.IfField)
	thenValue, present := getField(rec, k.ThenField)
	if !present {
		thenValue = null
	}
	if validateField(lookupOrAny(fields, k.IfField), &k.IfMatch, ifValue) != nil {
		return ""
	}
	failed := fmt.Sprintf(msgConditional, k.IfField)
	if k.ThenMatch.Required && thenValue == any(null) {
		errs.set(k.ThenField, msgRequired)
		return failed
	}
	if e := validateField(lookupOrAny(fields, k.ThenField), &k.ThenMatch, thenValue); e != nil {
		errs.set(k.ThenField, e)
		return failed
	}
	return ""
}

// lookupOrAny resolves a check's field; a declaration naming a field that
// does not exist is caught by the declaration tests, and here fails every
// match rather than panicking.
func lookupOrAny(fields []Field, path string) *Field {
	if f := lookup(fields, path); f != nil {
		return f
	}
	return &Field{Name: path, Type: "undeclared"}
}

func countNonEmpty(rec map[string]any, names []string) int {
	n := 0
	for _, name := range names {
		if v, present := getField(rec, name); isNonEmpty(v, present) {
			n++
		}
	}
	return n
}

// quotedList is Kong's quoted_list: 'a', 'b', 'c'.
func quotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, ", ")
}

// flatten turns an error tree into "path: message" lines: at each level
// the record's entity messages first (under the record's own path, or
// "@entity" at the top), then fields in sorted order (numeric keys in
// numeric order), depth first.
func flatten(prefix string, t errTree, out []string) []string {
	if list, ok := t[entityKey].([]string); ok {
		path := prefix
		if path == "" {
			path = entityKey
		}
		for _, msg := range list {
			out = append(out, path+": "+msg)
		}
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		if k != entityKey {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	for _, k := range keys {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		switch e := t[k].(type) {
		case string:
			out = append(out, path+": "+e)
		case errTree:
			out = flatten(path, e, out)
		}
	}
	return out
}

func keyLess(a, b string) bool {
	na, errA := strconv.Atoi(a)
	nb, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return na < nb
	}
	return a < b
}
