package flagconfig

import (
	"testing"
)

// FuzzParse: any input is either settings of configurable flags or
// problems naming the file; neither Parse nor Apply panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte("data-dir: /d\ntls-san: [a, b]\nttl: 1h\ncount: 7\non: true\n"))
	f.Add([]byte("lisen: x\nadmin-password: y\nstore: [a]\n"))
	f.Add([]byte("store: &a x\nttl: *a\n"))
	f.Add([]byte("---\nstore: a\n---\nstore: b\n"))
	f.Add([]byte("store: |\n  two\n  lines\n"))
	f.Add([]byte("{store: a, tls-san: [x]}"))
	f.Add([]byte("store: !!binary aGk=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, _ := newTestFlags()
		file, ps := Parse("c.yaml", data, fs, testOptions)
		for _, p := range ps {
			if p.File != "c.yaml" {
				t.Fatalf("problem without the file: %+v", p)
			}
		}
		for _, s := range file.Settings {
			fl := fs.Lookup(s.Key)
			if fl == nil || !testOptions.configurable(fl) || len(s.Values) == 0 && !s.List {
				t.Fatalf("setting %+v kept", s)
			}
		}
		Apply(fs, testOptions, file, func(string) string { return "" })
	})
}
