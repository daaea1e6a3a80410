// Package flagconfig gives every flag of a pflag.FlagSet two more sources,
// an environment variable and a key of a YAML config file, and writes the
// documentation of all three from the flags themselves, so that a flag
// added to the set is a config key, an environment variable and a line of
// the documented example with no other change.
//
// Precedence, highest first: the command line, the environment, the file,
// the flag's default. The file is read strictly: a key that is no flag, a
// key given twice, a list for a single-valued flag and a value its flag
// refuses are each reported with their line. Secrets never sit in the
// file: a key named like a secret (password, passphrase, secret, token) or
// marked with MarkSecret is refused, and names its -file sibling.
package flagconfig

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/spf13/pflag"
)

// Options says which flags are config keys and how their environment
// variables are named. The zero value has no prefix and skips no flag.
type Options struct {
	// EnvPrefix starts every environment variable: a flag "data-dir" with
	// EnvPrefix "EDGETRUST_" is EDGETRUST_DATA_DIR.
	EnvPrefix string
	// CommandLineOnly names flags that are neither config keys nor
	// environment variables (help, version, the config file itself).
	CommandLineOnly []string
	// UnknownHint ends the message of an unknown key, e.g. where the keys
	// are listed; empty means none.
	UnknownHint string
}

// EnvName is the environment variable of the flag name: the prefix, then
// the name in upper case with '-' as '_'.
func (o Options) EnvName(flag string) string {
	return o.EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// configurable reports whether f is a config key.
func (o Options) configurable(f *pflag.Flag) bool {
	for _, n := range o.CommandLineOnly {
		if n == f.Name {
			return false
		}
	}
	return true
}

// secretAnnotation marks a flag whose value is itself a secret.
const secretAnnotation = "flagconfig_secret"

// MarkSecret marks the flag name as carrying a secret value: the file may
// not set it (the operator gives a -file flag instead). It panics when
// the flag does not exist, as pflag's MarkHidden would return an error.
func MarkSecret(fs *pflag.FlagSet, name string) {
	if err := fs.SetAnnotation(name, secretAnnotation, []string{"true"}); err != nil {
		panic(err)
	}
}

// secretWords are parts of a key that say it would hold a secret value.
var secretWords = []string{"password", "passphrase", "secret", "token-value", "api-key", "private-key"}

// Problem is one fault of a config file or of an environment variable,
// with where it is.
type Problem struct {
	File string // the config file; empty for an environment variable
	Line int    // 1-based; 0 when unknown
	Key  string // the key or the environment variable
	Msg  string
}

func (p Problem) Error() string {
	switch {
	case p.File != "" && p.Line > 0 && p.Key == "":
		return fmt.Sprintf("%s line %d: %s", p.File, p.Line, p.Msg)
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s line %d: %s: %s", p.File, p.Line, p.Key, p.Msg)
	case p.File != "":
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	default:
		return fmt.Sprintf("%s: %s", p.Key, p.Msg)
	}
}

// Problems is the list of faults Apply found; it is an error.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "; ")
}

// Setting is one key of a config file.
type Setting struct {
	Key    string
	Line   int
	Values []string // one for a scalar
	List   bool     // the value was a YAML list
}

// File is a parsed config file: its settings in file order.
type File struct {
	Path     string
	Settings []Setting
}

// ReadFile reads and parses the config file at path (see Parse). An
// unreadable file is an error; the file's problems are returned beside the
// settings that have none, so that Apply can report the rest.
func ReadFile(path string, fs *pflag.FlagSet, o Options) (*File, Problems, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config file: %w", err)
	}
	f, ps := Parse(path, data, fs, o)
	return f, ps, nil
}

