package metrics

import "strings"

// reasonLabels maps each internal reason of a key refusal (the registry's
// keycheck.go, auth.go, oauth.go, register.go) to its label value: a fixed
// set, so that no caller's input becomes a label. TestEveryRefusalReason
// fails when the registry refuses for a reason missing here.
var reasonLabels = map[string]string{
	"malformed":                         "malformed",
	"unknown":                           "unknown",
	"key deleted":                       "key_deleted",
	"wrong secret":                      "wrong_secret",
	"unknown or wrong secret":           "unknown_or_wrong_secret",
	"limited (":                         "limited",
	"value revoked":                     "value_revoked",
	"value expired":                     "value_expired",
	"key inactive":                      "key_inactive",
	"key expired":                       "key_expired",
	"address not allowed":               "address_not_allowed",
	"unknown target account":            "unknown_target_account",
	"account disabled":                  "account_disabled",
	"use limit reached":                 "use_limit_reached",
	"no full API access":                "no_full_api_access",
	"run-as user unknown":               "run_as_user_unknown",
	"run-as user disabled":              "run_as_user_disabled",
	"run-as role unknown":               "run_as_role_unknown",
	"no run-as user or role":            "no_run_as_identity",
	"request signature does not verify": "bad_request_signature",
	"request signature missing or does not verify":                       "bad_request_signature",
	"key may not introspect (no full API access)":                        "no_introspection",
	"no user token, and the key does not allow unauthenticated requests": "unauthenticated_not_allowed",
	"key does not belong to the target account or an ancestor":           "wrong_account",
}

// ReasonOther is the label of a reason not in the table.
const ReasonOther = "other"

// ReasonLabel returns the label value of an internal refusal reason.
func ReasonLabel(reason string) string {
	reason = strings.TrimSpace(reason)
	if l, ok := reasonLabels[reason]; ok {
		return l
	}
	// "limited (SCOPE): REASON" (keycheck.go): a refusal past the
	// failure limits, whatever its reason.
	if strings.HasPrefix(reason, "limited (") {
		return reasonLabels["limited ("]
	}
	return ReasonOther
}

// ReasonLabels returns every label value ReasonLabel may return.
func ReasonLabels() []string {
	seen := map[string]bool{ReasonOther: true}
	out := []string{ReasonOther}
	for _, l := range reasonLabels {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}
