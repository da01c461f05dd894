package kongschema

import (
	"fmt"
	"math"
	"regexp"
	"strings"
)

// Kong's validation messages (kong/db/schema/init.lua, validation_errors),
// verbatim.
const (
	errArray          = "expected an array"
	errSet            = "expected a set"
	errMap            = "expected a map"
	errRecord         = "expected a record"
	errString         = "expected a string"
	errNumber         = "expected a number"
	errBoolean        = "expected a boolean"
	errInteger        = "expected an integer"
	errFunction       = "expected a function"
	errEq             = "value must be %s"
	errNe             = "value must not be %s"
	errGt             = "value must be greater than %s"
	errBetween        = "value should be between %s and %s"
	errLenEq          = "length must be %d"
	errLenMin         = "length must be at least %d"
	errLenMax         = "length must be at most %d"
	errMatch          = "invalid value: %s"
	errStartsWith     = "should start with: %s"
	errContains       = "expected to contain: %s"
	errOneOf          = "expected one of: %s"
	errNotOneOf       = "must not be one of: %s"
	errIsRegex        = "not a valid regex: %s"
	errTimestamp      = "expected a valid timestamp"
	errUUID           = "expected a valid UUID"
	errRequired       = "required field missing"
	errUnknown        = "unknown field"
	errRequiredForEC  = "field required for entity check"
	errEntityCheck    = "failed entity check: %s(%s)"
	errConditional    = "failed conditional validation given value of field '%s'"
	errAtLeastOneOf   = "at least one of these fields must be non-empty: %s"
	errOnlyOneOf      = "exactly one of these fields must be non-empty: %s"
	errDistinct       = "values of these fields must be distinct: %s"
	errMutuallyReq    = "all or none of these fields must be set: %s"
	errMutuallyExcl   = "only one or none of these fields must be set: %s"
	errMutuallyExSets = "these sets are mutually exclusive: %s"
	errSchemaType     = "invalid type: %s"
	errAbstract       = "error in schema definition: abstract field was not specialized"
	errMissingPK      = "missing primary key"
)

