package mysql

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

func TestErrorsNeverCarryThePassword(t *testing.T) {
	rootDB(t)
	const secret = "s3cr3t-never-logged"
	a, err := New(Config{Host: testHost, Port: testPort, User: "root", Password: secret})
	require.NoError(t, err)
	err = a.Validate(testCtx(t), "anything")
	require.Error(t, err)
	require.NotContains(t, err.Error(), secret)

	_, err = New(Config{Host: testHost, User: "root", Password: secret, Params: map[string]string{"parseTime": "maybe"}})
	require.ErrorIs(t, err, engine.ErrRefused)
	require.NotContains(t, err.Error(), secret)
}

func TestEveryStatementHasADeadline(t *testing.T) {
	rootDB(t)
	a, err := New(Config{Host: testHost, Port: testPort, User: "root", QueryTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, 500*time.Millisecond, a.cfg.PollInterval, "default poll interval")
	pool, err := a.open()
	require.NoError(t, err)
	defer pool.Close()

	// The caller's context has no deadline; the statement still gets one.
	start := time.Now()
	var x int
	err = a.row(context.Background(), pool, "SELECT SLEEP(5)", nil, &x)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 3*time.Second)
}

func TestNewDefaults(t *testing.T) {
	a, err := New(Config{User: "root"})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", a.cfg.Host)
	require.Equal(t, 3306, a.cfg.Port)
	require.Equal(t, 30*time.Second, a.cfg.QueryTimeout)
	require.Equal(t, 500*time.Millisecond, a.cfg.PollInterval)
	require.False(t, a.connector.ParseTime, "exports need the server's text")
	require.False(t, a.connector.MultiStatements)
}
