package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/dataretire/retire/workflows"
)

func TestApproveSendsTheSignoffAndSaysWhatFollows(t *testing.T) {
	st := sampleStatus()
	st.Signoffs = []workflows.Signoff{{By: "alice", Comment: "ok"}}
	fake := &fakeTemporal{updateOut: st}
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"approve", "local", "shop", "--as", "alice", "--comment", "ok"}), errOut.String())

	u := fake.updated
	assert.Equal(t, "retire:local:shop", u.WorkflowID)
	assert.Equal(t, workflows.UpdateApprove, u.UpdateName)
	assert.Equal(t, client.WorkflowUpdateStageCompleted, u.WaitForStage)
	assert.Equal(t, []any{workflows.Signoff{By: "alice", Comment: "ok"}}, u.Args)
	assert.Equal(t, "signed off by alice; observation window ends 2026-11-25 10:00 UTC; the drop may proceed after that\n", out.String())
}

func TestUpdateArgumentsAndMessages(t *testing.T) {
	st := sampleStatus()
	for _, tc := range []struct {
		args []string
		name string
		arg  any
		out  string
	}{
		{[]string{"object", "local", "shop", "--as", "bob", "--reason", "billing reads it"}, workflows.UpdateObject,
			workflows.Objection{By: "bob", Reason: "billing reads it"},
			"objection by bob recorded; access is being restored and the retirement ends as aborted\n"},
		{[]string{"extend", "local", "shop", "--as", "alice", "--by", "7d", "--reason", "quarter end"}, workflows.UpdateExtend,
			workflows.Extension{By: "alice", Extra: 7 * 24 * time.Hour, Reason: "quarter end"},
			"observation window extended by 7d to 21d in total by alice; it now ends 2026-11-25 10:00 UTC\n"},
		{[]string{"acknowledge-clients", "local", "shop", "--as", "dba", "--note", "BI box retired"}, workflows.UpdateAcknowledge,
			workflows.Acknowledgement{By: "dba", Note: "BI box retired"},
			"1 client acknowledged by dba; access is cut next (strategy revoke), then the observation window of 21d begins\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeTemporal{updateOut: st}
			a, out, errOut := testApp(t, fake, nil)
			require.Equal(t, 0, a.execute(tc.args), errOut.String())
			assert.Equal(t, tc.name, fake.updated.UpdateName)
			assert.Equal(t, []any{tc.arg}, fake.updated.Args)
			assert.Equal(t, tc.out, out.String())
		})
	}
}

// A validator's rejection comes back as the failure the workflow wrote; the CLI prints its
// message and nothing of the SDK's wrapping.
func TestUpdateRejectionIsPrintedAsIs(t *testing.T) {
	msg := "carol requested this retirement and cannot sign it off; ask an owner (alice, bob)"
	for name, err := range map[string]error{
		"validator error":   sdkError(errors.New(msg)),
		"application error": sdkError(temporal.NewApplicationError(msg, "Rejected")),
		"wrapped":           fmt.Errorf("update failed: %w", sdkError(errors.New(msg))),
	} {
		t.Run(name, func(t *testing.T) {
			fake := &fakeTemporal{updateErr: err}
			a, out, errOut := testApp(t, fake, nil)
			assert.Equal(t, 1, a.execute([]string{"approve", "local", "shop", "--as", "carol"}))
			assert.Empty(t, out.String())
			assert.Equal(t, "retire: "+msg+"\n", errOut.String())
		})
	}
}

func TestUpdateOfAnEndedRetirement(t *testing.T) {
	fake := &fakeTemporal{
		updateErr: serviceerror.NewNotFound("workflow execution already completed"),
		desc:      description(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, workflows.PhaseAborted),
	}
	a, _, errOut := testApp(t, fake, nil)
	assert.Equal(t, 1, a.execute([]string{"extend", "local", "shop", "--as", "alice", "--by", "7d"}))
	assert.Equal(t, "retire: the retirement of local/shop has ended (phase aborted, completed); see `retire status local shop`\n", errOut.String())

	fake = &fakeTemporal{updateErr: serviceerror.NewNotFound("not found"), descErr: serviceerror.NewNotFound("not found")}
	a, _, errOut = testApp(t, fake, nil)
	assert.Equal(t, 1, a.execute([]string{"approve", "local", "shop", "--as", "alice"}))
	assert.Equal(t, "retire: no retirement of local/shop is running (workflow retire:local:shop); start one with `retire start local shop`\n", errOut.String())
}

