package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// Printing: a table by default, indented JSON with -o json.

// printJSON prints v as indented JSON; the only thing on stdout with -o json.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints aligned columns; empty cells show "-".
func (c *cli) table(header string, n int, row func(i int) []string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for i := range n {
		cells := row(i)
		for j, s := range cells {
			s = strings.Map(func(r rune) rune {
				if r == '\t' || r == '\n' || r == '\r' {
					return ' '
				}
				return r
			}, s)
			if s == "" {
				s = "-"
			}
			cells[j] = s
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// done prints the result of a command without another answer: v with -o
// json, else the formatted line.
func (c *cli) done(v any, format string, args ...any) error {
	if c.g.output == "json" {
		return c.printJSON(v)
	}
	_, err := fmt.Fprintf(c.stdout, format, args...)
	return err
}

func timeCell(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

// nameOr is a name where one is known, else the id it names: tables show
// names where people look for them (the API leaves a name empty when the
// caller may not see what it names).
func nameOr(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// nameAndID is "name (id)", or the id alone when no name is known.
func nameAndID(name, id string) string {
	if name == "" || id == "" {
		return id
	}
	return name + " (" + id + ")"
}

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
