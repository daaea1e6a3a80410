// Package archtest keeps the layout rules of ARCHITECTURE.md and
// docs/architecture.md true: the dependency direction, a domain free of
// transports, loggers, SQL and token libraries, files of a readable size,
// and a doc comment on every package. Each rule is also shown to catch a
// violation planted on purpose (TestRulesCatchPlantedViolations).
package archtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/edgetrust/edgetrust"

// rule forbids the packages matching pattern (a literal go list pattern,
// "./x/..." included) to depend on anything under the forbidden import
// path prefixes.
type rule struct {
	pattern   string
	forbidden []string
}

// domainForbidden is what the domain must never pull in: transports,
// loggers, SQL drivers, the JWT library, the metrics library and the
// adapters around it.
var domainForbidden = []string{
	"github.com/quic-go/", "go.uber.org/zap", "database/sql", "modernc.org/", "github.com/jackc/",
	"github.com/go-jose/", "github.com/prometheus/", module + "/broker/metrics", module + "/broker/store", module + "/broker/agentapi", module + "/broker/httpapi",
	module + "/broker/token", module + "/broker/web", module + "/broker/brokertest",
}

var rules = []rule{
	{"./agent/...", []string{module + "/broker"}},
	{"./broker/...", []string{module + "/agent"}},
	// github.com/prometheus/ is inside github.com/, and named so that a
	// narrower rule one day still keeps metrics out of the wire contract.
	{"./protocol/...", []string{"github.com/", "github.com/prometheus/", "go.uber.org/", "golang.org/x/", "modernc.org/", module + "/broker", module + "/agent", module + "/internal"}},
	{"./broker/registry/...", domainForbidden},
	{"./broker/apikey", []string{"github.com/quic-go/", "go.uber.org/zap", "database/sql"}},
	{"./broker/token", []string{"github.com/quic-go/", "go.uber.org/zap", "database/sql"}},
	{"./agent/state", []string{"github.com/quic-go/", "go.uber.org/zap", "database/sql"}},
	{"./broker/agentapi", []string{module + "/broker/store"}},
	{"./broker/httpapi", []string{module + "/broker/store"}},
	// The console calls the registry's use cases, as the API does, never
	// a store nor the API's handlers (no second authorisation path).
	{"./broker/console", []string{module + "/broker/store", module + "/broker/httpapi"}},
}

// maxLines bounds a non-test .go file: past it, a file holds more than
// one resource and a newcomer cannot find things by file name.
const maxLines = 800

// goList runs "go list" in the module root and returns one line per package.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(strings.TrimSpace(string(out)))
}

// forbiddenDep reports whether dep matches the forbidden prefix f.
// database/sql is matched exactly: database/sql/driver comes with
// google/uuid and opens no database.
func forbiddenDep(dep, f string) bool {
	if dep == f {
		return true
	}
	if f == "database/sql" {
		return false
	}
	return strings.HasPrefix(dep, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f))
}

// violations checks r against the packages it matches and their
// dependencies (package -> every package it depends on).
func violations(r rule, pkgs []string, deps map[string][]string) []string {
	var out []string
	for _, pkg := range pkgs {
		for _, d := range deps[pkg] {
			if d == pkg {
				continue
			}
			for _, f := range r.forbidden {
				if forbiddenDep(d, f) {
					out = append(out, fmt.Sprintf("%s imports %s (forbidden by %s: %s)", pkg, d, r.pattern, f))
				}
			}
		}
	}
	return out
}

func TestDependencyRules(t *testing.T) {
	for _, r := range rules {
		t.Run(r.pattern, func(t *testing.T) {
			pkgs := goList(t, r.pattern)
			if len(pkgs) == 0 {
				t.Fatalf("%s matches no package: a rule that checks nothing", r.pattern)
			}
			deps := map[string][]string{}
			for _, pkg := range pkgs {
				deps[pkg] = goList(t, "-deps", "-f", "{{.ImportPath}}", pkg)
			}
			for _, v := range violations(r, pkgs, deps) {
				t.Error(v)
			}
		})
	}
}

