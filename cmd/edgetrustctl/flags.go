package main

import (
	"strings"
	"time"
)

// Checks of positional arguments and flag values shared by the commands;
// each mistake is a usage error (exit status 2).

func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// oneID checks that args is exactly one id.
func oneID(args []string, what string) (string, error) {
	switch len(args) {
	case 1:
		if strings.TrimSpace(args[0]) == "" {
			return "", usagef("the %s is empty", what)
		}
		return args[0], nil
	case 0:
		return "", usagef("give the %s", what)
	default:
		return "", usagef("unexpected argument %q: give one %s", args[1], what)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseWhen reads an RFC 3339 time, or a duration from now (sign +1) or
// back from now (sign -1).
func parseWhen(c *cli, flag, s string, sign time.Duration) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return c.now().Add(sign * d).UTC().Truncate(time.Second), nil
	}
	return time.Time{}, usagef("--%s %q is not an RFC 3339 time like 2030-01-01T00:00:00Z or a duration like 720h", flag, s)
}