// Parse reads data, a YAML mapping from flag names to values, and checks
// its keys against the configurable flags of fs: unknown keys, keys given
// twice, secrets, lists for single-valued flags and nested mappings are
// problems. The values themselves are checked by Apply, by their flags.
// The File returned holds the settings without problems; it is never nil.
func Parse(path string, data []byte, fs *pflag.FlagSet, o Options) (*File, Problems) {
	f := &File{Path: path}
	doc, err := parser.ParseBytes(data, 0)
	if err != nil {
		return f, Problems{{File: path, Line: errLine(err), Msg: "not YAML: " + parseMsg(err)}}
	}
	if len(doc.Docs) > 1 {
		return f, Problems{{File: path, Msg: "holds several YAML documents; want one mapping of flag names to values"}}
	}
	if len(doc.Docs) == 0 || doc.Docs[0].Body == nil {
		return f, nil // an empty file sets nothing
	}
	pairs, err := mappingPairs(doc.Docs[0].Body)
	if err != nil {
		return f, Problems{{File: path, Line: line(doc.Docs[0].Body), Msg: err.Error()}}
	}
	var ps Problems
	seen := map[string]int{}
	for _, mv := range pairs {
		key, ln := keyString(mv.Key), line(mv.Key)
		bad := func(msg string) { ps = append(ps, Problem{File: path, Line: ln, Key: key, Msg: msg}) }
		if first, ok := seen[key]; ok {
			bad(fmt.Sprintf("given twice (first on line %d)", first))
			continue
		}
		seen[key] = ln
		fl := fs.Lookup(key)
		if fl == nil || !o.configurable(fl) {
			bad(unknownKey(key, fs, o))
			continue
		}
		if _, secret := fl.Annotations[secretAnnotation]; secret {
			bad(secretMsg(key, fs))
			continue
		}
		_, isList := fl.Value.(pflag.SliceValue)
		vals, list, err := values(mv.Value)
		switch {
		case err != nil:
			bad(err.Error())
			continue
		case list && !isList:
			bad(fmt.Sprintf("takes one value (%s), not a list", typeWord(fl)))
			continue
		case holdsPrivateKey(vals):
			bad("holds a private key: a secret is never written in the config file; give the path of a file (0600) holding it")
			continue
		}
		f.Settings = append(f.Settings, Setting{Key: key, Line: ln, Values: vals, List: list})
	}
	return f, ps
}

// unknownKey says why key is no config key, and what to write instead.
func unknownKey(key string, fs *pflag.FlagSet, o Options) string {
	if fl := fs.Lookup(key); fl != nil {
		return "is given on the command line only, not in a config file"
	}
	lk := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(lk, w) && !strings.HasSuffix(lk, "-file") {
			return secretMsg(key, fs)
		}
	}
	if fs.Lookup(key+"-file") != nil {
		return secretMsg(key, fs)
	}
	if alt := strings.ReplaceAll(strings.ToLower(key), "_", "-"); alt != key && fs.Lookup(alt) != nil {
		return fmt.Sprintf("unknown key (did you mean %q?)", alt)
	}
	if o.UnknownHint != "" {
		return "unknown key (" + o.UnknownHint + ")"
	}
	return "unknown key"
}

func secretMsg(key string, fs *pflag.FlagSet) string {
	if fs.Lookup(key+"-file") != nil {
		return fmt.Sprintf("a secret is never written in the config file: put it in a file only the broker reads (0600) and give its path as %s-file", key)
	}
	return "a secret is never written in the config file: give it through a *-file key naming a file only the broker reads (0600)"
}

// holdsPrivateKey reports whether a value is a PEM private key pasted in
// place of its file's path.
func holdsPrivateKey(vals []string) bool {
	for _, v := range vals {
		if strings.Contains(v, "-----BEGIN") && strings.Contains(v, "PRIVATE KEY") {
			return true
		}
	}
	return false
}

// mappingPairs returns the key-value pairs of a top-level mapping.
func mappingPairs(n ast.Node) ([]*ast.MappingValueNode, error) {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values, nil
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}, nil
	case *ast.CommentNode:
		return nil, nil
	default:
		return nil, errors.New("want a mapping of flag names to values (key: value lines)")
	}
}

// values turns a YAML value into the strings a flag's Set takes.
func values(n ast.Node) (vals []string, list bool, err error) {
	if s, ok := n.(*ast.SequenceNode); ok {
		out := make([]string, 0, len(s.Values))
		for _, v := range s.Values {
			x, err := scalar(v)
			if err != nil {
				return nil, true, fmt.Errorf("list item: %w", err)
			}
			out = append(out, x)
		}
		return out, true, nil
	}
	x, err := scalar(n)
	if err != nil {
		return nil, false, err
	}
	return []string{x}, false, nil
}

func scalar(n ast.Node) (string, error) {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return "", errors.New("has no value (remove the key to keep the default, or write \"\" for an empty one)")
	case *ast.StringNode:
		return v.Value, nil
	case *ast.LiteralNode:
		return v.Value.Value, nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, nil
	case *ast.MappingNode, *ast.MappingValueNode:
		return "", errors.New("want a value, not a mapping")
	case *ast.SequenceNode:
		return "", errors.New("want a value, not a list")
	default:
		return "", fmt.Errorf("want a plain value, not %s", n.Type())
	}
}

