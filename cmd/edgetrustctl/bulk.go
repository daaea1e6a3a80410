package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// Endpoint actions go through the bulk route, by ids or by a filter
// (--all): one request, one result per endpoint.

// endpointsAct applies action to the endpoints named by ids, or with --all
// to every endpoint matching the filter, through the bulk route, and prints
// one result per endpoint.
func (c *cli) endpointsAct(action string, ids []string, all bool, f api.BulkFilter) error {
	req := api.BulkRequest{Action: action}
	switch {
	case all && len(ids) > 0:
		return usagef("give endpoint ids or --all, not both")
	case all:
		if f.State == "" {
			return usagef("--all needs --state (%s): say which endpoints to %s", strings.Join(listStates, ", "), action)
		}
		if !contains(listStates, f.State) {
			return usagef("--state %q is not a state (%s)", f.State, strings.Join(listStates, ", "))
		}
		if f.Type != "" && !protocol.ValidClientType(f.Type) {
			return usagef("--type %q is not a client type (%s)", f.Type, strings.Join(protocol.ClientTypes(), ", "))
		}
		if f.From != "" {
			_, perr := netip.ParsePrefix(f.From)
			if _, aerr := netip.ParseAddr(f.From); perr != nil && aerr != nil {
				return usagef("--from %q is not a CIDR like 10.1.0.0/16", f.From)
			}
		}
		f.AccountID = c.g.account
		req.Filter = &f
	case len(ids) == 0:
		return usagef("endpoints %s needs at least one endpoint id, or --all --state STATE", action)
	default:
		if f != (api.BulkFilter{}) {
			return usagef("--state, --key, --type and --from select endpoints only with --all")
		}
		req.IDs = ids
	}
	resp, err := call(c, func(ctx context.Context, cl *api.Client) (*api.BulkResponse, error) {
		return cl.BulkEndpoints(ctx, req)
	})
	if err != nil {
		return err
	}
	if c.g.output == "json" {
		if err := c.printJSON(resp.Results); err != nil {
			return err
		}
	} else {
		err := c.table("ID\tRESULT\tSTATE", len(resp.Results), func(i int) []string {
			r := resp.Results[i]
			result := r.Outcome
			if !r.OK && r.Error != "" {
				result += ": " + r.Error
			}
			return []string{r.ID, result, r.State}
		})
		if err != nil {
			return err
		}
	}
	if resp.Failed > 0 {
		return fmt.Errorf("%d of %d endpoints could not be %s: see the results above, and check the ids and states with %q",
			resp.Failed, len(resp.Results), pastTense(action), prog+" endpoints list")
	}
	return nil
}

func pastTense(action string) string {
	switch action {
	case "approve":
		return "approved"
	case "reject":
		return "rejected"
	case "untrust":
		return "untrusted"
	default:
		return "deleted"
	}
}
