package formatter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/template"
)

// InspectItem is one object for `inspect`: the daemon's raw JSON and the
// typed value it decodes to (used to recover Go-typed zero values).
type InspectItem struct {
	Raw   json.RawMessage
	Typed any
}

// Inspector prints inspect results: an indented JSON array by default, or
// one line per object for --format.
type Inspector struct {
	out  io.Writer
	tmpl *template.Template
	raws []json.RawMessage
}

// NewInspector parses format ("" for the JSON array, "json" for compact
// JSON per object, else a template).
func NewInspector(out io.Writer, format string) (*Inspector, error) {
	ins := &Inspector{out: out}
	if format == "" {
		return ins, nil
	}
	if strings.TrimSpace(format) == JSONKey {
		format = "{{json .}}"
	}
	tmpl, err := Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	ins.tmpl = tmpl
	return ins, nil
}

// Inspect renders or buffers one object.
func (ins *Inspector) Inspect(item InspectItem) error {
	if ins.tmpl == nil {
		ins.raws = append(ins.raws, item.Raw)
		return nil
	}
	var buf bytes.Buffer
	v, err := templateValue(item)
	if err != nil {
		return err
	}
	if err := ins.tmpl.Execute(&buf, v); err != nil {
		buf.Reset()
		if item.Typed == nil || ins.tmpl.Execute(&buf, item.Typed) != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
	} else {
		// docker executes on typed structs, where a field the daemon left
		// out (e.g. the legacy NetworkSettings.IPAddress) is empty rather
		// than text/template's "<no value>".
		out := strings.ReplaceAll(buf.String(), "<no value>", "")
		buf.Reset()
		buf.WriteString(out)
	}
	buf.WriteString("\n")
	_, err = buf.WriteTo(ins.out)
	return err
}

// Flush writes the buffered JSON array ("[]" when nothing was found).
func (ins *Inspector) Flush() error {
	if ins.tmpl != nil {
		return nil
	}
	if len(ins.raws) == 0 {
		_, err := io.WriteString(ins.out, "[]\n")
		return err
	}
	var in bytes.Buffer
	in.WriteString("[")
	for i, r := range ins.raws {
		if i > 0 {
			in.WriteString(",")
		}
		in.Write(r)
	}
	in.WriteString("]")
	var out bytes.Buffer
	if err := json.Indent(&out, in.Bytes(), "", "    "); err != nil {
		return err
	}
	out.WriteString("\n")
	_, err := out.WriteTo(ins.out)
	return err
}

// templateValue decodes the raw JSON (numbers kept exact) and replaces
// nulls that the typed value declares as slices or maps with empty ones,
// so {{.Config.Entrypoint}} prints "[]" as docker's typed structs do.
func templateValue(item InspectItem) (any, error) {
	if len(item.Raw) == 0 {
		return item.Typed, nil
	}
	dec := json.NewDecoder(bytes.NewReader(item.Raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if item.Typed != nil {
		v = fillNulls(v, reflect.TypeOf(item.Typed))
	}
	return v, nil
}

func fillNulls(v any, t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch x := v.(type) {
	case nil:
		switch t.Kind() {
		case reflect.Slice:
			return []any{}
		case reflect.Map:
			return map[string]any{}
		}
		return nil
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			for k, val := range x {
				if ft, ok := fields[k]; ok {
					x[k] = fillNulls(val, ft)
				}
			}
		case reflect.Map:
			for k, val := range x {
				x[k] = fillNulls(val, t.Elem())
			}
		}
		return x
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, val := range x {
				x[i] = fillNulls(val, t.Elem())
			}
		}
		return x
	}
	return v
}

// jsonFields maps JSON names to field types, flattening embedded structs.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
