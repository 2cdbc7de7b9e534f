package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/dataretire/retire/workflows"
)

type listFlags struct {
	phase, connection, owner string
	all                      bool
	limit                    int
}

func (a *app) listCommand() *cobra.Command {
	var f listFlags
	var out output
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List retirements (running ones unless --all)",
		Long: `List retirements from Temporal's visibility store, newest first. Phase, reason and
requester come from the search attributes the workflow keeps up to date.

-o json prints an array (empty: []) of {workflow_id, run_id, connection, object, phase,
reason, requester, owners, started_at, closed_at (finished ones only), status}; status is
Temporal's execution status (Running, Completed, Failed, Canceled, Terminated, TimedOut).

The Temporal UI finds the same runs: on its Workflows page, filter with
  RetirePhase = "observe" AND ExecutionStatus = "Running"
(RetireConnection, RetireObject, RetireOwners, RetireReason and RetireRequester likewise);
so does the temporal CLI: temporal workflow list --query 'RetirePhase = "observe"'.`,
		Example: `  retire list
  retire list --phase observe              # waiting out their observation window
  retire list --owner alice                # what alice may have to sign off
  retire list --connection local --all -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			query, err := f.query()
			if err != nil {
				return err
			}
			c, err := a.temporal()
			if err != nil {
				return err
			}
			rows, err := a.list(cmd.Context(), c, query, f.limit)
			if err != nil {
				return err
			}
			if out == outputJSON {
				if rows == nil {
					rows = []listRow{}
				}
				return writeJSON(a.out, rows)
			}
			renderList(a.out, rows)
			return nil
		},
	}
	addOutputFlag(cmd, &out)
	cmd.Flags().StringVar(&f.phase, "phase", "", "only this phase: "+phaseNames())
	cmd.Flags().StringVar(&f.connection, "connection", "", "only this connection profile")
	cmd.Flags().StringVar(&f.owner, "owner", "", "only retirements that list this owner")
	cmd.Flags().BoolVar(&f.all, "all", false, "finished retirements too")
	cmd.Flags().IntVar(&f.limit, "limit", 200, "at most this many rows")
	return cmd
}

func phaseNames() string {
	names := make([]string, len(workflows.Phases))
	for i, p := range workflows.Phases {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// Values that go into a visibility query (workflows.Filter). The query language has no bind
// parameters, so every value is checked against a strict shape before it is quoted: text
// such as `observe' OR 1=1` never reaches the server.
var (
	connectionValue = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	personValue     = regexp.MustCompile(`^[\pL\pN_.@+-]{1,128}$`)
)

func (f listFlags) query() (string, error) {
	if f.phase != "" && !slices.Contains(workflows.Phases, workflows.Phase(f.phase)) {
		return "", fmt.Errorf("--phase %q: use one of %s", f.phase, phaseNames())
	}
	if f.connection != "" && !connectionValue.MatchString(f.connection) {
		return "", fmt.Errorf("--connection %q is not a profile name (letters, digits, _ . -)", f.connection)
	}
	if f.owner != "" && !personValue.MatchString(f.owner) {
		return "", fmt.Errorf("--owner %q is not a valid name", f.owner)
	}
	return workflows.Filter{Phase: workflows.Phase(f.phase), Connection: f.connection, Owner: f.owner, All: f.all}.Query(), nil
}

// listRow is one retirement in `retire list`; -o json prints these.
type listRow struct {
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	Connection string    `json:"connection"`
	Object     string    `json:"object"`
	Phase      string    `json:"phase"`
	Reason     string    `json:"reason"`
	Requester  string    `json:"requester"`
	Owners     []string  `json:"owners"`
	StartedAt  time.Time `json:"started_at"`
	ClosedAt   time.Time `json:"closed_at,omitzero"`
	Status     string    `json:"status"`
}

func (a *app) list(ctx context.Context, c temporalAPI, query string, limit int) ([]listRow, error) {
	var rows []listRow
	var token []byte
	for {
		rctx, cancel := a.rpc(ctx)
		resp, err := c.ListWorkflow(rctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: query, PageSize: 100, NextPageToken: token,
		})
		cancel()
		switch {
		case isTimeout(err):
			return nil, fmt.Errorf("Temporal did not answer within %s; check TEMPORAL_ADDRESS or raise --timeout", a.timeout)
		case err != nil:
			return nil, fmt.Errorf("cannot list retirements: %s", explain(searchAttributeHint(err)))
		}
		for _, e := range resp.GetExecutions() {
			attrs := e.GetSearchAttributes().GetIndexedFields()
			r := listRow{
				WorkflowID: e.GetExecution().GetWorkflowId(),
				RunID:      e.GetExecution().GetRunId(),
				Connection: keyword[string](attrs, workflows.AttrConnection.GetName()),
				Object:     keyword[string](attrs, workflows.AttrObject.GetName()),
				Phase:      keyword[string](attrs, workflows.AttrPhase.GetName()),
				Reason:     keyword[string](attrs, workflows.AttrReason.GetName()),
				Requester:  keyword[string](attrs, workflows.AttrRequester.GetName()),
				Owners:     keyword[[]string](attrs, workflows.AttrOwners.GetName()),
				Status:     e.GetStatus().String(),
			}
			if e.GetStartTime() != nil {
				r.StartedAt = e.GetStartTime().AsTime()
			}
			if e.GetCloseTime() != nil {
				r.ClosedAt = e.GetCloseTime().AsTime()
			}
			rows = append(rows, r)
			if limit > 0 && len(rows) >= limit {
				return rows, nil
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return rows, nil
		}
	}
}

func renderList(w io.Writer, rows []listRow) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "no retirements found")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKFLOW ID\tPHASE\tREASON\tREQUESTER\tSTARTED\tSTATUS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.WorkflowID, orDash(r.Phase), orDash(r.Reason), orDash(r.Requester), orDash(stamp(r.StartedAt)), r.Status)
	}
	_ = tw.Flush()
}
