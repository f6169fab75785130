// Command docker-credential-test is a credential helper for tests: it
// speaks the docker-credential-* protocol (store, get, erase, list; JSON
// on stdin and stdout) and keeps the credentials in a JSON file next to
// its own executable (<executable>.json), logging each call to
// <executable>.log.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

type creds struct {
	ServerURL string `json:"ServerURL"`
	Username  string `json:"Username"`
	Secret    string `json:"Secret"`
}

func main() {
	if err := run(); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return errors.New("usage: docker-credential-test store|get|erase|list")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	file := exe + ".json"
	all := map[string]creds{}
	if b, err := os.ReadFile(file); err == nil {
		if err := json.Unmarshal(b, &all); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(exe+".log", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "%s %s\n", os.Args[1], strings.TrimSpace(string(in)))
	logf.Close()
	save := func() error {
		b, err := json.Marshal(all)
		if err != nil {
			return err
		}
		return os.WriteFile(file, b, 0o600)
	}
	switch os.Args[1] {
	case "store":
		var c creds
		if err := json.Unmarshal(in, &c); err != nil {
			return err
		}
		if c.ServerURL == "" {
			return errors.New("no credentials server URL")
		}
		all[c.ServerURL] = c
		return save()
	case "get":
		c, ok := all[strings.TrimSpace(string(in))]
		if !ok {
			return errors.New("credentials not found in native keychain")
		}
		return json.NewEncoder(os.Stdout).Encode(c)
	case "erase":
		delete(all, strings.TrimSpace(string(in)))
		return save()
	case "list":
		out := map[string]string{}
		for k, c := range all {
			out[k] = c.Username
		}
		return json.NewEncoder(os.Stdout).Encode(out)
	}
	return fmt.Errorf("unknown action %q", os.Args[1])
}
