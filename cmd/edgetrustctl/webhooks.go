package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/internal/atomicfile"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// The webhook commands (SPEC E7): configure URLs events are POSTed to,
// read a webhook's delivery log and redeliver from it, and check a
// delivery's signature as a receiver would (verify, offline).

// webhookCommands returns the webhook commands.
func webhookCommands() []*command {
	return []*command{
		{
			path: "webhooks add", args: "--url URL --event TYPE... [--description D] [--secret-file F]",
			summary: "POST an account's events to a URL, signed; the secret is shown once",
			help: `Configures a webhook at --account (default: your own account): the events
of the account and of the accounts below it, of the types named by --event
(repeatable or comma-separated: endpoint.pending, endpoint.trusted,
endpoint.rejected, endpoint.untrusted, endpoint.deleted,
endpoint.key_change, endpoint.clone_suspected, apikey.created,
apikey.updated, apikey.deleted, apikey.expiring, or endpoint.* and
apikey.*), are POSTed to
--url (https only) and signed with a secret printed once (or written to
--secret-file, mode 0600): keep it where the receiver reads it (see
"webhooks verify"). Needs ModifyAccount there.

Example:
  edgetrustctl webhooks add --url https://hooks.example.com/edgetrust \
      --event endpoint.pending --event 'apikey.*' -o json`,
			setup: setupWebhooksAdd,
		},
		{
			path: "webhooks list", summary: "list webhooks",
			help: `Lists the webhooks of --account, or of every account you may view.

Example:
  edgetrustctl webhooks list`,
			setup: setupWebhooksList,
		},
		{
			path: "webhooks show", args: "ID", summary: "show a webhook",
			help: `Shows one webhook (never its secret).

Example:
  edgetrustctl webhooks show 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f -o json`,
			setup: setupWebhooksShow,
		},
		{
			path: "webhooks remove", args: "ID", summary: "remove a webhook and its delivery log",
			help: `Removes a webhook; deliveries not yet made are dropped.

Example:
  edgetrustctl webhooks remove 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f`,
			setup: setupWebhooksRemove,
		},
		{
			path: "webhooks rotate-secret", args: "ID [--secret-file F]", summary: "give a webhook a new secret, shown once",
			help: `Replaces a webhook's signing secret and prints the new one once; deliveries
from now on are signed with it.

Example:
  edgetrustctl webhooks rotate-secret 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f`,
			setup: setupWebhooksRotate,
		},
		{
			path: "webhooks deliveries", args: "ID [--limit N]", summary: "show a webhook's delivery log, newest first",
			help: `Lists a webhook's deliveries, newest first: the event, its state (pending,
delivered, failed), attempts, last status and error. Failed attempts are
retried with backoff for a day; "webhooks redeliver" sends one again.

Example:
  edgetrustctl webhooks deliveries 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f --limit 20`,
			setup: setupWebhooksDeliveries,
		},
		{
			path: "webhooks redeliver", args: "ID DELIVERY_ID", summary: "send a delivery again, with the same id and body",
			help: `Queues a delivery of the webhook again at once, with the same webhook-id
and body (a receiver that saw it drops it by its id) and a new day of
retries.

Example:
  edgetrustctl webhooks redeliver 5d0c6b0e-8a62-4a3f-9a52-7c1f0b1d2e3f msg_2c5e0f3a9b8d4e7f8a1b2c3d4e5f6a7b`,
			setup: setupWebhooksRedeliver,
		},
		{
			path: "webhooks verify", args: "--secret-file F --id ID --timestamp TS --signature SIG < BODY",
			summary: "check a delivery's signature as a receiver would (offline)",
			help: `Checks, without any broker, that a delivery read on standard input (its
exact body) carries a valid webhook-signature for its webhook-id and
webhook-timestamp headers, with the secret in --secret-file (whsec_…).
Exit 0 when it holds, 1 when it does not. --max-age refuses an older
timestamp (a replay; 0 checks the signature alone, e.g. a stored delivery).

Example:
  edgetrustctl webhooks verify --secret-file hook.secret --id "$ID" \
      --timestamp "$TS" --signature "$SIG" --max-age 0 < body.json`,
			setup: setupWebhooksVerify,
		},
	}
}

