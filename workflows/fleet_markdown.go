package workflows

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// fleetDetailRows is how many objects the Temporal UI's current details list: a fleet of a
// thousand would make a page nobody reads, so the details show the wave under way and the
// objects that need a look, and the record shows them all.
const fleetDetailRows = 60

// FleetMarkdown renders a fleet for the Temporal UI's current details (full false) and as
// its record (full true). Each object links to its own retirement in the UI.
func FleetMarkdown(s FleetStatus, full bool) string {
	var b strings.Builder
	req := s.Request
	fmt.Fprintf(&b, "## Fleet retirement `%s`\n\n**Phase:** %s", req.Name, s.Phase)
	if s.Outcome != "" {
		fmt.Fprintf(&b, " — %s", s.Outcome)
	}
	b.WriteString("\n\n")
	if s.Waiting != "" {
		fmt.Fprintf(&b, "**Waiting for:** %s\n\n", s.Waiting)
	}
	if s.Progress != "" && !full {
		fmt.Fprintf(&b, "**Now:** %s\n\n", s.Progress)
	}
	b.WriteString("| | |\n|---|---|\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", k, cell(v))
		}
	}
	row("Reason", string(req.Reason))
	row("Requested by", req.Requester+proven(s.RequesterVerified))
	if sg := s.Signers; sg != nil {
		row("DBAs", strings.Join(sg.DBAs, ", "))
	}
	row("Ticket", req.Ticket)
	row("Objects", fmt.Sprintf("%d in %d waves", len(s.Objects), len(s.Waves)))
	w := req.Waves
	pacing := fmt.Sprintf("beta first, then %s", w.Group)
	if w.Group == GroupN {
		pacing = fmt.Sprintf("beta first, then groups of %d", w.N)
	}
	done := "dropped"
	if w.DoneWhen == DoneObserved {
		done = "observed for " + days(w.ObservedFor)
	}
	row("Waves", fmt.Sprintf("%s; a child counts once %s; at most %d per connection in archive or drop; pause after %d failures", pacing, done, w.PerConnection, w.FailureBudget))
	row("Windows", fmt.Sprintf("sampling %s, observation %s, strategy %s, verify %s", days(req.SampleWindow), days(req.ObserveWindow), req.Strategy, req.Verify))
	row("Counts", phaseCounts(s.Objects))
	row("Owners' digest", digestText(s.Digest))
	row("Workflow", s.WorkflowID+" / "+s.RunID)
	row("Started", when(s.StartedAt))
	row("Finished", when(s.FinishedAt))
	if s.Paused != nil {
		row("Paused", fmt.Sprintf("by %s at %s%s%s", s.Paused.By, when(s.Paused.At), orEmpty(" — ", s.Paused.Note), proven(s.Paused.Verified)))
	}
	if s.Aborted != nil {
		row("Aborted", fmt.Sprintf("by %s at %s%s%s", s.Aborted.By, when(s.Aborted.At), orEmpty(" — ", s.Aborted.Note), proven(s.Aborted.Verified)))
	}
	if s.RecordKeys != nil {
		row("Record", cmp.Or(s.RecordKeys.MarkdownURL, s.RecordKeys.MarkdownKey))
	}

	b.WriteString("\n### Waves\n\n| wave | objects | state | go given by | started | done |\n|---|---|---|---|---|---|\n")
	for _, wv := range s.Waves {
		by := ""
		if p := wv.Proceed; p != nil {
			by = p.By + proven(p.Verified)
		} else if wv.Number == 1 {
			by = "the requester's start"
		}
		mark := ""
		if wv.Number == s.Wave && s.FinishedAt.IsZero() {
			mark = " ◀"
		}
		fmt.Fprintf(&b, "| %d %s%s | %d | %s | %s | %s | %s |\n", wv.Number, cell(wv.Name), mark, len(wv.Objects), wv.State, cell(by), when(wv.StartedAt), when(wv.DoneAt))
	}

	rows := s.Objects
	title := "Objects"
	if !full {
		rows, title = detailRows(s)
	}
	fmt.Fprintf(&b, "\n### %s\n\n| object | wave | phase | waiting for / outcome | archive | retirement |\n|---|---|---|---|---|---|\n", title)
	for _, c := range rows {
		phase := string(c.Phase)
		switch {
		case c.Excluded:
			phase = orDash(phase) + ", excluded by " + c.ExcludedBy + orEmpty(": ", c.ExcludeReason)
		case !c.Started:
			phase = "not started"
		case phase == "":
			phase = "starting"
		}
		if c.Slot != "" {
			phase += " (slot " + c.Slot + ")"
		}
		note := joinNonEmpty("; ", c.Waiting, c.Outcome, c.Error)
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", cell(c.Key()), c.Wave, cell(phase), cell(note), cell(c.Archive), childLink(s.Namespace, c))
	}
	if !full && len(rows) < len(s.Objects) {
		fmt.Fprintf(&b, "\n%d more objects: `retire fleet status %s` lists them all (query %q).\n", len(s.Objects)-len(rows), req.Name, QueryFleetStatus)
	}

	if len(s.Failures) > 0 {
		b.WriteString("\n### Failures\n\n| object | ended | at | error |\n|---|---|---|---|\n")
		for _, x := range s.Failures {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(x.Object), x.Phase, when(x.At), cell(x.Error))
		}
	}
	if len(s.Decisions) > 0 {
		b.WriteString("\n### Decisions\n\n")
		for _, d := range s.Decisions {
			what := d.Decision
			switch {
			case d.Object != "":
				what += " " + d.Object
			case d.Wave > 0:
				what += fmt.Sprintf(" wave %d", d.Wave)
			}
			fmt.Fprintf(&b, "- %s **%s** at %s %s%s\n", d.By, what, when(d.At), quoted(d.Note), proven(d.Verified))
		}
	}
	if d := s.Digest; d != nil && len(d.Log) > 0 {
		b.WriteString("\n### Owners' digests\n\nEach person got one mail per digest for all their objects; each retirement's own record lists its notices.\n\n| digest | at | why | notices | objects | people mailed | delivered |\n|---|---|---|---|---|---|---|\n")
		for _, x := range d.Log {
			delivered := "yes"
			switch {
			case x.Error != "":
				delivered = "no: " + x.Error
			case !x.Sent:
				delivered = "no channel configured"
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %d | %d | %d | %s |\n", x.Number, when(x.At), cell(x.Why), x.Notices, x.Objects, x.People, cell(delivered))
		}
	}
	if full && len(s.Runs) > 0 {
		fmt.Fprintf(&b, "\n### Runs\n\nThe fleet continued as new %d times; the longest run had %d events.\n\n| run | wave | events | why |\n|---|---|---|---|\n", len(s.Runs), s.MaxEvents)
		for _, r := range s.Runs {
			fmt.Fprintf(&b, "| %s | %d | %d | %s |\n", r.Run, r.Wave, r.Events, cell(r.Reason))
		}
	}
	return b.String()
}

