package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestListQuery(t *testing.T) {
	for _, tc := range []struct {
		flags listFlags
		want  string
	}{
		{listFlags{}, "WorkflowType = 'RetireDatabase' AND ExecutionStatus = 'Running'"},
		{listFlags{all: true}, "WorkflowType = 'RetireDatabase'"},
		{listFlags{phase: "observe"}, "WorkflowType = 'RetireDatabase' AND RetirePhase = 'observe' AND ExecutionStatus = 'Running'"},
		{listFlags{phase: "done", connection: "prod-eu.mysql_1", all: true}, "WorkflowType = 'RetireDatabase' AND RetirePhase = 'done' AND RetireConnection = 'prod-eu.mysql_1'"},
		{listFlags{owner: "alice@example.com"}, "WorkflowType = 'RetireDatabase' AND RetireOwners = 'alice@example.com' AND ExecutionStatus = 'Running'"},
	} {
		got, err := tc.flags.query()
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
}

func TestListQueryRefusesInjection(t *testing.T) {
	for _, f := range []listFlags{
		{phase: "observe' OR 1=1"},
		{phase: "observe' OR RetirePhase = 'drop"},
		{phase: "OBSERVE"},
		{phase: "retired"},
		{connection: "local' OR 1=1 --"},
		{connection: "local\\"},
		{connection: "-local"},
		{connection: strings.Repeat("a", 64)},
		{owner: "alice' OR 'a'='a"},
		{owner: "al ice"},
	} {
		q, err := f.query()
		assert.Error(t, err, "%+v gave %q", f, q)
	}
}

func TestListCommandTableAndJSON(t *testing.T) {
	started := time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC)
	fake := &fakeTemporal{list: &workflowservice.ListWorkflowExecutionsResponse{Executions: []*workflowpb.WorkflowExecutionInfo{{
		Execution: &commonpb.WorkflowExecution{WorkflowId: "retire:local:shop", RunId: "run-1"},
		Status:    enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		StartTime: timestamppb.New(started),
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
			"RetirePhase":     payload(t, "observe"),
			"RetireReason":    payload(t, "decommission"),
			"RetireRequester": payload(t, "carol"),
			"RetireOwners":    payload(t, []string{"alice", "bob"}),
		}},
	}}}}
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"list", "--phase", "observe"}), errOut.String())
	assert.Equal(t, "WorkflowType = 'RetireDatabase' AND RetirePhase = 'observe' AND ExecutionStatus = 'Running'", fake.listed.Query)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	assert.Regexp(t, `^WORKFLOW ID\s+PHASE\s+REASON\s+REQUESTER\s+STARTED\s+STATUS$`, lines[0])
	assert.Regexp(t, `^retire:local:shop\s+observe\s+decommission\s+carol\s+2026-11-01 09:30 UTC\s+Running$`, lines[1])

	a, out, errOut = testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"list", "-o", "json", "--all"}), errOut.String())
	var rows []listRow
	require.NoError(t, json.Unmarshal(out.Bytes(), &rows))
	require.Len(t, rows, 1)
	assert.Equal(t, []string{"alice", "bob"}, rows[0].Owners)
	assert.Equal(t, "observe", rows[0].Phase)

	a, _, errOut = testApp(t, nil, nil)
	assert.Equal(t, 1, a.execute([]string{"list", "-o", "yaml"}))
	assert.Contains(t, errOut.String(), `output "yaml": use text or json`)
}

func TestListEmpty(t *testing.T) {
	fake := &fakeTemporal{list: &workflowservice.ListWorkflowExecutionsResponse{}}
	a, out, _ := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"list"}))
	assert.Equal(t, "no retirements found\n", out.String())
	a, out, _ = testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"list", "-o", "json"}))
	assert.Equal(t, "[]\n", out.String())
}
