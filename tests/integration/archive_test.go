package integration

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// writeBusyboxTar makes the busybox rootfs the way scripts/mkbusybox.sh does
// (Debian's static busybox, its applets installed as symlinks inside a
// chroot, a minimal /etc/passwd and /etc/group) and writes it as a tar.
func writeBusyboxTar(rootfs, out string) error {
	for _, dir := range []string{"bin", "etc", "root", "tmp", "proc", "sys", "dev", "home", "usr/bin", "usr/sbin", "var/spool/mail"} {
		if err := os.MkdirAll(filepath.Join(rootfs, dir), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(rootfs, "root"), 0o700); err != nil {
		return err
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("busybox-static is not installed: %w", err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("chroot", rootfs, "/bin/busybox", "--install", "-s", "/bin").CombinedOutput(); err != nil {
		return fmt.Errorf("busybox --install: %w: %s", err, out)
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
		"etc/group":  "root:x:0:\nnobody:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(content), 0o644); err != nil {
			return err
		}
	}

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.Walk(rootfs, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(rootfs, path)
		if err != nil || rel == "." {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(path)
			if err != nil {
				return err
			}
			defer src.Close()
			_, err = io.Copy(tw, src)
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// entry is one member of a tar the tests write by hand.
type entry struct {
	name string
	kind byte // tar.TypeReg, tar.TypeDir, tar.TypeSymlink
	body []byte
	link string
}

func file(name, body string) entry        { return entry{name: name, kind: tar.TypeReg, body: []byte(body)} }
func symlink(name, to string) entry       { return entry{name: name, kind: tar.TypeSymlink, link: to} }
func rawFile(name string, b []byte) entry { return entry{name: name, kind: tar.TypeReg, body: b} }

// writeTar writes entries, in order, as a tar stream.
func writeTar(entries []entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.kind, Linkname: e.link, Mode: 0o644, ModTime: time.Unix(1700000000, 0)}
		switch e.kind {
		case tar.TypeDir:
			hdr.Mode = 0o755
		case tar.TypeSymlink:
			hdr.Mode = 0o777
		case tar.TypeReg:
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			panic(err) // only with a malformed table in a test
		}
		if _, err := tw.Write(e.body); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// imageArchive builds a docker-archive (what `docker save` wrote before OCI
// layouts: manifest.json, repositories, the config blob and one layer tar)
// holding one image tagged repoTag whose layer has layerEntries, with extra
// members appended to the outer tar.
func imageArchive(repoTag string, layerEntries, extra []entry) []byte {
	layer := writeTar(layerEntries)
	layerDigest := sha256hex(layer)
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      "2023-11-14T22:13:20Z",
		"config":       map[string]any{"Cmd": []string{"sh"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerDigest}},
		"history":      []map[string]any{{"created": "2023-11-14T22:13:20Z", "comment": "made by the integration suite"}},
	})
	if err != nil {
		panic(err)
	}
	configName := sha256hex(config) + ".json"
	layerName := layerDigest + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   configName,
		"RepoTags": []string{repoTag},
		"Layers":   []string{layerName},
	}})
	if err != nil {
		panic(err)
	}
	repo, tag, _ := strings.Cut(repoTag, ":")
	repositories, err := json.Marshal(map[string]map[string]string{repo: {tag: layerDigest}})
	if err != nil {
		panic(err)
	}
	entries := []entry{
		rawFile("manifest.json", manifest),
		rawFile("repositories", repositories),
		rawFile(configName, config),
		{name: layerDigest + "/", kind: tar.TypeDir},
		rawFile(layerName, layer),
	}
	return writeTar(append(entries, extra...))
}
