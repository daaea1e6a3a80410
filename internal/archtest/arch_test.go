// Package archtest keeps the layout rules of ARCHITECTURE.md true: the
// dependency direction, a domain free of transports, loggers and SQL, and a
// doc comment on every package.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/edgetrust/edgetrust"

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

func deps(t *testing.T, pkg string) []string {
	return goList(t, "-deps", "-f", "{{.ImportPath}}", pkg)
}

func TestDependencyRules(t *testing.T) {
	cases := []struct {
		pkgs      string
		forbidden []string // import path prefixes
	}{
		{"./agent/...", []string{module + "/broker"}},
		{"./broker/...", []string{module + "/agent"}},
		{"./protocol", []string{"github.com/", "go.uber.org/", "golang.org/x/", "modernc.org/"}},
		{"./broker/registry", []string{"github.com/quic-go/", "go.uber.org/zap", "database/sql", module + "/broker/store", module + "/broker/agentapi", module + "/broker/httpapi"}},
		{"./broker/apikey", []string{"github.com/quic-go/", "go.uber.org/zap", "database/sql"}},
		{"./broker/token", []string{"github.com/quic-go/", "go.uber.org/zap", "database/sql"}},
		{"./agent/state", []string{"github.com/quic-go/", "go.uber.org/zap", "database/sql"}},
		{"./broker/agentapi", []string{module + "/broker/store"}},
		{"./broker/httpapi", []string{module + "/broker/store"}},
	}
	for _, c := range cases {
		t.Run(c.pkgs, func(t *testing.T) {
			for _, pkg := range goList(t, c.pkgs) {
				for _, d := range deps(t, pkg) {
					for _, f := range c.forbidden {
						if d == pkg {
							continue
						}
						// database/sql is matched exactly: database/sql/driver comes
						// with google/uuid and opens no database.
						prefix := f != "database/sql" && (strings.HasPrefix(d, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)))
						if d == f || prefix {
							t.Errorf("%s imports %s (forbidden: %s)", pkg, d, f)
						}
					}
				}
			}
		})
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
