package integration

// Brokers sharing one PostgreSQL database (issue 14, points 1 and 5):
// serve --store postgres://… keeps the registry there, and what one broker
// writes, and what it consumes, holds for the other.

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edgetrust/edgetrust/broker/store/postgres/postgrestest"
	"github.com/edgetrust/edgetrust/protocol"
)

func TestBrokersSharePostgres(t *testing.T) {
	url := postgrestest.URL(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	keyFile := clusterKeyFile(t)
	a := startBroker(t, dirA, "127.0.0.1:0", "--store", url, "--cluster-key-file", keyFile)
	b := startBrokerEnv(t, dirB, "127.0.0.1:0", []string{
		"EDGETRUST_BOOTSTRAP_ADMIN_PASSWORD=" + adminPassword, "EDGETRUST_STORE=" + url, "EDGETRUST_CLUSTER_KEY_FILE=" + keyFile})
	for _, dir := range []string{dirA, dirB} {
		if _, err := os.Stat(filepath.Join(dir, "edgetrust.db")); !os.IsNotExist(err) {
			t.Errorf("%s holds an SQLite database: %v", dir, err)
		}
	}

	// One bootstrap: the second broker found the first one's admin.
	admA, admB := newAdmin(t, a), newAdmin(t, b)
	type account struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	var created account
	admA.jsonOut(&created, "accounts", "create", "--name", "Shared", "--type", "customer")
	var listA, listB []account
	admA.jsonOut(&listA, "accounts", "list")
	admB.jsonOut(&listB, "accounts", "list")
	if !slices.Contains(listB, created) || len(listA) != len(listB) {
		t.Errorf("accounts through A %v and through B %v; want the same, with %v", listA, listB, created)
	}

	// A single-use key value created through A is consumed once across
	// both brokers.
	k := admA.createKey("--auto-trust")
	valueID, value := singleUseValue(admB, k)
	first := dialAgent(t, a, newIdentity(t)).conn
	reg, err := first.Register(context.Background(), protocol.Register{APIKey: value, ClientType: protocol.ClientDesktop})
	if err != nil || reg.State != protocol.StateTrusted {
		t.Fatalf("registration through A: %+v, %v", reg, err)
	}
	first.Close()
	second := dialAgent(t, b, newIdentity(t)).conn
	defer second.Close()
	if reg, err := second.Register(context.Background(), protocol.Register{APIKey: value, ClientType: protocol.ClientDesktop}); err == nil {
		t.Errorf("a spent single-use value registered a second endpoint through B: %+v", reg)
	} else {
		t.Logf("the second registration, through B: %v", err)
	}
	if n := useCount(admB, k, valueID); n != 1 {
		t.Errorf("use count seen through B = %d, want 1", n)
	}
}
