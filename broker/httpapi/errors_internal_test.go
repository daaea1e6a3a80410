package httpapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgetrust/edgetrust/broker/registry"
)

func TestStatus(t *testing.T) {
	type answer struct {
		Status int
		Code   string
	}
	tests := []struct {
		kind registry.Kind
		want answer
	}{
		{registry.KindInvalid, answer{400, "invalid_request"}},
		{registry.KindUnauthenticated, answer{401, "unauthorized"}},
		{registry.KindInvalidClient, answer{403, "invalid_client"}},
		{registry.KindPermission, answer{403, "forbidden"}},
		{registry.KindNotFound, answer{404, "not_found"}},
		{registry.KindConflict, answer{409, "conflict"}},
		{registry.KindRateLimited, answer{429, "rate_limited"}},
		{registry.KindLimited, answer{429, "rate_limited"}},
		{registry.KindAccessDenied, answer{403, "access_denied"}},
		{registry.KindPending, answer{400, "authorization_pending"}},
		{registry.KindExpired, answer{400, "expired_token"}},
		{registry.KindInvalidGrant, answer{400, "invalid_grant"}},
		{registry.KindUnknownUser, answer{404, "unknown_user"}},
		{registry.KindLoginRefused, answer{403, "login_refused"}},
		{registry.KindQuota, answer{422, "quota_exceeded"}},
		{registry.KindInternal, answer{500, "internal_error"}},
		{registry.Kind(99), answer{500, "internal_error"}},
	}
	for _, tc := range tests {
		t.Run(tc.kind.String(), func(t *testing.T) {
			s, c := status(tc.kind)
			if diff := cmp.Diff(tc.want, answer{s, c}); diff != "" {
				t.Errorf("status(%v) (-want +got):\n%s", tc.kind, diff)
			}
		})
	}
}
