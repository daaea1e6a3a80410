package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The commands on users' sessions (SPEC S6): list them, end one or all.

// sessionsCommands returns the sessions commands.
func sessionsCommands() []*command {
	return []*command{
		{
			path: "sessions list", args: "[--user ID]",
			summary: "list your sessions (or, with --user, another user's)",
			help: `Lists the live sessions of the signed-in user, oldest first: each sign-in or
device login and its refreshes. CURRENT marks this session. With --user, an
administrator (ViewUser) lists another user's sessions.

Example:
  edgetrustctl sessions list -o json`,
			setup: setupSessionsList,
		},
		{
			path: "sessions end", args: "(ID | --all [--user ID])",
			summary: "end a session: its tokens stop working at once",
			help: `Ends one session by id: its refresh token and access tokens stop working at
once. With --all, ends every session of the signed-in user (this one too:
sign in again afterwards), or with --user every session of another user (an
administrator with ModifyUser).

Example:
  edgetrustctl sessions end 3f2c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f
  edgetrustctl sessions end --all --user 9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b`,
			setup: setupSessionsEnd,
		},
	}
}

func setupSessionsList(fs *pflag.FlagSet) func(*cli, []string) error {
	var user string
	fs.StringVar(&user, "user", "", "id of the user whose sessions to list (default: yours)")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		ss, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.Session, error) {
			return cl.ListSessions(ctx, user)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			if ss == nil {
				ss = []api.Session{}
			}
			return c.printJSON(ss)
		}
		return c.table("ID\tSTARTED\tREFRESHED\tEXPIRES\tENDPOINT\tCURRENT", len(ss), func(i int) []string {
			s := ss[i]
			return []string{s.ID, utc(s.StartedAt), utc(s.RefreshedAt), utc(s.ExpiresAt), s.EndpointID, yesNo(s.Current)}
		})
	}
}

func setupSessionsEnd(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		all  bool
		user string
	)
	fs.BoolVar(&all, "all", false, "end every session of the user (yours, or --user's)")
	fs.StringVar(&user, "user", "", "with --all: the user whose sessions to end (default: yours)")
	return func(c *cli, args []string) error {
		if all {
			if err := noArgs(args); err != nil {
				return usagef("give a session id or --all, not both")
			}
			n, err := call(c, func(ctx context.Context, cl *api.Client) (int, error) {
				return cl.EndSessions(ctx, user)
			})
			if err != nil {
				return err
			}
			return c.done(api.SessionsEnded{Ended: n}, "ended %d sessions\n", n)
		}
		if user != "" {
			return usagef("--user goes with --all; to end one session give its id")
		}
		id, err := oneID(args, "session id (see \""+prog+" sessions list\")")
		if err != nil {
			return err
		}
		_, err = call(c, func(ctx context.Context, cl *api.Client) (struct{}, error) {
			return struct{}{}, cl.EndSession(ctx, id)
		})
		if err != nil {
			return err
		}
		return c.done(map[string]any{"id": id, "ended": true}, "session %s ended\n", id)
	}
}
