package main

import (
	"context"
	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The commands on the broker's token-signing keys (SPEC T5).

// signingKeysCommands returns the signing-keys commands.
func signingKeysCommands() []*command {
	return []*command{
		{
			path: "signing-keys rotate", args: "",
			summary: "make a new token-signing key (administrators at the root account)",
			help: `Makes a new token-signing key. It is published in /.well-known/jwks.json at
once and signs tokens only from ACTIVATES (the JWKS's cache lifetime later,
--jwks-max-age of the broker), so services that cache the JWKS have it
before they see a token it signed. The key it replaces keeps verifying:
it leaves the JWKS at OLD KEY UNPUBLISHED, once its last token has expired
and every cache has let it go. Tokens already issued stay valid. The broker
also rotates on its own with --signing-key-rotation.

Example:
  edgetrustctl signing-keys rotate -o json`,
			setup: setupSigningKeysRotate,
		},
		{
			path: "signing-keys list", args: "",
			summary: "list the token-signing keys in the JWKS and when each signs and leaves",
			help: `Lists the token-signing keys the broker publishes, in the order they sign:
STATE is next (published, signs from ACTIVATES), active (signs now),
retiring (signs no more; leaves the JWKS at UNPUBLISHED, once its last token
has expired) or verify_only (a key of before rotation). Administrators at
the root account.

Example:
  edgetrustctl signing-keys list -o json`,
			setup: setupSigningKeysList,
		},
	}
}

func setupSigningKeysRotate(*pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		rot, err := call(c, func(ctx context.Context, cl *api.Client) (*api.SigningKeyRotation, error) {
			return cl.RotateSigningKey(ctx)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(rot)
		}
		old := "-"
		if rot.Replaces != "" {
			old = rot.Replaces
		}
		return c.table("NEW KEY\tPUBLISHED\tACTIVATES\tOLD KEY\tOLD KEY UNPUBLISHED", 1, func(int) []string {
			return []string{rot.KeyID, utc(rot.PublishedAt), utc(rot.ActivatesAt), old, timeOr(rot.ReplacedUnpublishedAt)}
		})
	}
}

func setupSigningKeysList(*pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		keys, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.SigningKey, error) {
			return cl.ListSigningKeys(ctx)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			if keys == nil {
				keys = []api.SigningKey{}
			}
			return c.printJSON(keys)
		}
		return c.table("KEY\tSTATE\tCREATED\tACTIVATES\tUNPUBLISHED", len(keys), func(i int) []string {
			k := keys[i]
			return []string{k.KeyID, k.State, utc(k.CreatedAt), timeOr(k.ActivatesAt), timeOr(k.UnpublishedAt)}
		})
	}
}

// timeOr is t in UTC, or "-" for the zero time.
func timeOr(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return utc(t)
}
