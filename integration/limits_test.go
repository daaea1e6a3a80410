package integration

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// Issue 15, point 2, with the built binaries: edgetrustctl keeps the
// broker's device token across logout, so a flood of wrong passwords for
// admin (which holds back every client without one: the per-user lockout)
// never locks it out; a fresh edgetrustctl is held back and says so.
func TestLoginDeviceTokenSurvivesAFlood(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b) // signs in once: the device token is saved
	tokens := filepath.Join(adm.configDir, "device-tokens.json")
	st, err := os.Stat(tokens)
	if err != nil {
		t.Fatalf("edgetrustctl login saved no device token: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("device-tokens.json mode %v, want 0600", st.Mode().Perm())
	}
	if b, _ := os.ReadFile(tokens); strings.Contains(string(b), adminPassword) {
		t.Fatal("device-tokens.json holds the password")
	}
	adm.run("logout")
	if _, err := os.Stat(tokens); err != nil {
		t.Fatalf("logout removed the device token: %v", err)
	}

	// The flood: wrong passwords for admin over the API.
	c := api.New("https://"+b.addr, brokerHTTP(t, b))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	limited := 0
	for i := 0; i < 40; i++ {
		_, err := c.SignIn(ctx, api.SignInRequest{Username: "admin", Password: "wrong-password"})
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("40 wrong passwords were never limited")
	}

	// A fresh edgetrustctl (no device token) is held back: exit 1, a message.
	fresh := &admin{t: t, b: b, configDir: t.TempDir()}
	cmd := fresh.command("login", "--username", "admin", "--password-stdin")
	cmd.Stdin = strings.NewReader(adminPassword + "\n")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "too many") {
		t.Errorf("fresh login during the flood: %v\n%s\nwant exit 1 saying too many attempts", err, out)
	}
	// The known machine signs in.
	cmd = adm.command("login", "--username", "admin", "--password-stdin")
	cmd.Stdin = strings.NewReader(adminPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("login with the saved device token during the flood: %v\n%s", err, out)
	}
	adm.run("whoami")
}
