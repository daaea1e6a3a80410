package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// The edge device commands: an edge device is a value of its account's
// predefined Edge key.

// edgeDeviceCommands returns the edge device commands.
func edgeDeviceCommands() []*command {
	return []*command{
		{
			path: "edge add", args: "--name NAME [--description D]",
			summary: "add an edge device: a new value of the account's Edge key",
			help: `Adds an edge device to --account (default: your own account): a new value
of the account's predefined Edge key, printed once. It is the device's own
credential and is revoked with "edge remove".

Example:
  edgetrustctl edge add --name bridge-7 --description "Warehouse 7" -o json`,
			setup: setupEdgeAdd,
		},
		{
			path: "edge remove", args: "VALUE_ID",
			summary: "remove an edge device (revoke its value)",
			help: `Revokes the edge device's value in --account (default: your own account).

Example:
  edgetrustctl edge remove 9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b`,
			setup: setupEdgeRemove,
		},
	}
}

func setupEdgeAdd(fs *pflag.FlagSet) func(*cli, []string) error {
	var req api.EdgeDeviceRequest
	fs.StringVar(&req.Name, "name", "", "name of the edge device (required)")
	fs.StringVar(&req.Description, "description", "", "description")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if strings.TrimSpace(req.Name) == "" {
			return usagef("edge add needs --name")
		}
		req.AccountID = c.g.account
		cv, err := call(c, func(ctx context.Context, cl *api.Client) (*api.CreatedValue, error) {
			return cl.AddEdgeDevice(ctx, req)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(cv)
		}
		_, err = fmt.Fprintf(c.stdout, "Edge device %q added as value %s of the Edge key %s.\nIts value - store it now, it will not be shown again:\n%s\n", req.Name, cv.ValueID, cv.ID, cv.Value)
		return err
	}
}

func setupEdgeRemove(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		valueID, err := oneID(args, "edge device's value id")
		if err != nil {
			return err
		}
		_, err = call(c, func(ctx context.Context, cl *api.Client) (struct{}, error) {
			return struct{}{}, cl.RemoveEdgeDevice(ctx, c.g.account, valueID)
		})
		if err != nil {
			return err
		}
		return c.done(map[string]any{"value_id": valueID, "removed": true}, "edge device %s removed\n", valueID)
	}
}
