package activities

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/testservices"
)

// One poll per server and interval serves every retirement this worker samples on it: the
// queries the server answers (its own count, USER_STATISTICS of a dedicated account) do not
// grow with the number of retirements.
func TestOnePollPerServerServesEveryRetirement(t *testing.T) {
	root := testservices.MariaDB(t)
	user := uniqueName("rt_hub_")
	var userstat string
	require.NoError(t, root.QueryRow("SELECT @@userstat").Scan(&userstat))
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'127.0.0.1'", user),
		fmt.Sprintf("GRANT PROCESS, SELECT ON *.* TO '%s'@'127.0.0.1'", user),
		"SET GLOBAL userstat = ON",
	} {
		_, err := root.Exec(q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() {
		_, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'127.0.0.1'", user))
		_, _ = root.Exec("SET GLOBAL userstat = " + userstat)
	})
	cfg, err := config.Parse([]byte(fmt.Sprintf(`connections:
  hub: {engine: mysql, host: 127.0.0.1, port: 3306, user: %s, poll_interval: 50ms}
`, user)))
	require.NoError(t, err)
	acts := New(cfg, DevPolicy)

	selects := func() int64 {
		var n int64
		err := root.QueryRow("SELECT COALESCE(SUM(SELECT_COMMANDS), 0) FROM information_schema.USER_STATISTICS WHERE USER = ?", user).Scan(&n)
		require.NoError(t, err)
		return n
	}
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
		looks = acts.hub.lookCount("hub")
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
