package activities

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// The counting of attempts after the cut never lets a restart, a reset or a lost audit
// line pass as "nobody tried".
func TestAttemptCounterCarriesOverRestartsAndResets(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	app := engine.AccountRef{User: "app", Host: "%"}
	reading := func(epoch string, at time.Duration, denied, refused int64) engine.Counters {
		return engine.Counters{At: t0.Add(at), On: true, Epoch: epoch, Source: "USER_STATISTICS",
			Accounts: []engine.AccountCounter{{AccountRef: app, DeniedLogins: denied, RefusedStatements: refused}}}
	}
	var c attemptCounter
	c.counters(reading("e1", 0, 100, 40)) // the baseline before the cut: history, not attempts
	grew, fresh := c.counters(reading("e1", time.Minute, 100, 45))
	require.True(t, grew && fresh)
	require.EqualValues(t, 5, c.Attempts[0].RefusedStatements)

	// Acknowledged 5; the server restarts; 4 more after it must show as 9, not as 5.
	grew, _ = c.counters(reading("e2", 2*time.Minute, 0, 0))
	require.True(t, grew, "a restart is a problem to tell")
	require.Len(t, c.Problems, 1)
	c.counters(reading("e2", 3*time.Minute, 0, 4))
	require.EqualValues(t, 9, c.Attempts[0].RefusedStatements)

	// A FLUSH that lowers a counter within an epoch is a reset, not negative attempts.
	grew, _ = c.counters(reading("e2", 4*time.Minute, 0, 1))
	require.True(t, grew)
	require.Len(t, c.Problems, 2)
	c.counters(reading("e2", 5*time.Minute, 0, 3))
	require.EqualValues(t, 11, c.Attempts[0].RefusedStatements)

	// Counters switched off say so.
	off := reading("e2", 6*time.Minute, 0, 0)
	off.On = false
	c.counters(off)
	require.Len(t, c.Problems, 3)

	// Audit events add up across readings; a lost stretch of log is a problem.
	c.audit([]engine.AuditEvent{{User: "crm", Host: "10.0.0.9", Op: "FAILED_CONNECT", Code: 4151}, {User: "crm", Host: "10.0.0.9", Op: "FAILED_CONNECT", Code: 4151}}, t0)
	c.audit([]engine.AuditEvent{{User: "crm", Host: "10.0.0.9", Op: "FAILED_CONNECT", Code: 4151}, {Op: "LOG_GAP", Code: -1, At: t0}}, t0)
	crm := c.find(c.Attempts, "crm@10.0.0.9", "audit log")
	require.NotNil(t, crm)
	require.EqualValues(t, 3, crm.DeniedLogins)
	require.Len(t, c.Problems, 4)
}
