package schema

import (
	"encoding/json"
	"fmt"
	"strings"
)

// MarkdownTable renders every config field of the declaration as a
// Markdown table (path, type, required, default, allowed values,
// description), for the README: generated, so it cannot drift.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Field | Type | Required | Default | Allowed | Description |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, f := range declared.Config().Fields {
		writeRows(&b, "config", &f)
	}
	return b.String()
}

func writeRows(b *strings.Builder, prefix string, f *Field) {
	path := prefix + "." + f.Name
	req := ""
	if f.Required {
		req = "yes"
	}
	fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s | %s |\n",
		path, typeName(f), req, defaultText(f.Default), allowed(f), cell(f.Description))
	for i := range f.Fields {
		writeRows(b, path, &f.Fields[i])
	}
}

func typeName(f *Field) string {
	t := string(f.Type)
	if f.Referenceable {
		t += " (referenceable)"
	}
	if f.Encrypted {
		t += " (encrypted)"
	}
	return t
}

func defaultText(v any) string {
	if v == nil {
		return ""
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return "`" + string(raw) + "`"
}

func allowed(f *Field) string {
	var parts []string
	if f.OneOf != nil {
		q := make([]string, len(f.OneOf))
		for i, o := range f.OneOf {
			q[i] = "`" + o + "`"
		}
		parts = append(parts, strings.Join(q, ", "))
	}
	if f.Between != nil {
		parts = append(parts, fmt.Sprintf("%s to %s", luaNumber(f.Between.Min), luaNumber(f.Between.Max)))
	}
	if f.Gt != nil {
		parts = append(parts, "> "+luaNumber(*f.Gt))
	}
	if f.LenMin != nil {
		parts = append(parts, fmt.Sprintf("length >= %d", *f.LenMin))
	}
	if f.Match != "" {
		parts = append(parts, "Lua pattern `"+f.Match+"`")
	}
	return cell(strings.Join(parts, "; "))
}

// cell escapes what would break a table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// MarkdownChecks renders the schema's entity checks (the rules that span
// fields) as a Markdown list, with full field paths.
func MarkdownChecks() string {
	var b strings.Builder
	write := func(record string, checks []Check) {
		full := func(names []string) string {
			q := make([]string, len(names))
			for i, n := range names {
				q[i] = "`" + strings.TrimPrefix(record+"."+n, ".") + "`"
			}
			return strings.Join(q, ", ")
		}
		for _, c := range checks {
			switch {
			case c.MutuallyRequired != nil:
				fmt.Fprintf(&b, "- %s: all or none must be set.\n", full(c.MutuallyRequired))
			case c.AtLeastOneOf != nil:
				fmt.Fprintf(&b, "- At least one of %s must be set.\n", full(c.AtLeastOneOf))
			case c.OnlyOneOf != nil:
				fmt.Fprintf(&b, "- Exactly one of %s must be set.\n", full(c.OnlyOneOf))
			case c.Conditional != nil:
				k := c.Conditional
				fmt.Fprintf(&b, "- When %s %s, %s must %s.\n", full([]string{k.IfField}), matchText(k.IfMatch),
					full([]string{k.ThenField}), strings.Replace(matchText(k.ThenMatch), "is ", "be ", 1))
			case c.ConditionalAtLeastOneOf != nil:
				k := c.ConditionalAtLeastOneOf
				fmt.Fprintf(&b, "- When %s %s, at least one of %s must be set.\n", full([]string{k.IfField}),
					matchText(k.IfMatch), full(k.ThenAtLeastOneOf))
			}
		}
	}
	write("", declared.EntityChecks)
	write("config", declared.Config().EntityChecks)
	return b.String()
}

func matchText(m Match) string {
	var parts []string
	if m.Eq != nil {
		parts = append(parts, "is `"+luaString(m.Eq)+"`")
	}
	if m.OneOf != nil {
		q := make([]string, len(m.OneOf))
		for i, o := range m.OneOf {
			q[i] = "`" + o + "`"
		}
		parts = append(parts, "is one of "+strings.Join(q, ", "))
	}
	if m.Required {
		parts = append(parts, "is set")
	}
	if m.Between != nil {
		parts = append(parts, fmt.Sprintf("is between %s and %s", luaNumber(m.Between.Min), luaNumber(m.Between.Max)))
	}
	if m.Gt != nil {
		parts = append(parts, "is greater than "+luaNumber(*m.Gt))
	}
	if m.Match != "" {
		parts = append(parts, "matches the Lua pattern `"+m.Match+"`")
	}
	return strings.Join(parts, " and ")
}

// MarkdownDoc is the generated configuration reference (schema/FIELDS.md,
// `ai-proxy-hf -fields`): the field table, then the cross-field rules.
func MarkdownDoc() string {
	return MarkdownTable() + "\nCross-field rules (Kong entity checks, enforced by Kong and by the plugin):\n\n" + MarkdownChecks()
}
