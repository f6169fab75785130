package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"berth/internal/errdefs"
)

// applyChanges applies Dockerfile instructions (`import --change`,
// `commit --change`) to an image config. Only the instructions that change
// the config are allowed, as in dockerd.
func applyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	for _, change := range changes {
		for _, line := range strings.Split(change, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if err := applyChange(cfg, line); err != nil {
				return errdefs.Invalid(err)
			}
		}
	}
	return nil
}

func applyChange(cfg *dockerspec.DockerOCIImageConfig, line string) error {
	word, rest := line, ""
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		word, rest = line[:i], line[i+1:]
	}
	instr := strings.ToLower(word)
	rest = strings.TrimSpace(rest)
	if rest == "" && instr != "cmd" && instr != "entrypoint" {
		switch instr {
		case "env", "label", "expose", "onbuild", "stopsignal", "user", "volume", "workdir":
			return fmt.Errorf("%s requires at least one argument", strings.ToUpper(instr))
		}
	}
	switch instr {
	case "cmd":
		cfg.Cmd = commandForm(rest)
	case "entrypoint":
		cfg.Entrypoint = commandForm(rest)
	case "env":
		pairs, err := nameValues(instr, rest)
		if err != nil {
			return err
		}
		for _, kv := range pairs {
			cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
		}
	case "label":
		pairs, err := nameValues(instr, rest)
		if err != nil {
			return err
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range pairs {
			cfg.Labels[kv[0]] = kv[1]
		}
	case "expose":
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range strings.Fields(rest) {
			ports, err := exposedPorts(p)
			if err != nil {
				return err
			}
			for _, port := range ports {
				cfg.ExposedPorts[port] = struct{}{}
			}
		}
	case "volume":
		vols := jsonArray(rest)
		if vols == nil {
			vols = strings.Fields(rest)
		}
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range vols {
			if v = strings.TrimSpace(v); v == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
			cfg.Volumes[v] = struct{}{}
		}
	case "workdir":
		dir := unquote(rest)
		if !path.IsAbs(dir) {
			base := cfg.WorkingDir
			if base == "" {
				base = "/"
			}
			dir = path.Join(base, dir)
		}
		cfg.WorkingDir = path.Clean(dir)
	case "user":
		cfg.User = unquote(rest)
	case "stopsignal":
		cfg.StopSignal = unquote(rest)
	case "onbuild":
		trigger, triggerRest, _ := strings.Cut(rest, " ")
		switch strings.ToUpper(trigger) {
		case "ONBUILD":
			return errors.New("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
		case "FROM", "MAINTAINER":
			return fmt.Errorf("%s isn't allowed as an ONBUILD trigger", strings.ToUpper(trigger))
		}
		cfg.OnBuild = append(cfg.OnBuild, strings.TrimSpace(strings.ToUpper(trigger)+" "+triggerRest))
	default:
		return fmt.Errorf("%s is not a valid change command", instr)
	}
	return nil
}

// commandForm reads CMD/ENTRYPOINT: a JSON array is the exec form,
// anything else the shell form run by /bin/sh -c.
func commandForm(rest string) []string {
	if args := jsonArray(rest); args != nil {
		return args
	}
	if rest == "" {
		return nil
	}
	return []string{"/bin/sh", "-c", rest}
}

func jsonArray(s string) []string {
	if !strings.HasPrefix(s, "[") {
		return nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// nameValues reads ENV and LABEL arguments: key=value pairs, values
// optionally quoted, or the legacy "key value with spaces" form.
func nameValues(instr, rest string) ([][2]string, error) {
	words, err := shellWords(rest)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("%s requires at least one argument", strings.ToUpper(instr))
	}
	if !strings.Contains(words[0], "=") {
		key, value, _ := strings.Cut(rest, " ")
		value = strings.TrimSpace(value)
		if value == "" {
			return nil, fmt.Errorf("%s names can not be blank", strings.ToUpper(instr))
		}
		return [][2]string{{key, unquote(value)}}, nil
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return nil, fmt.Errorf("Syntax error - can't find = in %q. Must be of the form: name=value", w)
		}
		if k == "" {
			return nil, fmt.Errorf("%s names can not be blank", strings.ToUpper(instr))
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// shellWords splits on blanks, honouring single and double quotes and
// backslash escapes, and removes the quoting.
func shellWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune
	)
	runes := []rune(s)
	for i := 0; i < len(runes); i++ {
		c := runes[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
				continue
			}
			if c == '\\' && quote == '"' && i+1 < len(runes) && (runes[i+1] == '"' || runes[i+1] == '\\' || runes[i+1] == '$') {
				i++
				c = runes[i]
			}
			cur.WriteRune(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '\\' && i+1 < len(runes):
			i++
			cur.WriteRune(runes[i])
			in = true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unexpected end of statement while looking for matching %c", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if w, err := shellWords(s); err == nil && len(w) == 1 {
		return w[0]
	}
	return s
}

func setEnv(env []string, key, value string) []string {
	kv := key + "=" + value
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// exposedPorts reads "80", "80/udp" or "8000-8002/tcp".
func exposedPorts(spec string) ([]string, error) {
	ports, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", ports)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("invalid containerPort: %s", ports)
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}
