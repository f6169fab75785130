package registry

import (
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// conformancePkg is the OCI distribution-spec conformance suite, pinned in
// go.mod as a tool (`go get -tool`), so the build below needs nothing but
// the Go module proxy (or the module cache).
const conformancePkg = "github.com/opencontainers/distribution-spec/conformance"

// TestConformance runs the OCI distribution-spec conformance suite against
// a berth-registry on loopback: pull, push, content discovery (tag list and
// referrers) and content management (tag, manifest and blob deletes), with
// every data set, sha512 content included (see altDigests).
func TestConformance(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain on PATH to build the conformance suite")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	work := t.TempDir()
	suite := filepath.Join(work, "conformance")
	build := exec.CommandContext(ctx, goTool, "build", "-o", suite, conformancePkg)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", conformancePkg, err, out)
	}

	// validation.manifests.urls lets the suite's non-distributable layers
	// (which carry http URLs) in; registry:2 refuses every layer URL.
	reg := startRegistry(t, plainConfig+`validation:
  manifests:
    urls:
      allow:
        - ^https?://
`)
	results := filepath.Join(work, "results")
	run := exec.CommandContext(ctx, suite)
	run.Dir = work
	run.Env = append(withoutOCIEnv(os.Environ()),
		"OCI_REGISTRY="+strings.TrimPrefix(reg.URL, "http://"),
		"OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_RESULTS_DIR="+results,
		"OCI_LOG=error",
		"OCI_VERSION=1.1",
		"OCI_API_PULL=true",
		"OCI_API_PUSH=true",
		"OCI_API_TAGS_LIST=true",
		"OCI_API_REFERRER=true",
		"OCI_API_TAGS_DELETE=true",
		"OCI_API_MANIFESTS_DELETE=true",
		"OCI_API_BLOBS_DELETE=true",
		"OCI_DATA_SHA512=true",
	)
	out, runErr := run.CombinedOutput()

	counts, failed, err := readJUnit(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("conformance suite left no results (%v): %v\n%s", runErr, err, out)
	}
	for _, wf := range workflows {
		c := counts[wf]
		t.Logf("%-18s passed %3d  failed %d  skipped %d", wf, c.passed, c.failed, c.skipped)
		if c.passed == 0 {
			t.Errorf("no %s test passed", wf)
		}
	}
	for _, name := range failed {
		t.Errorf("conformance: %s failed", name)
	}
	if runErr != nil || len(failed) > 0 {
		t.Fatalf("conformance suite: %v\n%s", runErr, out)
	}
}

// The suite's four workflows, as the distribution-spec names them.
const (
	wfPull       = "pull"
	wfPush       = "push"
	wfDiscovery  = "content discovery"
	wfManagement = "content management"
)

var workflows = []string{wfPull, wfPush, wfDiscovery, wfManagement}

// workflow files one of the suite's test cases (named like "OCI
// Conformance Test/image/pull/manifest-by-tag") under a workflow.
func workflow(name string) string {
	leaf := name[strings.LastIndex(name, "/")+1:]
	switch {
	case strings.Contains(name, "/referrers") || strings.Contains(name, "/tag-list") || strings.Contains(name, "/tag list"):
		return wfDiscovery
	case strings.HasSuffix(leaf, "-delete"):
		return wfManagement
	case strings.Contains(name, "/pull/") || strings.Contains(name, "/head/") || strings.HasSuffix(name, "/ping") || strings.HasSuffix(leaf, "-missing"):
		return wfPull
	default:
		return wfPush
	}
}

type tally struct{ passed, failed, skipped int }

// readJUnit counts the suite's junit.xml test cases per workflow and lists
// the ones that failed or errored.
func readJUnit(path string) (map[string]*tally, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name   string `xml:"name,attr"`
				Status string `xml:"status,attr"`
				Out    string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, nil, err
	}
	counts := map[string]*tally{}
	for _, wf := range workflows {
		counts[wf] = &tally{}
	}
	var failed []string
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			tl := counts[workflow(c.Name)]
			switch c.Status {
			case "passed":
				tl.passed++
			case "skipped":
				tl.skipped++
			default:
				tl.failed++
				failed = append(failed, c.Name+": "+strings.TrimSpace(c.Out))
			}
		}
	}
	return counts, failed, nil
}

func withoutOCIEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "OCI_") {
			out = append(out, kv)
		}
	}
	return out
}
