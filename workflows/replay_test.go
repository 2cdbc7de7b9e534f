package workflows

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Histories of real runs (recorded by the e2e tests with RETIRE_SAVE_HISTORY, with
// RETIRE_SAVE_OUTAGE_HISTORY for one whose archive was retried and reported progress, and with
// RETIRE_SAVE_PROOF_HISTORY for one where every decision was SSH-signed) must replay
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
			// As the run it was: proofs name their workflow and run, which the replayer
			// would otherwise make up.
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			hist, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
			require.NoError(t, err)
			started := hist.Events[0].GetWorkflowExecutionStartedEventAttributes()
			run := workflow.Execution{ID: started.GetWorkflowId(), RunID: started.GetOriginalExecutionRunId()}
			if run.ID == "" {
				run.ID = "ReplayId" // recorded by a server that did not write the id into the event
			}
			require.NoError(t, replayer.ReplayWorkflowHistoryWithOptions(nil, hist, worker.ReplayWorkflowHistoryOptions{OriginalExecution: run}))
		})
	}
}
