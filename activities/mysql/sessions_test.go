package mysql

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// shortClient connects to db every period, holds the connection for a short query and
// leaves: the kind of client a single look at the processlist misses.
func shortClient(ctx context.Context, user, password, db string, period time.Duration) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if c, err := openAs(user, password, db); err == nil {
				var x int
				_ = c.QueryRowContext(ctx, "SELECT SLEEP(0.4)").Scan(&x)
				c.Close()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(period):
			}
		}
	})
	return &wg
}

func TestSamplerCatchesShortConnections(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	db := createDB(t, root, "smp")
	other := createDB(t, root, "smpo")
	short := createUser(t, root, "short", "pw-short-1")
	elsewhere := createUser(t, root, "elsew", "pw-elsew-1")
	mustExec(t, root,
		fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", db, short),
		fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", other, elsewhere))

	// A long-lived client of another database must not be reported.
	away := connectAs(t, elsewhere, "pw-elsew-1", other)
	awayConn, err := away.Conn(ctx)
	require.NoError(t, err)
	defer awayConn.Close()
	require.NoError(t, awayConn.PingContext(ctx))

	a, err := New(Config{Host: testHost, Port: testPort, User: "root", PollInterval: 100 * time.Millisecond})
	require.NoError(t, err)

	cctx, stop := context.WithCancel(ctx)
	wg := shortClient(cctx, short, "pw-short-1", db, 2*time.Second)
	defer func() { stop(); wg.Wait() }()

	// Look every 100ms for 7 s, as the sampler does, folding the looks.
	s := engine.NewSampler(nil)
	for end := time.Now().Add(7 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		look, err := a.Sessions(ctx, db)
		require.NoError(t, err)
		s.Add(look)
	}
	require.Greater(t, s.Looks(), 30, "one look every 100ms")

	res := s.Result()
	require.Len(t, res, 1, "%+v", res)
	got := res[0]
	require.Equal(t, short, got.User)
	require.Equal(t, "127.0.0.1", got.Host, "the client port is dropped")
	require.Empty(t, got.Program)
	require.GreaterOrEqual(t, got.Count, 2, "several distinct short connections")
	require.True(t, got.LastSeen.After(got.FirstSeen))
	require.Zero(t, got.ID)

	// A later run resumes from the earlier result.
	again := engine.NewSampler(res)
	again.Add([]engine.Session{{User: short, Host: "127.0.0.1", FirstSeen: time.Now(), LastSeen: time.Now(), Count: 1, ID: 999999}})
	require.Equal(t, got.Count+1, again.Result()[0].Count)
	require.Equal(t, got.FirstSeen, again.Result()[0].FirstSeen)
}

func TestSessionsIsOneLook(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := createDB(t, root, "look")
	user := createUser(t, root, "look", "pw-look-1")
	mustExec(t, root, fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", db, user))

	none, err := a.Sessions(ctx, db)
	require.NoError(t, err)
	require.Empty(t, none)

	c := connectAs(t, user, "pw-look-1", db)
	conn, err := c.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	var id int64
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id))

	got, err := a.Sessions(ctx, db)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, user, got[0].User)
	require.Equal(t, "127.0.0.1", got[0].Host)
	require.Equal(t, id, got[0].ID)
	require.Equal(t, 1, got[0].Count)
	require.Equal(t, got[0].FirstSeen, got[0].LastSeen)

	_, err = a.Sessions(ctx, "mysql")
	require.ErrorIs(t, err, engine.ErrRefused)
}

func TestSamplerCountsDistinctConnections(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration, id int64) engine.Session {
		return engine.Session{User: "app", Host: "10.0.0.7", FirstSeen: t0.Add(d), LastSeen: t0.Add(d), Count: 1, ID: id}
	}
	s := engine.NewSampler(nil)
	s.Add([]engine.Session{at(time.Second, 1)})
	s.Add([]engine.Session{at(2*time.Second, 1)}) // same connection, seen again
	s.Add(nil)
	s.Add([]engine.Session{at(5*time.Second, 2), at(5*time.Second, 3), {User: "b", Host: "h", ID: 4, FirstSeen: t0, LastSeen: t0}})
	res := s.Result()
	require.Len(t, res, 2)
	require.Equal(t, "app", res[0].User)
	require.Equal(t, 3, res[0].Count)
	require.Equal(t, t0.Add(time.Second), res[0].FirstSeen)
	require.Equal(t, t0.Add(5*time.Second), res[0].LastSeen)
	require.Equal(t, "b", res[1].User)
	require.Equal(t, 1, res[1].Count)
	require.Equal(t, 4, s.Looks())
}
