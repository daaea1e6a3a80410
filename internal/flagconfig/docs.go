package flagconfig

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// documented reports whether fl belongs in the example and the docs:
// configurable, not hidden, and not a secret (which no file may set).
func (o Options) documented(fl *pflag.Flag) bool {
	_, secret := fl.Annotations[secretAnnotation]
	return o.configurable(fl) && !fl.Hidden && !secret
}

// defaultYAML is fl's default as a YAML value.
func defaultYAML(fl *pflag.Flag) string {
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		var def []string
		if fl.DefValue != "[]" && fl.DefValue != "" {
			def = sv.GetSlice() // only right before any Set; see Example
		}
		q := make([]string, len(def))
		for i, d := range def {
			q[i] = strconv.Quote(d)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	switch fl.Value.Type() {
	case "string":
		return strconv.Quote(fl.DefValue)
	default:
		return fl.DefValue
	}
}

// Example is a config file setting nothing that documents every
// documented flag of fs: its usage, environment variable, and the key
// with its default, commented out. Call it on a fresh flag set (defaults
// not yet overwritten). header starts it, each line commented.
func Example(fs *pflag.FlagSet, o Options, header string) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		b.WriteString(strings.TrimRight("# "+l, " ") + "\n")
	}
	fs.VisitAll(func(fl *pflag.Flag) {
		if !o.documented(fl) {
			return
		}
		b.WriteString("\n")
		for _, l := range wrap(fl.Usage, 76) {
			b.WriteString("# " + l + "\n")
		}
		fmt.Fprintf(&b, "# (%s; environment %s)\n", typeWord(fl), o.EnvName(fl.Name))
		fmt.Fprintf(&b, "#%s: %s\n", fl.Name, defaultYAML(fl))
	})
	return b.Bytes()
}

// Markdown documents every documented flag of fs as a table: key (and
// flag), environment variable, default, meaning. intro comes first.
func Markdown(fs *pflag.FlagSet, o Options, intro string) []byte {
	var b bytes.Buffer
	b.WriteString(intro)
	b.WriteString("\n| key / flag | environment | default | meaning |\n|---|---|---|---|\n")
	fs.VisitAll(func(fl *pflag.Flag) {
		if !o.documented(fl) {
			return
		}
		fmt.Fprintf(&b, "| `%s` (`--%s`) | `%s` | `%s` | %s (%s) |\n", fl.Name, fl.Name, o.EnvName(fl.Name),
			defaultYAML(fl), mdEscape(fl.Usage), typeWord(fl))
	})
	return b.Bytes()
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// wrap breaks s into lines of at most width runes at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