func setupWebhooksAdd(fs *pflag.FlagSet) func(*cli, []string) error {
	var req api.WebhookRequest
	fs.StringVar(&req.URL, "url", "", "https:// URL to POST to (required)")
	fs.StringSliceVar(&req.Events, "event", nil, "event type to deliver (repeatable or comma-separated; required)")
	fs.StringVar(&req.Description, "description", "", "description")
	secretFile := fs.String("secret-file", "", "write the signing secret to this file (mode 0600) instead of printing it")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if strings.TrimSpace(req.URL) == "" || len(req.Events) == 0 {
			return usagef("webhooks add needs --url and at least one --event")
		}
		req.AccountID = c.g.account
		cw, err := call(c, func(ctx context.Context, cl *api.Client) (*api.CreatedWebhook, error) {
			return cl.CreateWebhook(ctx, req)
		})
		if err != nil {
			return err
		}
		return c.printSecret(cw, "added", *secretFile)
	}
}

// printSecret prints a webhook with its secret, shown only now; with
// file, the secret goes there (atomically, mode 0600), not to stdout.
func (c *cli) printSecret(cw *api.CreatedWebhook, what, file string) error {
	if file != "" {
		if err := atomicfile.Write(file, []byte(cw.Secret+"\n"), 0o600); err != nil {
			return fmt.Errorf("the webhook was %s but its secret could not be written to --secret-file (rotate it to get another): %w", strings.TrimPrefix(what, "has "), err)
		}
		if c.g.output == "json" {
			return c.printJSON(map[string]any{"webhook": cw.Webhook, "secret_file": file})
		}
		_, err := fmt.Fprintf(c.stdout, "Webhook %s %s (%s); its signing secret is in %s.\n", cw.Webhook.ID, what, cw.Webhook.URL, file)
		return err
	}
	if c.g.output == "json" {
		return c.printJSON(cw)
	}
	_, err := fmt.Fprintf(c.stdout, "Webhook %s %s (%s).\nIts signing secret - store it now, it will not be shown again:\n%s\n",
		cw.Webhook.ID, what, cw.Webhook.URL, cw.Secret)
	return err
}

func setupWebhooksList(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		ws, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.Webhook, error) {
			return cl.ListWebhooks(ctx, c.g.account)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(ws)
		}
		return c.table("ID\tACCOUNT\tURL\tEVENTS\tCREATED", len(ws), func(i int) []string {
			w := ws[i]
			return []string{w.ID, nameOr(w.AccountName, w.AccountID), w.URL, strings.Join(w.Events, ","), utc(w.CreatedAt)}
		})
	}
}

func setupWebhooksShow(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		id, err := oneID(args, "webhook id")
		if err != nil {
			return err
		}
		w, err := call(c, func(ctx context.Context, cl *api.Client) (*api.Webhook, error) {
			return cl.GetWebhook(ctx, id)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(w)
		}
		_, err = fmt.Fprintf(c.stdout, "ID:          %s\nAccount:     %s\nURL:         %s\nEvents:      %s\nDescription: %s\nCreated:     %s by %s\nUpdated:     %s\n",
			w.ID, nameAndID(w.AccountName, w.AccountID), w.URL, strings.Join(w.Events, ", "), w.Description, utc(w.CreatedAt), w.CreatedBy, utc(w.UpdatedAt))
		return err
	}
}

func setupWebhooksRemove(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		id, err := oneID(args, "webhook id")
		if err != nil {
			return err
		}
		if _, err := call(c, func(ctx context.Context, cl *api.Client) (struct{}, error) {
			return struct{}{}, cl.DeleteWebhook(ctx, id)
		}); err != nil {
			return err
		}
		return c.done(map[string]any{"id": id, "removed": true}, "webhook %s removed\n", id)
	}
}

