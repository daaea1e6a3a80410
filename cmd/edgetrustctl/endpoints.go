package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// The endpoints commands: list, and approve, reject, untrust or delete
// one endpoint or many (the request itself is in bulk.go).

// listStates are the states an endpoint can be listed or acted on in.
var listStates = []string{protocol.StatePending, protocol.StateTrusted, protocol.StateRejected, protocol.StateUntrusted}

// endpointsCommands returns the endpoints commands, on one endpoint or many.
func endpointsCommands() []*command {
	return []*command{
		{
			path: "endpoints list", args: "[--state STATE] [--type TYPE] [--key ID] [--from CIDR] [--seen-before T] [--seen-after T] [--search TEXT]",
			summary: "list endpoints",
			help: `Lists the endpoints you may see, filtered by state, client type, the API key
they registered with, account (--account), the address they registered from,
when they were last seen and text in their id, host name or description.

Example:
  edgetrustctl endpoints list --state pending --key 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f`,
			setup: setupEndpointsList,
		},
		endpointAction("approve", "trust endpoints (pending, rejected or untrusted ones)"),
		endpointAction("reject", "reject pending endpoints"),
		endpointAction("untrust", "untrust trusted endpoints: their tokens stop working at once"),
		endpointAction("delete", "delete endpoints in any state"),
	}
}

func setupEndpointsList(fs *pflag.FlagSet) func(*cli, []string) error {
	var f api.EndpointFilter
	fs.StringVar(&f.State, "state", "", "only endpoints in this state: "+strings.Join(listStates, ", "))
	fs.StringVar(&f.Type, "type", "", "only endpoints of this client type: "+strings.Join(protocol.ClientTypes(), ", "))
	fs.StringVar(&f.KeyID, "key", "", "only endpoints registered with this API key id")
	fs.StringVar(&f.Text, "search", "", "only endpoints whose id, host name or description holds this text")
	fs.StringVar(&f.From, "from", "", "only endpoints registered from this CIDR (10.1.0.0/16)")
	var seenBefore, seenAfter string
	fs.StringVar(&seenBefore, "seen-before", "", "only endpoints last seen before this time: RFC 3339, or a duration back from now (720h)")
	fs.StringVar(&seenAfter, "seen-after", "", "only endpoints last seen at or after this time: RFC 3339, or a duration back from now")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		var err error
		if seenBefore != "" {
			if f.SeenBefore, err = parseWhen(c, "seen-before", seenBefore, -1); err != nil {
				return err
			}
		}
		if seenAfter != "" {
			if f.SeenAfter, err = parseWhen(c, "seen-after", seenAfter, -1); err != nil {
				return err
			}
		}
		if f.State != "" && !contains(listStates, f.State) {
			return usagef("--state %q is not a state (%s)", f.State, strings.Join(listStates, ", "))
		}
		if f.Type != "" && !protocol.ValidClientType(f.Type) {
			return usagef("--type %q is not a client type (%s)", f.Type, strings.Join(protocol.ClientTypes(), ", "))
		}
		f.AccountID = c.g.account
		eps, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.Endpoint, error) {
			return cl.ListEndpoints(ctx, f)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(eps)
		}
		return c.table("ID\tSTATE\tTYPE\tHOSTNAME\tACCOUNT\tKEY\tLAST-SEEN", len(eps), func(i int) []string {
			e := eps[i]
			return []string{e.ID, e.State, e.Type, e.Hostname, e.AccountID, e.KeyID, timeCell(e.LastSeenAt, "-")}
		})
	}
}

func endpointAction(action, summary string) *command {
	return &command{
		path: "endpoints " + action, args: "(ID... | --all --state STATE [--key ID] [--type TYPE] [--from CIDR])",
		summary: summary,
		help: fmt.Sprintf(`Acts on each endpoint id given, or with --all on every endpoint you may act
on that matches the filter (--state is required; --account narrows it to one
account and those below it), in one request, and prints one result per
endpoint: ok, noop (approving a trusted endpoint again), conflict (the
endpoint's state does not allow it) or not_found. The exit status is 1 if
any of them failed.

Example:
  edgetrustctl endpoints %[1]s 0b6f7c1e-3f9c-4d61-9a57-2f2d8c0e4b7a 5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d -o json
  edgetrustctl endpoints %[1]s --all --state pending --key 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f --from 10.1.0.0/16`, action),
		setup: func(fs *pflag.FlagSet) func(*cli, []string) error {
			var (
				all bool
				f   api.BulkFilter
			)
			fs.BoolVar(&all, "all", false, "act on every endpoint matching --state, --key, --type and --from")
			fs.StringVar(&f.State, "state", "", "with --all: endpoints in this state: "+strings.Join(listStates, ", "))
			fs.StringVar(&f.KeyID, "key", "", "with --all: only endpoints registered with this API key id")
			fs.StringVar(&f.Type, "type", "", "with --all: only endpoints of this client type")
			fs.StringVar(&f.From, "from", "", "with --all: only endpoints registered from this CIDR (10.1.0.0/16)")
			return func(c *cli, ids []string) error { return c.endpointsAct(action, ids, all, f) }
		},
	}
}
