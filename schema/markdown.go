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
