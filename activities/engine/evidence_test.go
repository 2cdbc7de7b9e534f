package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Counters that cannot vouch for a span say so rather than "no access".
func TestAccessBetweenRefusesWhatItCannotCompare(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	read := func(epoch string, on bool, tables ...TableCounter) Counters {
		return Counters{At: t0, Source: "s", Epoch: epoch, On: on, Tables: tables}
	}
	a := read("e1", true, TableCounter{Table: "t", Reads: 10}, TableCounter{Table: "u", Reads: 5})
	got, ok := AccessBetween(a, read("e1", true, TableCounter{Table: "t", Reads: 12, Writes: 1}, TableCounter{Table: "u", Reads: 5}))
	require.True(t, ok)
	require.Equal(t, []TableAccess{{Table: "t", Reads: 2, Writes: 1, From: t0, To: t0}}, got)
	for name, later := range map[string]Counters{
		"another epoch":       read("e2", true, TableCounter{Table: "t", Reads: 10}, TableCounter{Table: "u", Reads: 5}),
		"switched off":        read("e1", false),
		"a counter went down": read("e1", true, TableCounter{Table: "t", Reads: 3}, TableCounter{Table: "u", Reads: 5}),
		"flushed away":        read("e1", true, TableCounter{Table: "t", Reads: 10}),
	} {
		_, ok := AccessBetween(a, later)
		require.False(t, ok, name)
	}
}
