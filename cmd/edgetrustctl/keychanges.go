package main

import (
	"context"
	"strings"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The commands on endpoints' pending key changes (SPEC E4): list them,
// approve or reject one.

// keyChangeCommands returns the commands on endpoints' pending key changes.
func keyChangeCommands() []*command {
	return []*command{
		{
			path: "endpoints key-changes", args: "",
			summary: "list pending key changes of endpoints",
			help: `Lists the endpoints whose device registered again with another public key
(SPEC E4): the old key stays in force until you approve the change. Shows
the old and the new key's fingerprint (approving names the new one), what
the registration says the device is, and where the change came from; with
--account only that account's. An endpoint registered without a key that
registers again without one is listed too (NEW-KEY "none:keyless-…").

Example:
  edgetrustctl endpoints key-changes -o json`,
			setup: setupKeyChanges,
		},
		keyChangeAction("approve-key-change", "put an endpoint's new public key in force", true),
		keyChangeAction("reject-key-change", "drop an endpoint's pending key change", false),
	}
}

func setupKeyChanges(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		kcs, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.KeyChange, error) {
			return cl.ListKeyChanges(ctx, c.g.account)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			if kcs == nil {
				kcs = []api.KeyChange{}
			}
			return c.printJSON(kcs)
		}
		return c.table("ENDPOINT\tSTATE\tHOSTNAME\tOLD-KEY\tNEW-KEY\tREQUESTED-HOSTNAME\tREQUESTED\tFROM", len(kcs), func(i int) []string {
			k := kcs[i]
			return []string{k.EndpointID, k.State, k.Hostname, keyCell(k.OldKeyType, k.OldKeyFingerprint),
				keyCell(k.KeyType, k.KeyFingerprint), k.RequestedHostname, utc(k.RequestedAt), k.RequestedFrom}
		})
	}
}

func keyChangeAction(name, summary string, approve bool) *command {
	args, flagHelp := "ID [--fingerprint FP]", "only the pending change with this fingerprint"
	help := `Rejecting drops the change and keeps the old key; a new change may then be
asked. With --fingerprint, only the change with that fingerprint is dropped.`
	example := prog + ` endpoints ` + name + ` 0b6f7c1e-3f9c-4d61-9a57-2f2d8c0e4b7a`
	if approve {
		args, flagHelp = "ID --fingerprint FP", "fingerprint of the new key, as \"endpoints key-changes\" shows it (required)"
		help = `Approving puts the new key in force, keeps the endpoint's state, and revokes
the refresh tokens of the old key. --fingerprint names the new key you saw
in "` + prog + ` endpoints key-changes" (KEY-FINGERPRINT, with or without
its "type:" prefix): if the pending change has another, nothing happens and
the command fails. A change without a key (NEW-KEY "none:keyless-…") is a
device without a key that registered again: approving hands its new
registration the endpoint's tokens.`
		example += ` --fingerprint ed25519:3q2-7wE8nVnX0sWm1eWkq1cV8i1Hj0sSxq3gq1u9Dk0`
	}
	return &command{
		path: "endpoints " + name, args: args,
		summary: summary,
		help: `Decides an endpoint's pending key change (see "` + prog + ` endpoints key-changes").
` + help + `

Example:
  ` + example,
		setup: func(fs *pflag.FlagSet) func(*cli, []string) error {
			var fingerprint string
			fs.StringVar(&fingerprint, "fingerprint", "", flagHelp)
			return func(c *cli, args []string) error {
				id, err := oneID(args, "endpoint id")
				if err != nil {
					return err
				}
				if approve && strings.TrimSpace(fingerprint) == "" {
					return usagef("give --fingerprint: the new key's fingerprint as \"%s endpoints key-changes\" shows it", prog)
				}
				ep, err := call(c, func(ctx context.Context, cl *api.Client) (*api.Endpoint, error) {
					if approve {
						return cl.ApproveKeyChange(ctx, id, fingerprint)
					}
					return cl.RejectKeyChange(ctx, id, fingerprint)
				})
				if err != nil {
					return err
				}
				verb := "rejected"
				if approve {
					verb = "approved"
				}
				return c.done(ep, "key change of endpoint %s %s; its key is %s\n", id, verb,
					keyCell(ep.KeyType, ep.KeyFingerprint))
			}
		},
	}
}

// keyCell shows a key as "type:fingerprint"; a keyless re-registration's
// change as "none:keyless-…" (its marker is what approving names).
func keyCell(typ, fingerprint string) string {
	if typ == "" {
		if fingerprint != "" {
			return "none:" + fingerprint
		}
		return "none"
	}
	return typ + ":" + fingerprint
}
