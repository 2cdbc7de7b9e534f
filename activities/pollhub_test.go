package activities

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/testservices"
)

// countedAccount makes an account of its own for a test's watches (PROCESS and SELECT,
// userstat on while the test runs) and returns its name and the count of its SELECTs, as
// USER_STATISTICS has it: what the watches cost the server.
func countedAccount(t *testing.T, root *sql.DB, prefix string) (user string, selects func() int64) {
	user = uniqueName(prefix)
	testservices.SetGlobal(t, root, "userstat", "ON")
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'127.0.0.1'", user),
		fmt.Sprintf("GRANT PROCESS, SELECT ON *.* TO '%s'@'127.0.0.1'", user),
	} {
		_, err := root.Exec(q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'127.0.0.1'", user)) })
	return user, func() int64 {
		var n int64
		err := root.QueryRow("SELECT COALESCE(SUM(SELECT_COMMANDS), 0) FROM information_schema.USER_STATISTICS WHERE USER = ?", user).Scan(&n)
		require.NoError(t, err)
		return n
	}
}

// One poll per server and interval serves every retirement this worker samples on it: the
// queries the server answers (its own count, USER_STATISTICS of a dedicated account) do not
// grow with the number of retirements.
func TestOnePollPerServerServesEveryRetirement(t *testing.T) {
	root := testservices.MariaDB(t)
	user, selects := countedAccount(t, root, "rt_hub_")
	cfg, err := config.Parse([]byte(fmt.Sprintf(`connections:
  hub: {engine: mysql, host: 127.0.0.1, port: 3306, user: %s, poll_interval: 50ms}
`, user)))
	require.NoError(t, err)
	acts := New(cfg, DevPolicy)
	const window = 2 * time.Second
	measure := func(retirements int) (queries int64, looks int) {
		before := selects()
		until := time.Now().Add(window)
		var wg sync.WaitGroup
		errs := make([]error, retirements)
		var ts testsuite.WorkflowTestSuite
		for i := range retirements {
			env := ts.NewTestActivityEnvironment()
			env.RegisterActivity(acts)
			env.SetTestTimeout(time.Minute)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = env.ExecuteActivity(acts.SampleClients, SampleInput{Target: Target{Connection: "hub", Object: fmt.Sprintf("rt_hub_db_%d", i)}, Until: until})
			}()
		}
		// The poller stops with its last subscriber: read its count while they run.
		time.Sleep(window / 2)
		looks = acts.hub.readCount("hub")
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		return selects() - before, looks
	}
	one, looks1 := measure(1)
	fifty, looks50 := measure(50)
	t.Logf("queries against the server in %s: %d with 1 retirement sampling, %d with 50 (%.1f and %.1f q/s); looks half-way: %d and %d",
		window, one, fifty, float64(one)/window.Seconds(), float64(fifty)/window.Seconds(), looks1, looks50)
	require.Positive(t, one)
	// Per-retirement polling would be 50 times as many; shared, it is the same give or take
	// the start and end of the window.
	require.LessOrEqual(t, fifty, 2*one+10, "the server's queries grew with the number of retirements")
}