// detailRows are the objects the current details show: those of the wave under way, then
// any other that failed, waits for a person or holds a slot, up to fleetDetailRows.
func detailRows(s FleetStatus) ([]FleetChild, string) {
	var rows []FleetChild
	for _, c := range s.Objects {
		if c.Wave == s.Wave {
			rows = append(rows, c)
		}
	}
	for _, c := range s.Objects {
		if c.Wave != s.Wave && (c.Failed || c.Waiting != "" || c.Slot != "") {
			rows = append(rows, c)
		}
	}
	if len(rows) > fleetDetailRows {
		rows = rows[:fleetDetailRows]
	}
	return rows, fmt.Sprintf("Wave %d, and objects elsewhere that need a look", s.Wave)
}

// phaseCounts says how many objects stand where, in lifecycle order.
func phaseCounts(objs []FleetChild) string {
	counts := map[string]int{}
	for _, c := range objs {
		switch {
		case c.Excluded:
			counts["excluded"]++
		case !c.Started:
			counts["not started"]++
		case c.Phase == "":
			counts["starting"]++
		default:
			counts[string(c.Phase)]++
		}
	}
	order := append([]string{"not started", "starting"}, phaseNames()...)
	order = append(order, "excluded")
	var parts []string
	for _, k := range order {
		if n := counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return strings.Join(parts, ", ")
}

func phaseNames() []string {
	var out []string
	for _, p := range Phases {
		out = append(out, string(p))
	}
	return slices.Clip(out)
}

// childLink links to the child's retirement in the Temporal UI, relative to the UI's root.
func childLink(namespace string, c FleetChild) string {
	if !c.Started || namespace == "" {
		return "`" + cell(c.WorkflowID) + "`"
	}
	return fmt.Sprintf("[%s](/namespaces/%s/workflows/%s)", cell(strings.NewReplacer("[", "\\[", "]", "\\]").Replace(c.WorkflowID)), url.PathEscape(namespace), url.PathEscape(c.WorkflowID))
}