func TestUpdateWithoutWorkerTimesOut(t *testing.T) {
	fake := &fakeTemporal{updateErr: client.NewWorkflowUpdateServiceTimeoutOrCanceledError(context.DeadlineExceeded)}
	a, _, errOut := testApp(t, fake, nil)
	assert.Equal(t, 1, a.execute([]string{"approve", "local", "shop", "--as", "alice", "--timeout", "5s"}))
	assert.Equal(t, "retire: no answer to the approve update within 5s: is a retire-worker running on task queue \"retire\"? "+
		"The server keeps the update and a worker may still apply it: check `retire status local shop` before sending it again\n", errOut.String())
}

func TestUpdatesCheckTheirFlagsBeforeDialling(t *testing.T) {
	for args, want := range map[string]string{
		"approve local shop":                      "retire: say who signs off: --as <owner>\n",
		"object local shop":                       "retire: say who objects: --as <owner>; say why the data is still needed: --reason\n",
		"extend local shop --as alice":            "retire: say by how much: --by 7d\n",
		"extend local shop --as alice --by soon":  "retire: --by: \"soon\" is not a duration: use days like 14d, or 36h, 90m, 30s\n",
		"acknowledge-clients local shop --as dba": "retire: say why these clients may lose access: --note\n",
		"approve local":                           "retire: retire approve needs <connection> <database>, e.g. `retire approve local shop` (got 1 argument(s))\n",
		"approve local shop --as alice --comment": "retire: flag needs an argument: --comment (see retire approve --help)\n",
	} {
		a, _, errOut := testApp(t, nil, nil)
		assert.Equal(t, 1, a.execute(strings.Fields(args)), args)
		assert.Equal(t, want, errOut.String(), args)
	}
}

func TestCancelRefusesPastThePointOfNoReturn(t *testing.T) {
	for _, phase := range []workflows.Phase{workflows.PhaseDrop, workflows.PhaseVerify, workflows.PhaseRecord} {
		st := workflows.Status{Phase: phase}
		fake := &fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, phase), status: &st}
		a, _, errOut := testApp(t, fake, nil)
		assert.Equal(t, 1, a.execute([]string{"cancel", "local", "shop"}))
		assert.Nil(t, fake.cancelled, "must not cancel in %s", phase)
		assert.Contains(t, errOut.String(), "past the point of no return (phase "+string(phase)+")")
		assert.Contains(t, errOut.String(), "use `retire restore` from the archive")
	}
}

func TestCancelBeforeTheDrop(t *testing.T) {
	st := sampleStatus()
	fake := &fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhaseObserve), status: &st}
	a, out, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	require.Equal(t, 0, a.execute([]string{"cancel", "local", "shop"}), errOut.String())
	require.NotNil(t, fake.cancelled)
	assert.Equal(t, client.CancelWorkflowOptions{WorkflowID: "retire:local:shop", RunID: "run-1", Reason: "retire cancel by carol"}, *fake.cancelled)
	assert.Equal(t, "cancellation of local/shop requested (phase observe); access will be restored and the retirement ends as cancelled\n", out.String())

	// No worker: the phase search attribute decides.
	fake = &fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhaseDrop), queryErr: serviceerror.NewDeadlineExceeded("timeout")}
	a, _, errOut = testApp(t, fake, nil)
	assert.Equal(t, 1, a.execute([]string{"cancel", "local", "shop"}))
	assert.Nil(t, fake.cancelled)
	assert.Contains(t, errOut.String(), "past the point of no return (phase drop)")
}

func TestExplain(t *testing.T) {
	app := temporal.NewNonRetryableApplicationError("shop is a system schema", "Refused", nil)
	assert.Equal(t, "shop is a system schema", explain(fmt.Errorf("workflow execution error: %w", activityFailure("Plan", app))))
	assert.Equal(t, "cancelled; access restored", explain(sdkError(temporal.NewCanceledError("cancelled; access restored"))))
	assert.Equal(t, "the Archive activity timed out (Heartbeat); is a retire-worker running and able to reach the database?",
		explain(activityFailure("Archive", temporal.NewHeartbeatTimeoutError())))
	assert.Equal(t, "plain", explain(errors.New("plain")))
}
