package httpapi_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/broker/brokertest"
)

// docBlocks returns the ```sh blocks of a Markdown file, in order.
func docBlocks(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?ms)^```sh\n(.*?)^```").FindAllSubmatch(b, -1) {
		blocks = append(blocks, string(m[1]))
	}
	return blocks
}

// TestOAuthDocs runs every sh block of docs/oauth.md, in order, with bash,
// curl and openssl against a broker over HTTPS, and checks the answers the
// document promises.
func TestOAuthDocs(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "openssl", "base64", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("docs/oauth.md needs %s: %v", tool, err)
		}
	}
	blocks := docBlocks(t, filepath.Join("..", "..", "docs", "oauth.md"))
	if len(blocks) < 10 {
		t.Fatalf("found %d sh blocks in docs/oauth.md", len(blocks))
	}
	h := newOAuthHarness(t, false)
	dir := t.TempDir()
	ca := filepath.Join(dir, "broker.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	// Each block is echoed to stdout before it runs, so the output can be
	// split by block.
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for i, b := range blocks {
		script.WriteString("echo '@@block " + string(rune('a'+i)) + "'\n" + b + "\necho\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BROKER="+h.srv.URL, "CA="+ca, "ADMIN_PASSWORD="+brokertest.AdminPassword)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the document's commands failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	// What each step answers, in the order the document shows it.
	for _, want := range []string{
		`{"device_code":"etd_`, `"state":"abc","expires_in":259200,"interval":1}`,
		`{"error":"authorization_pending"`,
		`"state":"trusted"`,
		`{"access_token":"ey`, `"token_type":"Bearer","expires_in":900,"refresh_token":"etr_`,
		`{"access_token":"ey`, // the refresh
		`{"active":true,"token_use":"device"`, `"cnf":{"jkt":"`,
		"{}\n", `{"active":false}`,
		`{"access_token":"ey`,       // the RSA printer of an auto-trust key
		`{"error":"use_dpop_nonce"`, // a login's first DPoP proof
		`{"access_token":"ey`, `"user":{"id":"`, `"username":"jdoe"`,
		`{"access_token":"ey`, `"username":"paula"`, // a card login signed with HCP-Request-Signature
		`"endpoint_id":"`, `"current":true}]`, "204\n", `{"error":"unauthorized"`,
		`"device_authorization_endpoint":"` + h.srv.URL + `/oauth/v1/register"`,
	} {
		i := strings.Index(out, want)
		if i < 0 {
			t.Fatalf("the output lacks %s (in this order)\noutput:\n%s\nstderr:\n%s", want, stdout.String(), stderr.String())
		}
		out = out[i+len(want):]
	}
	t.Logf("output:\n%s", stdout.String())
	if strings.Contains(stderr.String(), "error") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}
