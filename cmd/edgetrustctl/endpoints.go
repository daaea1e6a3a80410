package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// The endpoints commands: list, show, and approve, reject, untrust or
// delete one endpoint or many (the request itself is in bulk.go).

// listStates are the states an endpoint can be listed or acted on in.
var listStates = []string{protocol.StatePending, protocol.StateTrusted, protocol.StateRejected, protocol.StateUntrusted}

// endpointsCommands returns the endpoints commands, on one endpoint or many.
func endpointsCommands() []*command {
	return []*command{
		{
			path: "endpoints list", args: "[--state STATE] [--type TYPE] [--key ID] [--from CIDR] [--seen-before T] [--seen-after T] [--search TEXT] [--limit N] [--after ID]",
			summary: "list endpoints",
			help: `Lists the endpoints you may see, filtered by state, client type, the API key
they registered with, account (--account), the address they registered from,
when they were last seen and text in their id, host name or description.
They come in the order they registered (then by id). --limit N shows at most
N; --after ID goes on after endpoint ID, the last one of the previous page
(an id no longer in the list is a usage error: start again without it).

Example:
  edgetrustctl endpoints list --state pending --key 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f
  edgetrustctl endpoints list --limit 100 --after 0b6f7c1e-3f9c-4d61-9a57-2f2d8c0e4b7a -o json`,
			setup: setupEndpointsList,
		},
		{
			path: "endpoints show", args: "ID",
			summary: "show one endpoint",
			help: `Shows one endpoint: its state, who approved it and when, its last decision
(approve, reject or untrust: by whom, when), the key it registered with, when
and from where it was last seen, its public key's fingerprint, and when a
clone of it was suspected (two copies of its identity refreshing; cleared
with "edgetrustctl endpoints clear-clone ID"). Its whole history is in
"edgetrustctl audit --endpoint ID".

Example:
  edgetrustctl endpoints show 0b6f7c1e-3f9c-4d61-9a57-2f2d8c0e4b7a -o json`,
			setup: setupEndpointsShow,
		},
		{
			path: "endpoints clear-clone", args: "ID",
			summary: "clear an endpoint's clone mark once its copies are dealt with",
			help: `Clears the mark "clone suspected" that the broker sets when two copies of an
endpoint's identity (its key and refresh token, copied to a second host)
both refresh (docs/clones.md). Find the copies first: "edgetrustctl audit
--endpoint ID" shows the endpoint.clone_suspected row, with where the
endpoint was seen from. Clearing changes no trust: an endpoint that the
account's --lock-out-clones untrusted stays untrusted until you approve it;
to be rid of a copy, delete the endpoint and install the genuine device
again. Clearing an endpoint with no mark does nothing.

Example:
  edgetrustctl endpoints clear-clone 0b6f7c1e-3f9c-4d61-9a57-2f2d8c0e4b7a`,
			setup: setupEndpointsClearClone,
		},
		endpointAction("approve", "trust endpoints (pending, rejected or untrusted ones)", protocol.StatePending, `
  ok         it is trusted now, and its agent is told at once
  noop       it was trusted already: approving it again changes nothing
  conflict   it cannot be approved from its state`),
		endpointAction("reject", "reject pending endpoints", protocol.StatePending, `
  ok         it is rejected now, and its agent is told at once
  conflict   it is not pending: only a pending endpoint can be rejected`),
		endpointAction("untrust", "untrust trusted endpoints: their tokens stop working at once", protocol.StateTrusted, `
  ok         it is untrusted now: its tokens stop working, its agent is told
  conflict   it is not trusted: only a trusted endpoint can be untrusted`),
		endpointAction("delete", "delete endpoints in any state", protocol.StateRejected, `
  ok         it is deleted, its tokens stop working, its agent is told`),
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
	fs.IntVar(&f.Limit, "limit", 0, "at most this many endpoints (default: all)")
	fs.StringVar(&f.After, "after", "", "only endpoints after this one in the list: the last id of the previous page")
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
		if f.Limit < 0 {
			return usagef("--limit must be more than 0")
		}
		f.AccountID = c.g.account
		var badCursor *api.Error
		eps, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.Endpoint, error) {
			eps, err := cl.ListEndpoints(ctx, f)
			if f.After != "" && api.IsStatus(err, http.StatusBadRequest) {
				errors.As(err, &badCursor)
			}
			return eps, err
		})
		if badCursor != nil {
			// The cursor is a word of the command line: a usage error.
			return usagef("--after %q: %s", f.After, badCursor.Description)
		}
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(eps)
		}
		return c.table("ID\tSTATE\tTYPE\tHOSTNAME\tACCOUNT\tKEY\tKEY-NAME\tLAST-SEEN\tCLONE-SUSPECTED", len(eps), func(i int) []string {
			e := eps[i]
			return []string{e.ID, e.State, e.Type, e.Hostname, e.AccountID, e.KeyID, e.KeyName, timeCell(e.LastSeenAt, "-"),
				timeCell(e.CloneSuspectedAt, "-")}
		})
	}
}