var uuidRegexp = regexp.MustCompile(`(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// validator runs one Kong validation. updating switches on the "when
// updating" wording Kong's validate_update patches into three messages.
type validator struct {
	updating bool
	// self is the record used to resolve "self"-typed fields (the
	// metaschema's default attribute); see validateFields.
}

func (v *validator) requiredForEC() string {
	if v.updating {
		return errRequiredForEC + " when updating"
	}
	return errRequiredForEC
}

func (v *validator) atLeastOneOf() string {
	if v.updating {
		return "when updating, " + errAtLeastOneOf
	}
	return errAtLeastOneOf
}

// ---- process_auto_fields ------------------------------------------------

type procContext int

const (
	ctxInsert procContext = iota
	ctxUpdate
	// ctxSelect is how Kong reads a stored entity back: like insert, and a
	// null required field (a record someone set to null) is expanded.
	ctxSelect
)

// processRecord is Kong's process_auto_fields for a record (insert or
// update context): it fills absent fields with their default, with null
// when optional, or with the expanded structure of a required record; it
// walks nested records, arrays, sets and maps. Keys unknown to the schema
// are kept, for validate to report. The input is not modified.
func processRecord(rec *field, obj map[string]any, ctx procContext) map[string]any {
	out := make(map[string]any, len(obj)+len(rec.fields))
	for k, v := range obj {
		out[k] = deepCopy(v)
	}
	for _, nf := range rec.fields {
		val, present := out[nf.name]
		val, present = adjustField(nf.f, val, present, ctx)
		if present {
			out[nf.name] = val
		} else {
			delete(out, nf.name)
		}
	}
	return out
}

// adjustField is Kong's adjust_field_for_context.
func adjustField(f *field, val any, present bool, ctx procContext) (any, bool) {
	if ctx == ctxSelect && present && val == nil && f.required {
		return handleMissing(f)
	}
	if f.abstract {
		return val, present
	}
	if f.typ == "record" {
		recurse := present && val != nil
		if ctx == ctxInsert && !present && f.required {
			recurse = true
		}
		if recurse {
			if !present {
				val, present = handleMissing(f)
			}
			if m, ok := val.(map[string]any); ok {
				return processRecord(f, m, ctx), true
			}
			if l, ok := val.([]any); ok && len(l) == 0 {
				// cjson decodes [] and {} alike; an empty record it is.
				return processRecord(f, map[string]any{}, ctx), true
			}
		}
	} else if isTable(val) {
		switch f.typ {
		case "array":
			if m, ok := val.(map[string]any); ok && len(m) == 0 {
				val = []any{}
			}
			val = adjustElements(f.elements, val, ctx)
		case "set":
			if m, ok := val.(map[string]any); ok && len(m) == 0 {
				val = []any{}
			}
			val = adjustElements(f.elements, makeSet(val), ctx)
		case "map":
			if m, ok := val.(map[string]any); ok && f.values != nil {
				for k, e := range m {
					m[k], _ = adjustField(f.values, e, true, ctx)
				}
			}
		}
	}
	if !present && ctx != ctxUpdate {
		return handleMissing(f)
	}
	return val, present
}

func adjustElements(elem *field, val any, ctx procContext) any {
	l, ok := val.([]any)
	if !ok || elem == nil {
		return val
	}
	for i, e := range l {
		l[i], _ = adjustField(elem, e, true, ctx)
	}
	return l
}

// makeSet removes duplicate scalars from a sequence, keeping first
// occurrences (Kong's make_set; tables are never equal to each other).
func makeSet(val any) any {
	l, ok := val.([]any)
	if !ok {
		return val
	}
	out := make([]any, 0, len(l))
	for _, e := range l {
		dup := false
		for _, o := range out {
			if luaEqual(o, e) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, e)
		}
	}
	return out
}

// handleMissing is Kong's handle_missing_field. It returns the value for an
// absent field and whether the field is then present (nil, true = null).
func handleMissing(f *field) (any, bool) {
	if f.hasDef {
		d := deepCopy(f.def)
		if (f.typ == "array" || f.typ == "set") && isSequence(d) {
			if _, ok := d.(map[string]any); ok {
				d = []any{}
			}
		}
		return d, true
	}
	if f.nilable {
		return nil, false
	}
	if !f.required {
		return nil, true
	}
	if f.abstract {
		return nil, false
	}
	if f.typ == "record" {
		return processRecord(f, map[string]any{}, ctxInsert), true
	}
	return nil, false
}

// ---- validate -----------------------------------------------------------

// validateRecord is Kong's Schema:validate on a record's (processed) value.
// It returns nil when the value is valid.
func (v *validator) validateRecord(rec *field, input map[string]any, fullCheck bool) *errTable {
	errs := v.validateFields(rec, input)
	for _, nf := range rec.fields {
		if !nf.f.required {
			continue
		}
		val, present := input[nf.name]
		if (present && val == nil) || (fullCheck && !present) {
			errs.fields[nf.name] = errRequired
		}
	}
	v.runEntityChecks(rec, rec.checks, input, fullCheck, errs)
	if errs.empty() {
		return nil
	}
	return errs
}

// validateFields checks each present key against its field definition.
func (v *validator) validateFields(rec *field, input map[string]any) *errTable {
	errs := newErrTable()
	for _, k := range sortedKeys(input) {
		val := input[k]
		f := rec.fieldByName(k)
		if f == nil {
			errs.fields[k] = errUnknown
			continue
		}
		if f.typ == "self" {
			// The metaschema's "default" attribute: the value must be
			// valid for the very field definition being checked.
			self, err := compileField(input)
			if err != nil {
				errs.fields[k] = "error in schema prevents from validating this field"
				continue
			}
			if ok, e := v.validateField(self, val); !ok {
				errs.fields[k] = e
			}
			continue
		}
		if ok, e := v.validateField(f, val); !ok {
			errs.fields[k] = e
		}
	}
	return errs
}

// validateField is Kong's Schema:validate_field. The error is a message
// string, an *errTable (record) or an errList (elements).
func (v *validator) validateField(f *field, val any) (bool, any) {
	withErr := func(msg any) (bool, any) {
		if f.errMsg != nil {
			return false, *f.errMsg
		}
		return false, msg
	}
	if val == nil {
		if f.hasNe && f.ne == nil {
			return withErr(fmt.Sprintf(errNe, "null"))
		}
		if f.hasEq && f.eq != nil {
			return false, fmt.Sprintf(errEq, luaToString(f.eq))
		}
		if f.required {
			return false, errRequired
		}
		return true, nil
	}
	if f.hasEq && f.eq == nil {
		return withErr(fmt.Sprintf(errEq, "null"))
	}
	if f.abstract {
		return false, errAbstract
	}

	strLenMin := false
	switch f.typ {
	case "array", "set":
		if !isSequence(val) {
			if f.typ == "array" {
				return false, errArray
			}
			return false, errSet
		}
		if el := asList(val); f.elements != nil {
			elErrs := errList{}
			for i, e := range el {
				if ok, err := v.validateElement(f.elements, e); !ok {
					elErrs[i+1] = err
				}
			}
			if len(elErrs) > 0 {
				return false, elErrs
			}
		}
	case "map":
		if !isTable(val) {
			return false, errMap
		}
		if f.keys != nil && f.values != nil {
			if ok, err := v.validateMap(f, val); !ok {
				return false, err
			}
		}
	case "record":
		if !isTable(val) {
			return false, errRecord
		}
		obj, ok := val.(map[string]any)
		if !ok {
			obj = map[string]any{}
			for i, e := range asList(val) {
				obj[fmt.Sprint(i+1)] = e
			}
		}
		copied := processRecord(f, obj, ctxInsert)
		if errs := v.validateRecord(f, copied, true); errs != nil {
			return false, errs
		}
	case "foreign":
		if errs := validatePrimaryKey(val); errs != nil {
			return false, errs
		}
	case "integer":
		n, ok := val.(float64)
		if !ok || n != math.Floor(n) || math.IsInf(n, 0) {
			return false, errInteger
		}
	case "number":
		if _, ok := val.(float64); !ok {
			return false, errNumber
		}
	case "boolean":
		if _, ok := val.(bool); !ok {
			return false, errBoolean
		}
	case "string":
		if _, ok := val.(string); !ok {
			return false, errString
		}
		// Kong: "empty strings are not accepted by default".
		strLenMin = f.lenMin == nil
		if f.referenceable && isReference(val) {
			return true, nil
		}
	case "function":
		return false, errFunction
	case "any":
	default:
		return false, fmt.Sprintf(errSchemaType, f.typ)
	}
	if ok, msg := v.runValidators(f, val, strLenMin); !ok {
		return withErr(msg)
	}
	return true, nil
}

// validateElement validates an array/set element, which Kong marks
// required (so null elements fail).
func (v *validator) validateElement(elem *field, val any) (bool, any) {
	if !elem.required {
		cp := *elem
		cp.required = true
		return v.validateField(&cp, val)
	}
	return v.validateField(elem, val)
}

// validateMap checks keys and values; Kong returns the first error alone.
func (v *validator) validateMap(f *field, val any) (bool, any) {
	check := func(k any, e any) (bool, any) {
		if ok, err := v.validateElement(f.keys, k); !ok {
			return false, err
		}
		return v.validateElement(f.values, e)
	}
	switch m := val.(type) {
	case map[string]any:
		for _, k := range sortedKeys(m) {
			if ok, err := check(k, m[k]); !ok {
				return false, err
			}
		}
	case []any:
		for i, e := range m {
			if ok, err := check(float64(i+1), e); !ok {
				return false, err
			}
		}
	}
	return true, nil
}

// validatePrimaryKey checks a foreign key value ({"id": "<uuid>"}), as
// routes/services/consumers' validate_primary_key(value, true) does.
func validatePrimaryKey(val any) *errTable {
	errs := newErrTable()
	m, _ := val.(map[string]any)
	id, present := m["id"]
	switch {
	case !present || id == nil && m == nil:
		errs.fields["id"] = errMissingPK
	case id == nil:
		errs.fields["id"] = errRequired
	default:
		s, ok := id.(string)
		if !ok {
			errs.fields["id"] = errString
		} else if len(s) != 36 || !uuidRegexp.MatchString(s) {
			errs.fields["id"] = errUUID
		}
	}
	if errs.empty() {
		return nil
	}
	return errs
}

// runValidators applies the validators in Kong's validators_order.
func (v *validator) runValidators(f *field, val any, strLenMin bool) (bool, string) {
	if f.hasEq && !luaEqual(val, f.eq) {
		return false, fmt.Sprintf(errEq, luaToString(f.eq))
	}
	if f.hasNe && luaEqual(val, f.ne) {
		return false, fmt.Sprintf(errNe, luaToString(val))
	}
	if f.hasNotOneOf {
		for _, o := range f.notOneOf {
			if luaEqual(val, o) {
				return false, fmt.Sprintf(errNotOneOf, concatList(f.notOneOf))
			}
		}
	}
	if f.hasOneOf {
		found := false
		for _, o := range f.oneOf {
			if luaEqual(val, o) {
				found = true
				break
			}
		}
		if !found {
			return false, fmt.Sprintf(errOneOf, concatList(f.oneOf))
		}
	}
	n, isNum := val.(float64)
	s, isStr := val.(string)
	if f.gt != nil {
		if !isNum || !(n > *f.gt) {
			return false, fmt.Sprintf(errGt, luaNumber(*f.gt))
		}
	}
	if f.timestamp && (!isNum || !(n > 0)) {
		return false, errTimestamp
	}
	if f.uuid && (!isStr || len(s) != 36 || !uuidRegexp.MatchString(s)) {
		return false, errUUID
	}
	if f.isRegex {
		if _, err := regexp.Compile(s); !isStr || err != nil {
			return false, fmt.Sprintf(errIsRegex, luaToString(val))
		}
	}
	if f.between != nil {
		if !isNum || n < f.between[0] || n > f.between[1] {
			return false, fmt.Sprintf(errBetween, luaInt(f.between[0]), luaInt(f.between[1]))
		}
	}
	length := valueLen(val)
	if f.lenEq != nil && length != *f.lenEq {
		return false, fmt.Sprintf(errLenEq, *f.lenEq)
	}
	minLen := f.lenMin
	if strLenMin {
		one := 1
		minLen = &one
	}
	if minLen != nil && length < *minLen {
		return false, fmt.Sprintf(errLenMin, *minLen)
	}
	if f.lenMax != nil && length > *f.lenMax {
		return false, fmt.Sprintf(errLenMax, *f.lenMax)
	}
	if f.startsWith != nil && !strings.HasPrefix(s, *f.startsWith) {
		return false, fmt.Sprintf(errStartsWith, *f.startsWith)
	}
	if f.notMatch != nil && isStr && f.notMatch.match(s) {
		return false, fmt.Sprintf(errMatch, s)
	}
	for _, pe := range f.matchNone {
		if isStr && pe.pattern.match(s) {
			return false, pe.err
		}
	}
	if f.match != nil && (!isStr || !f.match.match(s)) {
		return false, fmt.Sprintf(errMatch, luaToString(val))
	}
	for _, pe := range f.matchAll {
		if !isStr || !pe.pattern.match(s) {
			return false, pe.err
		}
	}
	if f.matchAny != nil {
		ok := false
		for _, p := range f.matchAny.patterns {
			if isStr && p.match(s) {
				ok = true
				break
			}
		}
		if !ok {
			return false, f.matchAny.err
		}
	}
	if f.hasContains {
		found := false
		for _, e := range asList(val) {
			if luaEqual(e, f.contains) {
				found = true
				break
			}
		}
		if !found {
			return false, fmt.Sprintf(errContains, luaToString(f.contains))
		}
	}
	if f.custom != "" && isStr {
		if msg := customValidate(f.custom, s); msg != "" {
			return false, msg
		}
	}
	if len(f.mutexSubset) > 0 {
		if msg := mutuallyExclusiveSubsets(val, f.mutexSubset); msg != "" {
			return false, msg
		}
	}
	return true, ""
}

// valueLen is Kong's make_length_validator length: bytes of a string,
// elements of an array, entries of a map.
func valueLen(val any) int {
	switch x := val.(type) {
	case string:
		return len(x)
	case []any:
		return len(x)
	case map[string]any:
		return len(x)
	}
	return 0
}

// concatList is Lua's table.concat(list, ", ").
func concatList(l []any) string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = luaToString(e)
	}
	return strings.Join(parts, ", ")
}

func mutuallyExclusiveSubsets(val any, subsets [][]string) string {
	owner := map[string]int{}
	for i, set := range subsets {
		for _, e := range set {
			owner[e] = i
		}
	}
	var members [][]string
	seen := map[int]bool{}
	for _, e := range asList(val) {
		s, ok := e.(string)
		if !ok {
			continue
		}
		if i, ok := owner[s]; ok && !seen[i] {
			seen[i] = true
			members = append(members, subsets[i])
		}
	}
	if len(members) <= 1 {
		return ""
	}
	parts := make([]string, len(members))
	for i, m := range members {
		parts[i] = "(" + quotedList(m) + ")"
	}
	return fmt.Sprintf(errMutuallyExSets, strings.Join(parts, ", "))
}

// quotedList is Kong's quoted_list: 'a', 'b', 'c'.
func quotedList(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = "'" + n + "'"
	}
	return strings.Join(parts, ", ")
}
