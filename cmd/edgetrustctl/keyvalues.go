package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The commands on the values of an API key: add-value, regenerate and
// revoke-value. A value's secret is printed once.

// keyValueCommands returns the commands on the values of a key.
func keyValueCommands() []*command {
	return []*command{
		{
			path: "keys regenerate", args: "ID [--value VALUE_ID]",
			summary: "replace a value's secret; the old one stops working at once",
			help: `Generates a new secret for one value of the key, under the same key id and
value id; its settings and history stay. The new value is printed once. A key
with several values needs --value (see "keys show"). Endpoints that
registered with the old secret stay trusted.

Example:
  edgetrustctl keys regenerate 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f -o json`,
			setup: setupKeysRegenerate,
		},
		{
			path: "keys add-value", args: "ID --description D [--use-limit N] [--expires RFC3339]",
			summary: "add a value to an API key; it is shown once",
			help: `Generates a new value of the key, with its own description, optional use
limit (registrations it admits; 0 = unlimited) and expiry. The value is
printed once.

Example:
  edgetrustctl keys add-value 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f --description "batch 7" \
      --use-limit 20 --expires 2030-01-01T00:00:00Z -o json`,
			setup: setupKeysAddValue,
		},
		{
			path: "keys revoke-value", args: "ID VALUE_ID",
			summary: "revoke one value of an API key",
			help: `Revokes one value; the key's other values keep working. Revoking twice does
nothing.

Example:
  edgetrustctl keys revoke-value 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f 9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b`,
			setup: setupKeysRevokeValue,
		},
	}
}

func setupKeysRegenerate(fs *pflag.FlagSet) func(*cli, []string) error {
	var valueID string
	fs.StringVar(&valueID, "value", "", "id of the value to regenerate (required when the key has several)")
	return func(c *cli, args []string) error {
		id, err := oneID(args, "key id")
		if err != nil {
			return err
		}
		cn, err := c.connect()
		if err != nil {
			return err
		}
		if valueID == "" {
			var k *api.KeyDetail
			err := cn.do(func(ctx context.Context, cl *api.Client) error {
				var err error
				k, err = cl.GetKey(ctx, id)
				return err
			})
			switch {
			case err == nil:
				var live []string
				for _, v := range k.Values {
					if !v.Revoked {
						live = append(live, fmt.Sprintf("%s (%q)", v.ID, v.Description))
					}
				}
				if len(live) > 1 {
					return usagef("key %s has %d values: name the one to regenerate with --value: %s", id, len(live), strings.Join(live, ", "))
				}
				if len(live) == 1 {
					valueID = strings.Fields(live[0])[0]
				}
			case api.IsStatus(err, http.StatusForbidden):
				// May regenerate without seeing the key: the broker decides.
			default:
				return c.describe(err, cn.cl.BaseURL())
			}
		}
		var cv *api.CreatedValue
		err = cn.do(func(ctx context.Context, cl *api.Client) error {
			var err error
			cv, err = cl.RegenerateKeyValue(ctx, id, valueID)
			return err
		})
		if err != nil {
			return c.describe(err, cn.cl.BaseURL())
		}
		if c.g.output == "json" {
			return c.printJSON(cv)
		}
		_, err = fmt.Fprintf(c.stdout, "Value %s of key %s regenerated; the old secret no longer works.\nNew value - store it now, it will not be shown again:\n%s\n", cv.ValueID, cv.ID, cv.Value)
		return err
	}
}

func setupKeysAddValue(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		req     api.AddValueRequest
		expires string
	)
	fs.StringVar(&req.Description, "description", "", "what the value is for (required)")
	fs.Int64Var(&req.UseLimit, "use-limit", 0, "registrations the value admits (0 = unlimited)")
	fs.StringVar(&expires, "expires", "", "expiry: RFC 3339 time or a duration from now (720h); default never")
	return func(c *cli, args []string) error {
		id, err := oneID(args, "key id")
		if err != nil {
			return err
		}
		if strings.TrimSpace(req.Description) == "" {
			return usagef("keys add-value needs --description")
		}
		if req.UseLimit < 0 {
			return usagef("--use-limit must be 0 (unlimited) or more")
		}
		if expires != "" {
			t, err := parseWhen(c, "expires", expires, 1)
			if err != nil {
				return err
			}
			req.ExpiresAt = &t
		}
		cv, err := call(c, func(ctx context.Context, cl *api.Client) (*api.CreatedValue, error) {
			return cl.AddKeyValue(ctx, id, req)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(cv)
		}
		_, err = fmt.Fprintf(c.stdout, "Value %s added to key %s.\nValue - store it now, it will not be shown again:\n%s\n", cv.ValueID, cv.ID, cv.Value)
		return err
	}
}

func setupKeysRevokeValue(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if len(args) != 2 {
			return usagef("give the key id and the value id (see %q)", prog+" keys show ID")
		}
		id, valueID := args[0], args[1]
		_, err := call(c, func(ctx context.Context, cl *api.Client) (struct{}, error) {
			return struct{}{}, cl.RevokeKeyValue(ctx, id, valueID)
		})
		if err != nil {
			return err
		}
		return c.done(map[string]any{"id": id, "value_id": valueID, "revoked": true}, "value %s of key %s revoked\n", valueID, id)
	}
}
