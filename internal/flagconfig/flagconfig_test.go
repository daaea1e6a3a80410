package flagconfig

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

var testOptions = Options{EnvPrefix: "APP_", CommandLineOnly: []string{"help"}, UnknownHint: "see the example"}

type testFlags struct {
	name, store string
	ttl         time.Duration
	san         []string
	n           int
	on          bool
}

func newTestFlags() (*pflag.FlagSet, *testFlags) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.SortFlags = false
	v := &testFlags{}
	fs.StringVar(&v.name, "data-dir", "/var/lib/x", "where")
	fs.StringVar(&v.store, "store", "", "the store")
	fs.DurationVar(&v.ttl, "ttl", 15*time.Minute, "a lifetime")
	fs.StringArrayVar(&v.san, "tls-san", []string{"localhost"}, "names (repeatable)")
	fs.IntVar(&v.n, "count", 3, "how many")
	fs.BoolVar(&v.on, "on", false, "switch")
	fs.String("admin-password-file", "", "file with the password")
	fs.String("hidden", "h", "not documented")
	_ = fs.MarkHidden("hidden")
	fs.String("inline-secret", "", "a secret flag")
	MarkSecret(fs, "inline-secret")
	fs.BoolP("help", "h", false, "help")
	return fs, v
}

// Every problem of a file names its line and key; the settings without
// problems are kept.
func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // Problem.Error() without the file name
		keys []string // settings kept
	}{
		{"empty file", "", nil, nil},
		{"comments only", "# nothing\n", nil, nil},
		{"good", "data-dir: /d\ntls-san: [a, b]\ncount: 7\n", nil, []string{"data-dir", "tls-san", "count"}},
		{"unknown key", "data-dir: /d\nlisen: x\n", []string{`line 2: lisen: unknown key (see the example)`}, []string{"data-dir"}},
		{"underscores", "data_dir: /d\n", []string{`line 1: data_dir: unknown key (did you mean "data-dir"?)`}, nil},
		{"command-line only", "help: true\n", []string{"line 1: help: is given on the command line only"}, nil},
		{"secret with a -file sibling", "\nadmin-password: hunter2\n", []string{"line 2: admin-password: a secret is never written in the config file: put it in a file only the broker reads (0600) and give its path as admin-password-file"}, nil},
		{"secret by its name", "db-passphrase: x\n", []string{"line 1: db-passphrase: a secret is never written"}, nil},
		{"flag marked secret", "inline-secret: x\n", []string{"line 1: inline-secret: a secret is never written"}, nil},
		{"private key pasted", "store: |\n  -----BEGIN PRIVATE KEY-----\n  MC4CAQ\n", []string{"line 1: store: holds a private key"}, nil},
		{"list for one value", "store: [a]\n", []string{"line 1: store: takes one value (a string), not a list"}, nil},
		{"mapping value", "store:\n  a: b\n", []string{"line 1: store: want a value, not a mapping"}, nil},
		{"no value", "store:\n", []string{"line 1: store: has no value"}, nil},
		{"nested list", "tls-san: [[a]]\n", []string{"line 1: tls-san: list item: want a value, not a list"}, nil},
		{"given twice", "store: a\nstore: b\n", []string{`line 2: not YAML: mapping key "store" already defined`}, nil},
		{"not a mapping", "- a\n- b\n", []string{"line 1: want a mapping of flag names to values"}, nil},
		{"not YAML", "store: [a\n", []string{"line 1: not YAML: sequence end token"}, nil},
		{"two documents", "store: a\n---\nstore: b\n", []string{"holds several YAML documents"}, nil},
		{"several problems", "a: 1\nstore: ok\nb: 2\n", []string{"line 1: a: unknown key", "line 3: b: unknown key"}, []string{"store"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, _ := newTestFlags()
			f, ps := Parse("c.yaml", []byte(tc.yaml), fs, testOptions)
			if len(ps) != len(tc.want) {
				t.Fatalf("problems %q, want %d like %q", ps.Error(), len(tc.want), tc.want)
			}
			for i, p := range ps {
				got := strings.TrimPrefix(p.Error(), "c.yaml ")
				got = strings.TrimPrefix(got, "c.yaml: ")
				if !strings.HasPrefix(got, tc.want[i]) {
					t.Errorf("problem %d = %q, want it to start with %q", i, got, tc.want[i])
				}
			}
			var keys []string
			for _, s := range f.Settings {
				keys = append(keys, s.Key)
			}
			if diff := cmp.Diff(tc.keys, keys); diff != "" {
				t.Errorf("settings kept (-want +got):\n%s", diff)
			}
		})
	}
}

