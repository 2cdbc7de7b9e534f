package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// digest_every is the fleet's owners' digest interval: a duration like the windows, more than
// nothing and at most a day; it is part of what the requester signs.
func TestFleetFileDigestEvery(t *testing.T) {
	req, err := parseFleetFile("shop.yaml", []byte(goodFleet+"digest_every: 2h\n"), func(string) string { return "" })
	require.NoError(t, err)
	assert.Equal(t, 2*time.Hour, req.DigestEvery)
	assert.Contains(t, req.Says(), " digest_every=2h0m0s")
	assert.Contains(t, pacingText(req), "; owners' digests at most every 2h")

	plain, err := parseFleetFile("shop.yaml", []byte(goodFleet), func(string) string { return "" })
	require.NoError(t, err)
	assert.Zero(t, plain.DigestEvery, "left out: the worker's default")
	assert.NotContains(t, plain.Says(), "digest_every", "fleets that do not set it sign what they signed before digests")
	assert.NotContains(t, pacingText(plain), "digest")

	for text, want := range map[string]string{
		"digest_every: 2d\n":    "shop.yaml: line 16: digest_every 2d is longer than 1d",
		"digest_every: 0s\n":    "shop.yaml: line 16: digest_every must be longer than 0",
		"digest_every: often\n": "shop.yaml: line 16: digest_every: ",
	} {
		_, err := parseFleetFile("shop.yaml", []byte(goodFleet+text), func(string) string { return "" })
		require.Error(t, err, text)
		assert.Contains(t, err.Error(), want, strings.TrimSpace(text))
	}
}
