package workflows

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFilterQuery(t *testing.T) {
	assert.Equal(t, "WorkflowType = 'RetireDatabase' AND ExecutionStatus = 'Running'", Filter{}.Query())
	assert.Equal(t, "WorkflowType = 'RetireDatabase' AND RetirePhase = 'observe' AND ExecutionStatus = 'Running'", Filter{Phase: PhaseObserve}.Query())
	assert.Equal(t, "WorkflowType = 'RetireDatabase' AND RetirePhase = 'done' AND RetireConnection = 'eu' AND RetireOwners = 'al'", Filter{Phase: PhaseDone, Connection: "eu", Owner: "al", All: true}.Query())
	assert.Equal(t, `'a\'b\\'`, quoteValue(`a'b\`), "the second fence escapes what the first would let through")
}
