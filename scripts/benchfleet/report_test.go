package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities"
)

// The bench counts the holds sent again from the worker's own log lines, and says when it
// cannot read the log rather than printing 0.
func TestHoldsSentAgainAreCountedInTheWorkersLog(t *testing.T) {
	log := filepath.Join(t.TempDir(), "worker.log")
	line := "2026-12-02T12:00:00.000Z\tWARN\t" + activities.HoldSentAgain + "\t{\"keeper\": \"retire-setting:db1:userstat\"}\n"
	require.NoError(t, os.WriteFile(log, []byte(line+"2026-12-02T12:00:01.000Z\tINFO\tsomething else\n"+line), 0o600))
	require.Equal(t, 2, (&bench{workerLog: log}).holdsSentAgain())
	require.Equal(t, -1, (&bench{workerLog: filepath.Join(t.TempDir(), "none.log")}).holdsSentAgain())
}
