package main

import (
	"context"
	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The audit command: the audit log, paged through to the end or --limit.

// auditCommands returns the audit command.
func auditCommands() []*command {
	return []*command{
		{
			path: "audit", args: "[--since RFC3339] [--until RFC3339] [--action A] [--actor A] [--target T] [--outcome O] [--limit N]",
			summary: "list the audit log",
			help: `Lists audit events, oldest first: every change and every security decision,
of --account or of every account where you may view the audit log. --action
is exact (endpoint.approve) or a prefix ending in a dot (endpoint.). --since
and --until take RFC 3339 times or a duration back from now (24h).

Example:
  edgetrustctl audit --since 2030-01-01T00:00:00Z --action apikey. -o json`,
			setup: setupAudit,
		},
	}
}

func setupAudit(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		f            api.AuditFilter
		since, until string
	)
	fs.StringVar(&since, "since", "", "only events at or after this time: RFC 3339, or a duration back from now (24h)")
	fs.StringVar(&until, "until", "", "only events before this time: RFC 3339, or a duration back from now")
	fs.StringVar(&f.Action, "action", "", "only this action (endpoint.approve), or actions starting with a prefix ending in a dot (endpoint.)")
	fs.StringVar(&f.Actor, "actor", "", "only events of this actor (user:ID, key:ID, endpoint:ID, system)")
	fs.StringVar(&f.Target, "target", "", "only events on this target (endpoint:ID, apikey:ID, user:ID, ...)")
	fs.StringVar(&f.Outcome, "outcome", "", "only success or failure")
	fs.IntVar(&f.Limit, "limit", 0, "at most this many events (default: all)")
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
		want := f.Limit
		events, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.AuditEvent, error) {
			// Page through with after_id until the log (or --limit) is exhausted.
			const page = 1000
			out := []api.AuditEvent{}
			pf := f
			for {
				pf.Limit = page
				if want > 0 {
					pf.Limit = min(page, want-len(out))
				}
				got, err := cl.ListAudit(ctx, pf)
				if err != nil {
					return nil, err
				}
				out = append(out, got...)
				if len(got) < pf.Limit || (want > 0 && len(out) >= want) || len(got) == 0 {
					return out, nil
				}
				pf.AfterID = got[len(got)-1].ID
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
			return []string{e.Time.UTC().Format(time.RFC3339), e.Actor, e.Action, e.AccountID, e.Target, e.Outcome, e.Remote}
		})
	}
}
