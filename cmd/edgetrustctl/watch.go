package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// The watch command: the live events (SPEC E7), one line each, until
// interrupted; it reconnects by itself and resumes where it was.

// watchCommands returns the watch command.
func watchCommands() []*command {
	return []*command{
		{
			path: "watch", args: "[--account ID] [--type T]... [--after ID]",
			summary: "print events as they happen, until interrupted",
			help: `Prints one line per event as it happens: endpoints pending, trusted,
rejected, untrusted or deleted, key changes asked for or decided, clones
suspected (docs/clones.md), and API keys created, updated or deleted, of --account and the accounts below it (default:
every account where you may view them). With -o json each line is one JSON
object: {"id", "type", "endpoint_id" or "key_id", "account_id", "state", "at"}.

--type keeps one type (endpoint.pending) or a family (endpoint.*, apikey.*);
repeat it for several. Events that happen from the start of the command are
printed; --after ID starts after an event id printed by -o json instead, so a
script that stopped goes on without missing one.

A lost connection is retried with backoff and resumes after the last event
printed, missing none; an expired session is refreshed. Interrupt (Ctrl-C,
SIGTERM) to stop: the exit status is then 0.

Example:
  edgetrustctl watch
  edgetrustctl watch --account 4f1e60a2-6c12-4d1e-9b2a-0d5f0c3a7e10 --type endpoint.pending -o json`,
			setup: setupWatch,
		},
	}
}

// watchTypes are the values --type accepts.
var watchTypes = []string{
	protocol.EventEndpointPending, protocol.EventEndpointTrusted, protocol.EventEndpointRejected,
	protocol.EventEndpointUntrusted, protocol.EventEndpointDeleted, protocol.EventEndpointKeyChange,
	protocol.EventEndpointCloneSuspected,
	protocol.EventAPIKeyCreated, protocol.EventAPIKeyUpdated, protocol.EventAPIKeyDeleted,
	"endpoint.*", "apikey.*",
}

// Reconnection backoff.
const (
	watchRetryMin = 500 * time.Millisecond
	watchRetryMax = 30 * time.Second
)

func setupWatch(fs *pflag.FlagSet) func(*cli, []string) error {
	var (
		types []string
		after string
	)
	fs.StringArrayVar(&types, "type", nil, "only this event type, or a family (endpoint.*, apikey.*); repeatable")
	fs.StringVar(&after, "after", "", "start after this event id (from -o json) rather than now")
	return func(c *cli, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		for _, t := range types {
			if !slices.Contains(watchTypes, t) {
				return usagef("--type %q is not one of %s", t, strings.Join(watchTypes, ", "))
			}
		}
		if after != "" && strings.Trim(after, "0123456789") != "" {
			return usagef("--after %q is not an event id (the \"id\" of an event printed with -o json)", after)
		}
		cn, err := c.connect()
		if err != nil {
			return err
		}
		return c.watch(cn, api.EventFilter{AccountID: c.g.account, Types: types, LastEventID: after})
	}
}

// watch prints the events of f until the command is interrupted (nil: exit
// 0) or an error no retry mends: a refusal of the broker (rights, filter),
// an expired session, an unverifiable certificate.
func (c *cli) watch(cn *conn, f api.EventFilter) error {
	wait, connected := watchRetryMin, false
	for {
		s, err := c.openEvents(cn, f)
		if err == nil {
			if !connected {
				fmt.Fprintf(c.stderr, "%s: watching events at %s; interrupt to stop\n", prog, cn.cl.BaseURL())
			} else {
				fmt.Fprintf(c.stderr, "%s: reconnected\n", prog)
			}
			connected, wait = true, watchRetryMin
			err = c.printEvents(s)
			f.LastEventID = s.LastEventID()
			s.Close()
		}
		if c.ctx.Err() != nil {
			return nil // interrupted
		}
		if permanent(err) {
			return c.describe(err, cn.cl.BaseURL())
		}
		fmt.Fprintf(c.stderr, "%s: the event stream broke (%s); reconnecting in %v\n", prog, oneLine(err.Error()), wait)
		t := time.NewTimer(wait)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, watchRetryMax)
	}
}

// openEvents opens the stream with a fresh access token, refreshing it
// once more if the broker answers 401 (a token expires during a long
// watch, and the broker ends the stream; each reconnection may refresh).
func (c *cli) openEvents(cn *conn, f api.EventFilter) (*api.EventStream, error) {
	cn.refreshed = false
	if !c.now().Before(cn.s.ExpiresAt.Add(-30 * time.Second)) {
		if err := cn.refresh(); err != nil {
			return nil, err
		}
	}
	var s *api.EventStream
	err := cn.do(func(ctx context.Context, cl *api.Client) error {
		var err error
		s, err = cl.OpenEvents(ctx, f)
		return err
	})
	return s, err
}

// printEvents prints each event of s until it ends.
func (c *cli) printEvents(s *api.EventStream) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	for {
		ev, err := s.Next()
		if err != nil {
			return err
		}
		if c.g.output == "json" {
			err = enc.Encode(ev)
		} else {
			subject := ev.EndpointID
			if ev.KeyID != "" {
				subject = "key " + ev.KeyID
			}
			_, err = fmt.Fprintf(c.stdout, "%s  %-18s  %-40s  account %s\n", ev.At.UTC().Format(time.RFC3339), ev.Type, subject, ev.AccountID)
		}
		if err != nil {
			return &stdoutError{err}
		}
	}
}

// stdoutError is a failure to print: no reconnection mends it.
type stdoutError struct{ err error }

func (e *stdoutError) Error() string { return "writing the events: " + e.err.Error() }

// permanent reports whether no reconnection mends err.
func permanent(err error) bool {
	var ae *api.Error
	var se *stdoutError
	var uae x509.UnknownAuthorityError
	var cve *tls.CertificateVerificationError
	var hne x509.HostnameError
	switch {
	case errors.As(err, &ae):
		return ae.Status < 500 && ae.Status != http.StatusTooManyRequests
	case errors.Is(err, errSessionExpired), errors.As(err, &se),
		errors.As(err, &uae), errors.As(err, &cve), errors.As(err, &hne):
		return true
	}
	return false
}