func keyString(k ast.MapKeyNode) string {
	if s, ok := k.(*ast.StringNode); ok {
		return s.Value
	}
	return k.GetToken().Value
}

func line(n ast.Node) int {
	if n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

// errLine is the line of a goccy parse error, 0 when it has none.
func errLine(err error) int {
	var se *yaml.SyntaxError
	if errors.As(err, &se) && se.Token != nil {
		return se.Token.Position.Line
	}
	return 0
}

// parseMsg is a goccy parse error without its source excerpt.
func parseMsg(err error) string {
	var se *yaml.SyntaxError
	if errors.As(err, &se) {
		return se.Message
	}
	return firstLine(err.Error())
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// typeWord names what a flag's value is, for messages and the docs.
func typeWord(fl *pflag.Flag) string {
	switch fl.Value.Type() {
	case "duration":
		return "a duration such as 90s, 15m or 1h30m"
	case "bool":
		return "true or false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "count":
		return "a whole number"
	case "float32", "float64":
		return "a number"
	case "stringArray", "stringSlice":
		return "a list of strings"
	case "string":
		return "a string"
	default:
		return "a " + fl.Value.Type()
	}
}

// Sources says where each configurable flag's value came from: "--name",
// the environment variable, "FILE line N" or "default".
type Sources map[string]string

// Of is the source of the flag name, "--name" when unknown.
func (s Sources) Of(name string) string {
	if v, ok := s[name]; ok {
		return v
	}
	return "--" + name
}

// Apply gives each configurable flag of fs that the command line left
// unset its value from the environment (getenv(o.EnvName(flag))), else
// from file (which may be nil). A list flag takes a comma-separated list
// from the environment and a YAML list from the file, replacing its
// default. A flag given by the environment or the file counts as
// changed (fs.Changed), as one given on the command line does. Every
// value a flag refuses is a Problem; the flags are set as far as they
// could be.
func Apply(fs *pflag.FlagSet, o Options, file *File, getenv func(string) string) (Sources, Problems) {
	src := Sources{}
	byKey := map[string]Setting{}
	path := ""
	if file != nil {
		path = file.Path
		for _, s := range file.Settings {
			byKey[s.Key] = s
		}
	}
	var ps Problems
	fs.VisitAll(func(fl *pflag.Flag) {
		if !o.configurable(fl) {
			return
		}
		switch {
		case fs.Changed(fl.Name):
			src[fl.Name] = "--" + fl.Name
		case getenv(o.EnvName(fl.Name)) != "":
			env := o.EnvName(fl.Name)
			v := getenv(env)
			vals := []string{v}
			if _, ok := fl.Value.(pflag.SliceValue); ok {
				vals = strings.Split(v, ",")
			}
			if err := set(fl, vals); err != nil {
				ps = append(ps, Problem{Key: env, Msg: setMsg(fl, err, "")})
			}
			fl.Changed = true
			src[fl.Name] = env
		default:
			s, ok := byKey[fl.Name]
			if !ok {
				src[fl.Name] = "default"
				return
			}
			if err := set(fl, s.Values); err != nil {
				ps = append(ps, Problem{File: path, Line: s.Line, Key: s.Key, Msg: setMsg(fl, err, strings.Join(s.Values, ", "))})
			}
			fl.Changed = true
			src[fl.Name] = fmt.Sprintf("%s line %d (%s)", path, s.Line, fl.Name)
		}
	})
	return src, ps
}

// set gives fl its values without marking it changed on the command line.
func set(fl *pflag.Flag, vals []string) error {
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		return sv.Replace(vals)
	}
	return fl.Value.Set(vals[0])
}

// setMsg says what fl wants. got is the value refused, "" when it is not
// to be repeated (an environment variable may hold anything).
func setMsg(fl *pflag.Flag, err error, got string) string {
	msg := "want " + typeWord(fl)
	if got != "" {
		msg += fmt.Sprintf(", got %q", got)
	}
	switch fl.Value.Type() {
	case "string", "stringArray", "stringSlice":
		return msg + ": " + firstLine(err.Error())
	}
	return msg
}