func setupWebhooksRotate(fs *pflag.FlagSet) func(*cli, []string) error {
	secretFile := fs.String("secret-file", "", "write the new secret to this file (mode 0600) instead of printing it")
	return func(c *cli, args []string) error {
		id, err := oneID(args, "webhook id")
		if err != nil {
			return err
		}
		cw, err := call(c, func(ctx context.Context, cl *api.Client) (*api.CreatedWebhook, error) {
			return cl.RotateWebhookSecret(ctx, id)
		})
		if err != nil {
			return err
		}
		return c.printSecret(cw, "has a new secret", *secretFile)
	}
}

func setupWebhooksDeliveries(fs *pflag.FlagSet) func(*cli, []string) error {
	limit := fs.Int("limit", 0, "at most this many, 1 to 500 (default 100)")
	return func(c *cli, args []string) error {
		id, err := oneID(args, "webhook id")
		if err != nil {
			return err
		}
		if *limit < 0 || *limit > 500 {
			return usagef("--limit %d: want 1 to 500", *limit)
		}
		ds, err := call(c, func(ctx context.Context, cl *api.Client) ([]api.WebhookDelivery, error) {
			return cl.ListWebhookDeliveries(ctx, id, *limit)
		})
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			return c.printJSON(ds)
		}
		return c.table("ID\tTYPE\tSTATE\tATTEMPTS\tSTATUS\tLAST ATTEMPT\tNEXT ATTEMPT\tERROR", len(ds), func(i int) []string {
			d := ds[i]
			status := ""
			if d.LastStatus != 0 {
				status = strconv.Itoa(d.LastStatus)
			}
			return []string{d.ID, d.EventType, d.State, strconv.Itoa(d.Attempts), status, timeCell(d.LastAttemptAt, "-"),
				timeCell(d.NextAttemptAt, "-"), d.LastError}
		})
	}
}

func setupWebhooksRedeliver(fs *pflag.FlagSet) func(*cli, []string) error {
	return func(c *cli, args []string) error {
		if len(args) != 2 {
			return usagef("webhooks redeliver takes the webhook id and the delivery id, got %d arguments", len(args))
		}
		d, err := call(c, func(ctx context.Context, cl *api.Client) (*api.WebhookDelivery, error) {
			return cl.RedeliverWebhook(ctx, args[0], args[1])
		})
		if err != nil {
			return err
		}
		return c.done(d, "delivery %s queued again\n", d.ID)
	}
}

// maxVerifyBody bounds the body verify reads.
const maxVerifyBody = 16 << 20

func setupWebhooksVerify(fs *pflag.FlagSet) func(*cli, []string) error {
	secretFile := fs.String("secret-file", "", "file holding the webhook's secret, whsec_… (required)")
	id := fs.String("id", "", "the webhook-id header (required)")
	ts := fs.String("timestamp", "", "the webhook-timestamp header (required)")
	sig := fs.String("signature", "", "the webhook-signature header (required)")
	maxAge := fs.Duration("max-age", 5*time.Minute, "refuse a timestamp further than this from now; 0 = do not check")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if *secretFile == "" || *id == "" || *ts == "" || *sig == "" {
			return usagef("webhooks verify needs --secret-file, --id, --timestamp and --signature, and the body on standard input")
		}
		secret, err := os.ReadFile(*secretFile)
		if err != nil {
			return fmt.Errorf("reading --secret-file: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(c.stdin, maxVerifyBody+1))
		if err != nil {
			return fmt.Errorf("reading the body from standard input: %w", err)
		}
		if len(body) > maxVerifyBody {
			return errors.New("the body on standard input is over 16 MiB: give the delivery's exact body")
		}
		if err := api.VerifyWebhook(string(secret), *id, *ts, *sig, body, c.now(), *maxAge); err != nil {
			return err
		}
		return c.done(map[string]any{"id": *id, "valid": true}, "signature valid for delivery %s\n", *id)
	}
}