// The same for the counters that count attempts after the cut: one reading per server and
// interval, whatever the number of retirements watching (each reads its evidence sources
// once as it starts, so the count starts once all of them wait on the shared reading).
func TestOneCounterReadingServesEveryWatch(t *testing.T) {
	root := testservices.MariaDB(t)
	user, selects := countedAccount(t, root, "rt_cnt_")
	const watches = 50
	for i := range watches {
		_, err := root.Exec(fmt.Sprintf("CREATE DATABASE %s_%d", user, i))
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP DATABASE IF EXISTS %s_%d", user, i)) })
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`connections:
  cnt: {engine: mysql, host: 127.0.0.1, port: 3306, user: %s}
`, user)))
	require.NoError(t, err)
	acts := New(cfg, DevPolicy) // dev: a reading every second
	const window = 3 * time.Second
	measure := func(n int) (queries int64) {
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		errs := make([]error, n)
		var ts testsuite.WorkflowTestSuite
		for i := range n {
			env := ts.NewTestActivityEnvironment()
			env.RegisterActivity(acts)
			env.SetTestTimeout(time.Minute)
			env.SetWorkerOptions(worker.Options{BackgroundActivityContext: ctx})
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = env.ExecuteActivity(acts.WatchAttempts, WatchAttemptsInput{
					Target:   Target{Connection: "cnt", Object: fmt.Sprintf("%s_%d", user, i)},
					Until:    time.Now().Add(time.Hour),
					Accounts: []engine.AccountRef{{User: fmt.Sprintf("app%d", i), Host: "%"}},
				})
			}()
		}
		require.Eventually(t, func() bool { return acts.counters.subscribers("cnt") == n }, time.Minute, 20*time.Millisecond)
		before := selects()
		time.Sleep(window)
		queries = selects() - before
		stop()
		wg.Wait()
		for _, err := range errs {
			require.ErrorContains(t, err, "context canceled") // stopped, not failed
		}
		return queries
	}
	one, fifty := measure(1), measure(watches)
	t.Logf("queries against the server in %s: %d with 1 retirement watching attempts, %d with %d", window, one, fifty, watches)
	require.Positive(t, one)
	require.LessOrEqual(t, fifty, 2*one+10, "the server's queries grew with the number of retirements")
}

// A watch's part of a shared reading is what its own reading would have been: its
// object's tables and its own accounts, in the order it asked, nobody else's.
func TestAWatchTakesItsOwnPartOfASharedReading(t *testing.T) {
	app, bill, other := engine.AccountRef{User: "app", Host: "%"}, engine.AccountRef{User: "bill", Host: "%"}, engine.AccountRef{User: "x", Host: "%"}
	all := map[string]engine.Counters{
		"shop": {On: true, Epoch: "e", Tables: []engine.TableCounter{{Table: "t", Reads: 1}},
			Accounts: []engine.AccountCounter{{AccountRef: other, DeniedLogins: 9}, {AccountRef: bill, RefusedStatements: 2}, {AccountRef: app, DeniedLogins: 1}}},
	}
	got, ok := counterQuery{object: "shop", accounts: []engine.AccountRef{app, bill}}.of(all)
	require.True(t, ok)
	require.Equal(t, engine.Counters{On: true, Epoch: "e", Tables: []engine.TableCounter{{Table: "t", Reads: 1}},
		Accounts: []engine.AccountCounter{{AccountRef: app, DeniedLogins: 1}, {AccountRef: bill, RefusedStatements: 2}}}, got)
	got, _ = counterQuery{object: "shop"}.of(all)
	require.Nil(t, got.Accounts)
	_, ok = counterQuery{object: "gone"}.of(all)
	require.False(t, ok, "a reading that did not cover the object says nothing of it")
}

// A watch that subscribes while the poller reads for the others does not get that reading
// (it did not ask for its object): its first reading is one that covered it. Before, it
// got the others' reading, in which its object had no entry, and took it for counters off
// (seen in the fleet bench: a child waited for an acknowledgement of "counters off").
func TestAWatchThatJoinsDuringAReadWaitsForOneThatCoversIt(t *testing.T) {
	h := newPollHub[string, []string]()
	reading, release := make(chan []string, 10), make(chan struct{})
	read := func(_ context.Context, qs []string) ([]string, error) {
		slices.Sort(qs)
		reading <- qs
		<-release
		return qs, nil
	}
	a, leaveA := h.subscribe("db", "a", time.Millisecond, read, nil)
	defer leaveA()
	require.Equal(t, []string{"a"}, <-reading) // the poller reads for a, and waits
	b, leaveB := h.subscribe("db", "b", time.Millisecond, read, nil)
	defer leaveB()
	release <- struct{}{}
	require.Equal(t, []string{"a"}, (<-a).value)
	require.Equal(t, []string{"a", "b"}, <-reading)
	release <- struct{}{}
	require.Equal(t, []string{"a", "b"}, (<-b).value, "b's first reading is one that read for b")
	close(release)
}
