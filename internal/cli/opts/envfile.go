package opts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// LookupFunc reports a variable of the caller's environment.
type LookupFunc func(string) (string, bool)

// ParseEnvFile reads a Docker env file: one VAR=value per line, blank
// lines and lines starting with # ignored, a bare VAR taken from lookup (and
// dropped when unset). Values are kept verbatim, quotes included.
func ParseEnvFile(path string, lookup LookupFunc) ([]string, error) {
	return parseKeyValueFile(path, lookup)
}

// ParseLabelFile reads a line-delimited label file; a bare KEY is a label
// with an empty value.
func ParseLabelFile(path string) ([]string, error) {
	return parseKeyValueFile(path, nil)
}

func parseKeyValueFile(path string, lookup LookupFunc) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		raw := sc.Bytes()
		n++
		if n == 1 {
			raw = bytes.TrimPrefix(raw, []byte{0xEF, 0xBB, 0xBF})
		}
		if !utf8.Valid(raw) {
			return nil, fmt.Errorf("env file %s contains invalid utf8 bytes at line %d: %v", path, n, raw)
		}
		line := strings.TrimLeftFunc(string(raw), unicode.IsSpace)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, hasValue := strings.Cut(line, "=")
		if key == "" {
			return nil, fmt.Errorf("no variable name on line '%s'", line)
		}
		if strings.ContainsFunc(key, unicode.IsSpace) {
			return nil, fmt.Errorf("variable '%s' contains whitespaces", key)
		}
		if hasValue || lookup == nil {
			lines = append(lines, line)
			continue
		}
		if v, ok := lookup(key); ok {
			lines = append(lines, key+"="+v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return lines, nil
}

// ExpandEnv resolves -e values: VAR=value is kept, a bare VAR takes its
// value from lookup and is dropped when unset (what docker's daemon does
// with a value-less variable).
func ExpandEnv(values []string, lookup LookupFunc) ([]string, error) {
	var out []string
	for _, v := range values {
		k, _, hasValue := strings.Cut(v, "=")
		if k == "" {
			return nil, errors.New("invalid environment variable: " + v)
		}
		if hasValue {
			out = append(out, v)
			continue
		}
		if lookup != nil {
			if val, ok := lookup(k); ok {
				out = append(out, k+"="+val)
			}
		}
	}
	return out, nil
}

// ConvertKVStringsToMap turns ["a=b", "c"] into {"a":"b", "c":""}.
func ConvertKVStringsToMap(values []string) map[string]string {
	out := make(map[string]string, len(values))
	for _, v := range values {
		k, val, _ := strings.Cut(v, "=")
		out[k] = val
	}
	return out
}
