package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnitsAreHardened(t *testing.T) {
	tests := []struct {
		unit string
		text string
		want []string
	}{
		{"edgetrust-agent.service", AgentUnit, []string{
			"User=" + AgentUser,
			"ExecStart=" + AgentBinary + " run --config %d/agent.conf",
			"LoadCredential=agent.conf:" + AgentConfig,
			"StateDirectory=edgetrust-agent", "StateDirectoryMode=0700",
			"RuntimeDirectory=" + filepath.Base(filepath.Dir(AgentSocket)),
			"UMask=0077", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
			"CapabilityBoundingSet=\n", "Restart=always", "WantedBy=multi-user.target",
		}},
		{"edgetrust-broker.service", BrokerUnit, []string{
			"User=" + BrokerUser,
			"ExecStart=" + BrokerBinary + " serve --data-dir " + BrokerStateDir + " ",
			"StateDirectory=edgetrust-broker", "StateDirectoryMode=0700",
			"UMask=0077", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
			"CapabilityBoundingSet=\n", "Restart=always", "WantedBy=multi-user.target",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.unit, func(t *testing.T) {
			file, err := os.ReadFile(filepath.Join("systemd", tc.unit))
			if err != nil {
				t.Fatal(err)
			}
			if string(file) != tc.text {
				t.Fatal("the embedded unit differs from the file")
			}
			// kardianos/service renders the unit as a template: without
			// actions it writes exactly these bytes.
			if strings.Contains(tc.text, "{{") {
				t.Error("the unit contains a template action")
			}
			for _, w := range tc.want {
				if !strings.Contains(tc.text, "\n"+w) {
					t.Errorf("the unit lacks %q", w)
				}
			}
		})
	}
}

// The packages ship the very files that are embedded.
func TestPackagesShipTheUnits(t *testing.T) {
	for _, c := range []struct{ config, unit string }{
		{"nfpm/agent.yaml", "edgetrust-agent.service"},
		{"nfpm/broker.yaml", "edgetrust-broker.service"},
	} {
		b, err := os.ReadFile(c.config)
		if err != nil {
			t.Fatal(err)
		}
		want := "- src: packaging/systemd/" + c.unit + "\n    dst: /usr/lib/systemd/system/" + c.unit + "\n"
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not ship systemd/%s as /usr/lib/systemd/system/%s", c.config, c.unit, c.unit)
		}
	}
}

func TestScriptsParse(t *testing.T) {
	scripts, _ := filepath.Glob("scripts/*.sh")
	if len(scripts) != 6 {
		t.Fatalf("scripts = %v, want 6", scripts)
	}
	for _, s := range append(scripts, "version.sh") {
		if out, err := exec.Command("sh", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", s, err, out)
		}
	}
}

// TestUnitsVerify runs systemd-analyze verify on copies of the units whose
// ExecStart names an existing program (verify requires one). The package
// test verifies the installed units themselves, binaries in place.
func TestUnitsVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must verify the units: systemd-analyze is not installed (apt-get install systemd)")
		}
		t.Skip("systemd-analyze is not installed")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, text := range map[string]string{"edgetrust-agent.service": AgentUnit, "edgetrust-broker.service": BrokerUnit} {
		text = strings.NewReplacer(AgentBinary+" ", exe+" ", BrokerBinary+" ", exe+" ").Replace(text)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command("sh", "version.sh").Output()
	if err != nil {
		t.Skipf("no git here: %v", err)
	}
	v := strings.TrimSpace(string(out))
	// dpkg and rpm both need a leading digit and no '-' or '_'.
	if v == "" || v[0] < '0' || v[0] > '9' || strings.ContainsAny(v, "-_ ") {
		t.Errorf("version %q is not a package version", v)
	}
}