// The command line wins over the environment, which wins over the file,
// which wins over the default; lists replace the default.
func TestApplyPrecedence(t *testing.T) {
	const file = "data-dir: /from-file\nstore: file-store\nttl: 1h\ntls-san:\n  - a.example\n  - b.example\ncount: 9\non: true\n"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want testFlags
		src  map[string]string
	}{
		{"file over default", nil, nil,
			testFlags{name: "/from-file", store: "file-store", ttl: time.Hour, san: []string{"a.example", "b.example"}, n: 9, on: true},
			map[string]string{"data-dir": "c.yaml line 1 (data-dir)", "admin-password-file": "default"}},
		{"environment over file", nil, map[string]string{"APP_DATA_DIR": "/from-env", "APP_TLS_SAN": "x,y"},
			testFlags{name: "/from-env", store: "file-store", ttl: time.Hour, san: []string{"x", "y"}, n: 9, on: true},
			map[string]string{"data-dir": "APP_DATA_DIR", "tls-san": "APP_TLS_SAN"}},
		{"flag over environment", []string{"--data-dir", "/from-flag", "--tls-san", "z"}, map[string]string{"APP_DATA_DIR": "/from-env"},
			testFlags{name: "/from-flag", store: "file-store", ttl: time.Hour, san: []string{"z"}, n: 9, on: true},
			map[string]string{"data-dir": "--data-dir", "tls-san": "--tls-san", "store": "c.yaml line 2 (store)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, v := newTestFlags()
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			f, ps := Parse("c.yaml", []byte(file), fs, testOptions)
			if len(ps) > 0 {
				t.Fatal(ps)
			}
			src, ps := Apply(fs, testOptions, f, func(k string) string { return tc.env[k] })
			if len(ps) > 0 {
				t.Fatal(ps)
			}
			if diff := cmp.Diff(tc.want, *v, cmp.AllowUnexported(testFlags{})); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
			for k, want := range tc.src {
				if got := src.Of(k); got != want {
					t.Errorf("source of %s = %q, want %q", k, got, want)
				}
				if changed := fs.Changed(k); changed != (want != "default") {
					t.Errorf("fs.Changed(%q) = %v with source %q", k, changed, want)
				}
			}
		})
	}
}

// A value its flag refuses names the key, the line and the type wanted;
// from the environment, the variable without its value.
func TestApplyTypeErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"duration without a unit", "\nttl: 30\n", nil, `c.yaml line 2: ttl: want a duration such as 90s, 15m or 1h30m, got "30"`},
		{"word for a number", "count: many\n", nil, `c.yaml line 1: count: want a whole number, got "many"`},
		{"yes for a bool", "on: yes\n", nil, `c.yaml line 1: on: want true or false, got "yes"`},
		{"environment", "", map[string]string{"APP_TTL": "s3cret"}, "APP_TTL: want a duration such as 90s, 15m or 1h30m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, _ := newTestFlags()
			f, ps := Parse("c.yaml", []byte(tc.yaml), fs, testOptions)
			if len(ps) > 0 {
				t.Fatal(ps)
			}
			_, ps = Apply(fs, testOptions, f, func(k string) string { return tc.env[k] })
			if diff := cmp.Diff(tc.want, ps.Error()); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// The example documents every documented flag, hides hidden and
// command-line-only ones, and, every key uncommented, is a file whose
// values are the defaults.
func TestExampleRoundTrip(t *testing.T) {
	fs, _ := newTestFlags()
	ex := string(Example(fs, testOptions, "header\nline two"))
	for _, want := range []string{"# header\n# line two\n", "#data-dir: \"/var/lib/x\"\n", "#tls-san: [\"localhost\"]\n", "#ttl: 15m0s\n", "environment APP_COUNT"} {
		if !strings.Contains(ex, want) {
			t.Errorf("example lacks %q:\n%s", want, ex)
		}
	}
	for _, not := range []string{"hidden", "#help"} {
		if strings.Contains(ex, not) {
			t.Errorf("example shows %q:\n%s", not, ex)
		}
	}
	uncommented := regexp.MustCompile(`(?m)^#([a-z-]+: )`).ReplaceAllString(ex, "$1")
	fresh, v := newTestFlags()
	want := *v
	f, ps := Parse("ex.yaml", []byte(uncommented), fresh, testOptions)
	if len(ps) > 0 {
		t.Fatalf("%v\n%s", ps, uncommented)
	}
	if _, ps := Apply(fresh, testOptions, f, func(string) string { return "" }); len(ps) > 0 {
		t.Fatal(ps)
	}
	if diff := cmp.Diff(want, *v, cmp.AllowUnexported(testFlags{})); diff != "" {
		t.Errorf("the example's values are not the defaults (-want +got):\n%s", diff)
	}
	if n := len(f.Settings); n != 7 {
		t.Errorf("example sets %d keys, want the 7 documented flags", n)
	}
}

func TestMarkdownListsDocumentedFlags(t *testing.T) {
	fs, _ := newTestFlags()
	md := string(Markdown(fs, testOptions, "# Title\n"))
	for _, want := range []string{"# Title\n", "| `data-dir` (`--data-dir`) | `APP_DATA_DIR` | `\"/var/lib/x\"` | where (a string) |"} {
		if !strings.Contains(md, want) {
			t.Errorf("docs lack %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "hidden") {
		t.Errorf("docs show a hidden flag:\n%s", md)
	}
}
