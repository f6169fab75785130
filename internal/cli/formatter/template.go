package formatter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"unicode"
)

// Funcs are the template functions docker's --format accepts.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) string {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(v)
			return strings.TrimSpace(buf.String())
		},
		"split":    strings.Split,
		"join":     strings.Join,
		"title":    title,
		"lower":    strings.ToLower,
		"upper":    strings.ToUpper,
		"pad":      pad,
		"truncate": truncate,
		"println":  fmt.Sprintln,
	}
}

// headerFuncs mirror Funcs for the table header row, where every field is
// already a header string and must come out unchanged.
func headerFuncs() template.FuncMap {
	return template.FuncMap{
		"json":     func(v string) string { return v },
		"split":    func(v string, _ string) string { return v },
		"join":     func(v string, _ string) string { return v },
		"title":    func(v string) string { return v },
		"lower":    func(v string) string { return v },
		"upper":    func(v string) string { return v },
		"truncate": func(v string, _ int) string { return v },
		"pad":      func(v string, _, _ int) string { return v },
		"println":  func(v string) string { return v },
	}
}

// title upper-cases the first letter of every word.
func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if unicode.IsSpace(prev) || unicode.IsPunct(prev) && prev != '\'' {
			return unicode.ToTitle(r)
		}
		return r
	}, s)
}

// pad surrounds a non-empty string with prefix and suffix spaces.
func pad(s string, prefix, suffix int) string {
	if s == "" {
		return s
	}
	return strings.Repeat(" ", prefix) + s + strings.Repeat(" ", suffix)
}

// truncate cuts s to length bytes.
func truncate(s string, length int) string {
	if len(s) < length || length < 0 {
		return s
	}
	return s[:length]
}

// Parse parses a --format template with docker's functions.
func Parse(format string) (*template.Template, error) {
	return template.New("").Funcs(Funcs()).Parse(format)
}

// Execute parses format and runs it on v, returning docker's
// "template parsing error" on a bad template.
func Execute(format string, v any) (string, error) {
	tmpl, err := Parse(format)
	if err != nil {
		return "", fmt.Errorf("template parsing error: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, v); err != nil {
		return "", err
	}
	return buf.String(), nil
}
