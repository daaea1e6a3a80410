package main

import (
	"context"
	"slices"
	"strings"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The list of commands, collected from each resource's file, and how a
// command calls the broker.

// groupOrder orders the commands in the help text.
var groupOrder = []string{"login", "logout", "whoami", "sessions", "accounts", "users", "roles", "keys", "edge", "endpoints", "audit", "watch", "webhooks", "signing-keys"}

// commandSets are the functions returning each resource's commands, one per
// file. Within a group the help keeps the order they give.
var commandSets = []func() []*command{
	signinCommands, sessionsCommands, accountsCommands, usersCommands, rolesCommands,
	keysCommands, edgeDeviceCommands, endpointsCommands, keyChangeCommands, auditCommands, watchCommands, webhookCommands,
	signingKeysCommands,
}

// commands returns every command, grouped by their first word in
// groupOrder.
func commands() []*command {
	var cmds []*command
	for _, set := range commandSets {
		cmds = append(cmds, set()...)
	}
	slices.SortStableFunc(cmds, func(a, b *command) int {
		ga, _, _ := strings.Cut(a.path, " ")
		gb, _, _ := strings.Cut(b.path, " ")
		return slices.Index(groupOrder, ga) - slices.Index(groupOrder, gb)
	})
	return cmds
}

// call runs one API call with the saved session (refreshed when needed) and
// turns a failure into one line that says what to do.
func call[T any](c *cli, fn func(context.Context, *api.Client) (T, error)) (T, error) {
	var out T
	cn, err := c.connect()
	if err != nil {
		return out, err
	}
	err = cn.do(func(ctx context.Context, cl *api.Client) error {
		var err error
		out, err = fn(ctx, cl)
		return err
	})
	if err != nil {
		return out, c.describe(err, cn.cl.BaseURL())
	}
	return out, nil
}
