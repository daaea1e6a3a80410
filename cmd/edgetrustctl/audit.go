package main

import (
	"context"
	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The audit command: the audit log, newest first, paged through to the end
// or --limit.

// auditCommands returns the audit command.
func auditCommands() []*command {
	return []*command{
		{
			path: "audit", args: "[--endpoint ID] [--since T] [--until T] [--action A] [--actor A] [--target T] [--outcome O] [--limit N] [--oldest-first]",
			summary: "list the audit log",
			help: `Lists audit events, newest first: every change and every security decision,
of --account or of every account where you may view the audit log. --limit N
shows the N newest (all by default); --oldest-first reads forward instead.
--endpoint ID is one endpoint's whole history: its registration, decisions,
key changes, logins (allowed and refused) and token grants, whether the
endpoint is the target or the actor. --action is exact (endpoint.approve) or
a prefix ending in a dot (endpoint.). --since and --until take RFC 3339
times or a duration back from now (24h).

Example:
  edgetrustctl audit --limit 20
  edgetrustctl audit --endpoint 0b6f7c1e-3f9c-4d61-9a57-2f2d8c0e4b7a -o json
  edgetrustctl audit --since 2030-01-01T00:00:00Z --action apikey. -o json`,
			setup: setupAudit,
		},
	}
}

// auditPage is how many events one request asks for.
const auditPage = 1000

func setupAudit(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		f            api.AuditFilter
		since, until string
		oldestFirst  bool
	)
	fs.StringVar(&f.EndpointID, "endpoint", "", "only the history of this endpoint (as target or actor)")
	fs.StringVar(&since, "since", "", "only events at or after this time: RFC 3339, or a duration back from now (24h)")
	fs.StringVar(&until, "until", "", "only events before this time: RFC 3339, or a duration back from now")
	fs.StringVar(&f.Action, "action", "", "only this action (endpoint.approve), or actions starting with a prefix ending in a dot (endpoint.)")
	fs.StringVar(&f.Actor, "actor", "", "only events of this actor (user:ID, key:ID, endpoint:ID, system)")
	fs.StringVar(&f.Target, "target", "", "only events on this target (endpoint:ID, apikey:ID, user:ID, ...)")
	fs.StringVar(&f.Outcome, "outcome", "", "only success or failure")
	fs.IntVar(&f.Limit, "limit", 0, "at most this many events, the newest (default: all)")
	fs.BoolVar(&oldestFirst, "oldest-first", false, "oldest first (with --limit: the oldest N)")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		var err error
		if since != "" {
			if f.Since, err = parseWhen(c, "since", since, -1); err != nil {
				return err
			}
		}
		if until != "" {
			if f.Until, err = parseWhen(c, "until", until, -1); err != nil {
				return err
			}
		}
		if f.Outcome != "" && f.Outcome != "success" && f.Outcome != "failure" {
			return usagef("--outcome %q is not success or failure", f.Outcome)
		}
		if f.Limit < 0 {
			return usagef("--limit must be more than 0")
		}
		f.AccountID = c.g.account
		f.Desc = !oldestFirst
		want := f.Limit
		events, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.AuditEvent, error) {
			// Page through (before_id newest first, after_id oldest first)
			// until the log or --limit is exhausted.
			out := []api.AuditEvent{}
			pf := f
			for {
				pf.Limit = auditPage
				if want > 0 {
					pf.Limit = min(auditPage, want-len(out))
				}
				got, err := cl.ListAudit(ctx, pf)
				if err != nil {
					return nil, err
				}
				out = append(out, got...)
				if len(got) < pf.Limit || (want > 0 && len(out) >= want) || len(got) == 0 {
					return out, nil
				}
				if pf.Desc {
					pf.BeforeID = got[len(got)-1].ID
				} else {
					pf.AfterID = got[len(got)-1].ID
				}
			}
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(events)
		}
		return c.table("TIME\tACTOR\tACTION\tACCOUNT\tTARGET\tOUTCOME\tREMOTE", len(events), func(i int) []string {
			e := events[i]
			return []string{e.Time.UTC().Format(time.RFC3339), actorCell(e), e.Action, e.AccountID, e.Target, e.Outcome, e.Remote}
		})
	}
}

// actorCell names a user actor by username, its id after it.
func actorCell(e api.AuditEvent) string {
	if e.ActorName == "" {
		return e.Actor
	}
	return e.ActorName + " (" + e.Actor + ")"
}
