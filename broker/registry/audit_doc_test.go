package registry_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Audit action names are a documented contract (docs/audit.md). This test
// reads the action argument of every call that writes an audit row in the
// package's non-test files and checks it against the document's table, both
// ways: an action written but not documented fails, and so does a
// documented action no longer written.

// auditDoc is the document, relative to this package.
var auditDoc = filepath.Join("..", "..", "docs", "audit.md")

// codeActions is what the code writes: exact names, and the prefixes of
// names built at run time ("login." + req.Type), each with where it is.
type codeActions struct {
	exact    map[string]string // action -> first position
	prefixes map[string]string // prefix -> first position
}

func TestAuditActionsDocumented(t *testing.T) {
	code, err := auditActionsInCode(".")
	if err != nil {
		t.Fatal(err)
	}
	// A parser that finds nothing would pass everything below.
	if len(code.exact) < 20 {
		t.Fatalf("found only %d audit actions in the code; is the parser broken? %v", len(code.exact), code.exact)
	}
	doc, err := documentedActions(auditDoc)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc) == 0 {
		t.Fatalf("%s: no action rows found under %q", auditDoc, actionsHeading)
	}
	for _, a := range sortedKeys(code.exact) {
		if !slices.Contains(doc, a) {
			t.Errorf("audit action %q (written at %s) is missing from the table of %s", a, code.exact[a], auditDoc)
		}
	}
	for _, p := range sortedKeys(code.prefixes) {
		if !slices.ContainsFunc(doc, func(d string) bool { return strings.HasPrefix(d, p) }) {
			t.Errorf("audit actions %q... (written at %s) are missing from the table of %s", p, code.prefixes[p], auditDoc)
		}
	}
	for _, d := range doc {
		_, exact := code.exact[d]
		prefixed := slices.ContainsFunc(sortedKeys(code.prefixes), func(p string) bool { return strings.HasPrefix(d, p) })
		if !exact && !prefixed {
			t.Errorf("%s documents audit action %q, which the code no longer writes", auditDoc, d)
		}
	}
}

// TestAuditActionsParser checks the parser on a small package: literals,
// wrappers passing the action on (two levels deep), defaults assigned to a
// parameter, typed constants expanded, and a dynamic suffix kept as a
// prefix.
func TestAuditActionsParser(t *testing.T) {
	dir := t.TempDir()
	src := `package p

type Action string

const (
	A1 Action = "one"
	A2 Action = "two"
	named     = "x.named"
)

func audit(tx any, at, actor, action string) error { return nil }

func wrap(action string) { _ = audit(nil, "", "", action) }

func outer(what string) { wrap(what) }

func apply(a Action, auditAction string) {
	if auditAction == "" {
		auditAction = "thing." + string(a)
	}
	_ = audit(nil, "", "", auditAction)
}

func use(req struct{ Type string }) {
	_ = audit(nil, "", "", "a.b")
	wrap("c.d")
	outer("e.f")
	apply(A1, "")
	apply(A2, "g.h")
	_ = audit(nil, "", "", named)
	_ = audit(nil, "", "", "login."+req.Type)
	f := func() error { return audit(nil, "", "", "in.closure") }
	_ = f
}
`
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := auditActionsInCode(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantExact := []string{"a.b", "c.d", "e.f", "g.h", "in.closure", "thing.one", "thing.two", "x.named"}
	if d := cmp.Diff(wantExact, sortedKeys(got.exact)); d != "" {
		t.Errorf("exact actions (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"login."}, sortedKeys(got.prefixes)); d != "" {
		t.Errorf("prefixes (-want +got):\n%s", d)
	}

	// An action the parser cannot tell is an error, not a silent pass.
	bad := "package p\nfunc audit(tx any, at, actor, action string) error { return nil }\nfunc f() { _ = audit(nil, \"\", \"\", pick()) }\nfunc pick() string { return \"x.y\" }\n"
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := auditActionsInCode(dir); err == nil {
		t.Error("an action returned by a function call was accepted; want an error")
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// auditSink is the function every audit row goes through, and the index
// of its action parameter.
const (
	auditSink      = "audit"
	auditSinkIndex = 3
)

// auditActionsInCode parses the non-test Go files of dir. Every function
// that passes one of its parameters on as the action of a call writing an
// audit row becomes such a call itself (auditRefusal, applyAction,
// sweepEndpoints...), so the names are collected where they are spelled.
func auditActionsInCode(dir string) (*codeActions, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var funcs []*ast.FuncDecl
	consts := map[string]string{}  // name -> value, string constants
	typed := map[string][]string{} // type name -> values of its constants
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range af.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Body != nil {
					funcs = append(funcs, d)
				}
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, s := range d.Specs {
					vs := s.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i >= len(vs.Values) {
							continue
						}
						lit, ok := vs.Values[i].(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							continue
						}
						v, err := strconv.Unquote(lit.Value)
						if err != nil {
							return nil, err
						}
						consts[name.Name] = v
						if id, ok := vs.Type.(*ast.Ident); ok {
							typed[id.Name] = append(typed[id.Name], v)
						}
					}
				}
			}
		}
	}

	// Which functions write audit rows, and through which parameter.
	sinks := map[string]int{auditSink: auditSinkIndex}
	for changed := true; changed; {
		changed = false
		for _, fn := range funcs {
			if _, ok := sinks[fn.Name.Name]; ok {
				continue
			}
			params := paramIndex(fn)
			eachSinkCall(fn, sinks, func(_ *ast.CallExpr, arg ast.Expr) {
				if id, ok := arg.(*ast.Ident); ok {
					if i, ok := params[id.Name]; ok {
						sinks[fn.Name.Name], changed = i, true
					}
				}
			})
		}
	}

	out := &codeActions{exact: map[string]string{}, prefixes: map[string]string{}}
	add := func(m map[string]string, v string, pos token.Pos) {
		if _, ok := m[v]; !ok {
			m[v] = fset.Position(pos).String()
		}
	}
	var firstErr error
	for _, fn := range funcs {
		r := &resolver{fn: fn, params: paramIndex(fn), consts: consts, typed: typed}
		eachSinkCall(fn, sinks, func(call *ast.CallExpr, arg ast.Expr) {
			exact, prefixes, err := r.resolve(arg)
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %s: %w", fset.Position(call.Pos()), fn.Name.Name, err)
				}
				return
			}
			for _, v := range exact {
				add(out.exact, v, call.Pos())
			}
			for _, v := range prefixes {
				add(out.prefixes, v, call.Pos())
			}
		})
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// eachSinkCall calls f with every call in fn's body (closures included) to
// a function in sinks and the argument it passes as the action.
func eachSinkCall(fn *ast.FuncDecl, sinks map[string]int, f func(*ast.CallExpr, ast.Expr)) {
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		var name string
		switch c := call.Fun.(type) {
		case *ast.Ident:
			name = c.Name
		case *ast.SelectorExpr:
			name = c.Sel.Name
		}
		if i, ok := sinks[name]; ok && i < len(call.Args) {
			f(call, call.Args[i])
		}
		return true
	})
}

