package main

import (
	"strings"
	"testing"
	"time"

	"github.com/edgetrust/edgetrust/protocol/api"
)

func TestKeyValuesUsage(t *testing.T) {
	runUsageCases(t, []usageCase{
		{"keys add-value without description", []string{"keys", "add-value", "k1"}, 2, "", "--description"},
		{"keys add-value negative limit", []string{"keys", "add-value", "k1", "--description", "d", "--use-limit", "-1"}, 2, "", "--use-limit"},
		{"keys revoke-value one arg", []string{"keys", "revoke-value", "k1"}, 2, "", "value id"},
		{"help keys regenerate", []string{"keys", "regenerate", "--help"}, 0, "--value", ""},
	})
}

// walkKeyValues regenerates the fleet key's value and adds a second one (w.addedID).
func walkKeyValues(t *testing.T, w *walk) {
	t.Run("regenerate a single value without --value", func(t *testing.T) {
		cv := decodeJSON[map[string]any](t, w.mustRun(t, "", "keys", "regenerate", w.key.ID, "-o", "json").stdout)
		if cv["id"] != w.key.ID || cv["value_id"] != w.key.ValueID || !strings.HasPrefix(cv["value"].(string), "etk_") || cv["value"] == w.key.Value {
			t.Errorf("regenerated %v", cv)
		}
	})
	w.exp = time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	added := decodeJSON[map[string]any](t, w.mustRun(t, "", "keys", "add-value", w.key.ID, "--description", "batch 2",
		"--use-limit", "3", "--expires", w.exp.Format(time.RFC3339), "-o", "json").stdout)
	w.addedID, _ = added["value_id"].(string)
	t.Run("add-value json", func(t *testing.T) {
		if w.addedID == "" || !strings.HasPrefix(added["value"].(string), "etk_") {
			t.Errorf("added %v", added)
		}
		k := decodeJSON[api.KeyDetail](t, w.mustRun(t, "", "keys", "show", w.key.ID, "-o", "json").stdout)
		if len(k.Values) != 2 || k.Values[1].UseLimit != 3 || k.Values[1].Description != "batch 2" || !k.Values[1].ExpiresAt.Equal(w.exp) {
			t.Errorf("values %+v", k.Values)
		}
	})
	t.Run("regenerate on a key with several values needs --value", func(t *testing.T) {
		r := runCLI(t, w.env, "", "keys", "regenerate", w.key.ID)
		if r.code != 2 || !strings.Contains(r.stderr, w.key.ValueID) || !strings.Contains(r.stderr, w.addedID) || !strings.Contains(r.stderr, "--value") {
			t.Errorf("exit %d, stderr %q: want 2 naming both values", r.code, r.stderr)
		}
		cv := decodeJSON[api.CreatedValue](t, w.mustRun(t, "", "keys", "regenerate", w.key.ID, "--value", w.addedID, "-o", "json").stdout)
		if cv.ValueID != w.addedID || cv.ID != w.key.ID {
			t.Errorf("regenerated %+v", cv)
		}
		table := w.mustRun(t, "", "keys", "regenerate", w.key.ID, "--value", w.addedID).stdout
		if !strings.Contains(table, "etk_") || !strings.Contains(table, "will not be shown again") {
			t.Errorf("regenerate table %q", table)
		}
	})
}

// walkRevokeValue revokes the second value of the fleet key.
func walkRevokeValue(t *testing.T, w *walk) {
	t.Run("revoke-value", func(t *testing.T) {
		w.mustRun(t, "", "keys", "revoke-value", w.key.ID, w.addedID)
		k := decodeJSON[api.KeyDetail](t, w.mustRun(t, "", "keys", "show", w.key.ID, "-o", "json").stdout)
		if !k.Values[1].Revoked || k.Values[0].Revoked {
			t.Errorf("values after revoking %s: %+v", w.addedID, k.Values)
		}
		// One live value left: regenerate needs no --value again.
		w.mustRun(t, "", "keys", "regenerate", w.key.ID)
	})
}