// The patterns that name whole trees are checked as written, so that a
// package added below them (registry/registrytest once imported the
// SQLite store unseen) is covered.
func TestRulesNameWholeTrees(t *testing.T) {
	for _, want := range []string{"./broker/registry/...", "./protocol/..."} {
		if !slices.ContainsFunc(rules, func(r rule) bool { return r.pattern == want }) {
			t.Errorf("no rule checks %s", want)
		}
	}
	if pkgs := goList(t, "./protocol/..."); !slices.Contains(pkgs, module+"/protocol/api") {
		t.Errorf("./protocol/... does not reach protocol/api: %v", pkgs)
	}
}

// longFiles returns the non-test .go files under root longer than max
// lines, skipping testdata.
func longFiles(root string, max int) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || (strings.HasPrefix(name, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n := bytes.Count(data, []byte("\n"))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			n++
		}
		if n > max {
			rel, _ := filepath.Rel(root, path)
			out = append(out, fmt.Sprintf("%s: %d lines (at most %d; split it by resource)", rel, n, max))
		}
		return nil
	})
	return out, err
}

func TestNoLongFiles(t *testing.T) {
	long, err := longFiles("../..", maxLines)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range long {
		t.Error(l)
	}
}

// TestRulesCatchPlantedViolations shows that each rule reports a
// dependency planted against it, and the line limit a file planted over it:
// a check that could not fail would prove nothing.
func TestRulesCatchPlantedViolations(t *testing.T) {
	for _, r := range rules {
		pkg := module + "/" + strings.TrimSuffix(strings.TrimPrefix(r.pattern, "./"), "/...") + "/planted"
		for _, f := range r.forbidden {
			bad := f + "/planted" // a package below a forbidden path
			switch {
			case strings.HasSuffix(f, "/"):
				bad = f + "planted"
			case f == "database/sql":
				bad = f
			}
			got := violations(r, []string{pkg}, map[string][]string{pkg: {"fmt", bad}})
			if len(got) == 0 {
				t.Errorf("rule %s: planting %s in %s went unreported", r.pattern, bad, pkg)
			}
		}
		if got := violations(r, []string{pkg}, map[string][]string{pkg: {"fmt", "strings", pkg}}); len(got) != 0 {
			t.Errorf("rule %s reports a clean package: %v", r.pattern, got)
		}
	}
	// database/sql/driver is allowed where database/sql is not.
	if got := violations(rule{"./x", []string{"database/sql"}}, []string{"x"}, map[string][]string{"x": {"database/sql/driver"}}); len(got) != 0 {
		t.Errorf("database/sql/driver reported: %v", got)
	}

	dir := t.TempDir()
	write := func(name string, lines int) {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		fmt.Fprintln(w, "package p")
		for i := 1; i < lines; i++ {
			fmt.Fprintln(w, "// line")
		}
		w.Flush()
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("long.go", maxLines+1)
	write("ok.go", maxLines)
	write("long_test.go", 3*maxLines)
	if err := os.MkdirAll(filepath.Join(dir, "testdata"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "testdata", "big.go"), bytes.Repeat([]byte("//\n"), 2*maxLines), 0o644); err != nil {
		t.Fatal(err)
	}
	long, err := longFiles(dir, maxLines)
	if err != nil {
		t.Fatal(err)
	}
	if len(long) != 1 || !strings.HasPrefix(long[0], "long.go: 801 lines") {
		t.Errorf("planted files reported as %v, want only long.go", long)
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	// Packages made only of tests (integration, this one) are skipped: go
	// list reports no doc for them.
	for _, line := range goList(t, "-f", "{{.ImportPath}}|{{if not .GoFiles}}ok{{else if .Doc}}ok{{else}}missing{{end}}", "./...") {
		pkg, status, _ := strings.Cut(line, "|")
		if status != "ok" {
			t.Errorf("package %s has no doc comment", pkg)
		}
	}
}