// paramIndex maps fn's parameter names to their positions.
func paramIndex(fn *ast.FuncDecl) map[string]int {
	m := map[string]int{}
	i := 0
	for _, field := range fn.Type.Params.List {
		if len(field.Names) == 0 {
			i++
			continue
		}
		for _, n := range field.Names {
			m[n.Name] = i
			i++
		}
	}
	return m
}

func paramType(fn *ast.FuncDecl, name string) string {
	for _, field := range fn.Type.Params.List {
		for _, n := range field.Names {
			if n.Name == name {
				if id, ok := field.Type.(*ast.Ident); ok {
					return id.Name
				}
			}
		}
	}
	return ""
}

// resolver tells the action names an expression in fn can hold.
type resolver struct {
	fn     *ast.FuncDecl
	params map[string]int
	consts map[string]string
	typed  map[string][]string
}

func (r *resolver) resolve(e ast.Expr) (exact, prefixes []string, err error) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return r.resolve(e.X)
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return nil, nil, fmt.Errorf("action %s is not a string", e.Value)
		}
		v, err := strconv.Unquote(e.Value)
		if err != nil {
			return nil, nil, err
		}
		if v == "" {
			return nil, nil, nil // "" asks a wrapper for its default, resolved where it is assigned
		}
		return []string{v}, nil, nil
	case *ast.Ident:
		if v, ok := r.consts[e.Name]; ok {
			return []string{v}, nil, nil
		}
		// A variable (or a parameter given a default): what is assigned to
		// it. A parameter's callers are collected as calls of their own.
		_, isParam := r.params[e.Name]
		found := false
		ast.Inspect(r.fn.Body, func(n ast.Node) bool {
			as, ok := n.(*ast.AssignStmt)
			if !ok || err != nil {
				return err == nil
			}
			for i, lhs := range as.Lhs {
				if id, ok := lhs.(*ast.Ident); ok && id.Name == e.Name && len(as.Rhs) == len(as.Lhs) {
					found = true
					x, p, rerr := r.resolve(as.Rhs[i])
					if rerr != nil {
						err = rerr
						return false
					}
					exact, prefixes = append(exact, x...), append(prefixes, p...)
				}
			}
			return true
		})
		if err != nil {
			return nil, nil, err
		}
		if !found && !isParam {
			return nil, nil, fmt.Errorf("cannot tell which action %s holds; pass a string literal", e.Name)
		}
		return exact, prefixes, nil
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			break
		}
		left, lp, err := r.resolve(e.X)
		if err != nil {
			return nil, nil, err
		}
		if len(lp) > 0 || len(left) == 0 {
			return nil, nil, fmt.Errorf("the action's prefix must be a string literal or constant")
		}
		// "endpoint." + string(action) with action a parameter of a type
		// whose constants are known: each of them.
		if vals := r.typedValues(e.Y); len(vals) > 0 {
			for _, l := range left {
				for _, v := range vals {
					exact = append(exact, l+v)
				}
			}
			return exact, nil, nil
		}
		return nil, left, nil
	}
	return nil, nil, fmt.Errorf("cannot tell the action of %T; pass a string literal, a constant, or \"prefix.\"+expr", e)
}

// typedValues returns the constants of the type of e when e is a parameter
// (or string(parameter)) of a named type declared with constants.
func (r *resolver) typedValues(e ast.Expr) []string {
	if call, ok := e.(*ast.CallExpr); ok && len(call.Args) == 1 {
		if fun, ok := call.Fun.(*ast.Ident); ok && fun.Name == "string" {
			e = call.Args[0]
		}
	}
	id, ok := e.(*ast.Ident)
	if !ok {
		return nil
	}
	return r.typed[paramType(r.fn, id.Name)]
}

// actionsHeading is the heading of the section of docs/audit.md whose
// tables list the actions, one a row, the name in backquotes in the first
// column.
const actionsHeading = "## Actions"

var actionRow = regexp.MustCompile("^\\|\\s*`([a-z][a-z0-9_]*(?:\\.[a-z0-9_]+)+)`\\s*\\|")

func documentedActions(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(line) == actionsHeading
			continue
		}
		if !in {
			continue
		}
		if m := actionRow.FindStringSubmatch(line); m != nil {
			if slices.Contains(out, m[1]) {
				return nil, fmt.Errorf("%s: action %q is listed twice", path, m[1])
			}
			out = append(out, m[1])
		}
	}
	return out, nil
}
