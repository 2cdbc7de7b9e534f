package workflows

import "strings"

// Filter selects retirements in Temporal's visibility store. `retire list` and the worker's
// retire_retirements gauge build their queries here, so that both count the same runs.
type Filter struct {
	Phase      Phase
	Connection string
	Owner      string
	All        bool // closed runs too
}

// Query is the visibility query of the filter. The query language has no bind parameters:
// callers check values against strict shapes first, and quoting here is a second fence.
func (f Filter) Query() string {
	terms := []string{"WorkflowType = " + quoteValue(WorkflowName)}
	if f.Phase != "" {
		terms = append(terms, AttrPhase.GetName()+" = "+quoteValue(string(f.Phase)))
	}
	if f.Connection != "" {
		terms = append(terms, AttrConnection.GetName()+" = "+quoteValue(f.Connection))
	}
	if f.Owner != "" {
		terms = append(terms, AttrOwners.GetName()+" = "+quoteValue(f.Owner))
	}
	if !f.All {
		terms = append(terms, "ExecutionStatus = 'Running'")
	}
	return strings.Join(terms, " AND ")
}

func quoteValue(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}
