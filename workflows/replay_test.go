package workflows

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
)

// Histories of real runs (recorded by the e2e tests with RETIRE_SAVE_HISTORY, and with
// RETIRE_SAVE_OUTAGE_HISTORY for one whose archive was retried and reported progress) must replay
// against today's code: a change that breaks them needs workflow.GetVersion, or runs in
// flight for weeks would fail on their next event.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/*.history.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories in workflows/testdata")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflow(RetireDatabase)
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}