func setupEndpointsShow(*pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if len(args) != 1 {
			return usagef("endpoints show needs one endpoint id")
		}
		ep, err := call(c, func(ctx context.Context, cl *api.Client) (*api.Endpoint, error) {
			return cl.GetEndpoint(ctx, args[0])
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(ep)
		}
		decision := "-"
		if ep.LastDecision != "" {
			decision = ep.LastDecision + " by " + ep.LastDecisionBy + " at " + timeCell(ep.LastDecisionAt, "-")
		}
		approved := "-"
		if ep.ApprovedAt != nil {
			approved = ep.ApprovedBy + " at " + timeCell(ep.ApprovedAt, "-")
		}
		key := ep.KeyID
		if ep.KeyName != "" {
			key += " (" + ep.KeyName + ")"
		}
		rows := [][2]string{
			{"id", ep.ID}, {"state", ep.State}, {"type", ep.Type}, {"description", ep.Description},
			{"hostname", ep.Hostname}, {"os", ep.OS}, {"version", ep.Version}, {"account", ep.AccountID},
			{"key", key}, {"key value", ep.KeyValueID},
			{"registered", timeCell(ep.RegisteredAt, "-") + " from " + ep.RegisteredFrom},
			{"approved", approved}, {"last decision", decision},
			{"last seen", timeCell(ep.LastSeenAt, "-") + " from " + ep.LastSeenFrom},
			{"key fingerprint", ep.KeyFingerprint},
			{"clone suspected", timeCell(ep.CloneSuspectedAt, "-")},
		}
		return c.table("FIELD\tVALUE", len(rows), func(i int) []string { return []string{rows[i][0], rows[i][1]} })
	}
}

func setupEndpointsClearClone(*pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		id, err := oneID(args, "endpoint id")
		if err != nil {
			return err
		}
		ep, err := call(c, func(ctx context.Context, cl *api.Client) (*api.Endpoint, error) {
			return cl.ClearCloneMark(ctx, id)
		})
		if err != nil {
			return err
		}
		return c.done(ep, "clone mark of endpoint %s cleared; it is %s\n", id, ep.State)
	}
}

// endpointAction is the command of one action; exampleState is the state
// its --all example acts on, outcomes what its results can say besides
// not_found.
func endpointAction(action, summary, exampleState, outcomes string) *command {
	return &command{
		path: "endpoints " + action, args: "(ID... | --all --state STATE [--key ID] [--type TYPE] [--from CIDR])",
		summary: summary,
		help: fmt.Sprintf(`Acts on each endpoint id given, or with --all on every endpoint you may act
on that matches the filter (--state is required; --account narrows it to one
account and those below it), in one request, and prints one result per
endpoint:%[3]s
  not_found  there is no such endpoint (or none you may see)
The exit status is 1 if any of them failed.

Example:
  edgetrustctl endpoints %[1]s 0b6f7c1e-3f9c-4d61-9a57-2f2d8c0e4b7a 5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d -o json
  edgetrustctl endpoints %[1]s --all --state %[2]s --key 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f --from 10.1.0.0/16`, action, exampleState, outcomes),
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
