package workflows

import (
	"fmt"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// Markdown renders a status for the Temporal UI's current details and as record.md.
func Markdown(s Status) string {
	var b strings.Builder
	req := s.Request
	fmt.Fprintf(&b, "## Retirement of `%s/%s`\n\n", req.Connection, req.Object)
	fmt.Fprintf(&b, "**Phase:** %s", s.Phase)
	if s.Outcome != "" {
		fmt.Fprintf(&b, " — %s", s.Outcome)
	}
	b.WriteString("\n\n")
	if s.Waiting != "" {
		fmt.Fprintf(&b, "**Waiting for:** %s\n\n", s.Waiting)
	}
	if s.Error != "" {
		fmt.Fprintf(&b, "**Error:** %s\n\n", s.Error)
	}
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", k, strings.ReplaceAll(v, "|", "\\|"))
		}
	}
	row("Reason", string(req.Reason))
	row("Requested by", req.Requester)
	row("Owners", strings.Join(req.Owners, ", "))
	row("Ticket", req.Ticket)
	row("Strategy", string(req.Strategy))
	row("Workflow", s.WorkflowID+" / "+s.RunID)
	row("Started", when(s.StartedAt))
	row("Sampling until", when(s.SampleUntil))
	if !s.ObserveFrom.IsZero() {
		row("Observation", fmt.Sprintf("%s → %s (%s)", when(s.ObserveFrom), when(s.ObserveUntil), days(s.ObserveTotal)))
	} else {
		row("Observation window", days(s.ObserveTotal))
	}
	row("Finished", when(s.FinishedAt))
	if s.Plan != nil {
		row("Inventory", planSummary(s.Plan.Inventory))
	}
	if s.Archive != nil {
		row("Archive", fmt.Sprintf("s3://%s/%s (%s, manifest sha256 %s)", s.Archive.Bucket, s.Archive.Path, BytesText(s.Archive.Bytes), s.Archive.ManifestSHA256))
	}
	if v := s.Verification; v != nil {
		verdict := "verified"
		if !v.OK {
			verdict = "NOT verified: " + strings.Join(v.Problems, "; ")
		}
		row("Archive check", fmt.Sprintf("%s (read back: %d tables, %d rows, %d files, %s; sizes, SHA-256 and content checksums)", verdict, v.Tables, v.Rows, v.Files, BytesText(v.Bytes)))
	} else if s.Phase == PhaseArchive {
		row("Archive", "being written and verified (retire status --watch shows the rows and bytes done)")
	}
	if s.Gone != nil {
		row("Bytes freed", BytesText(s.Gone.BytesFreed))
	}
	if s.AccessRestored {
		row("Access", "restored")
	}

	b.WriteString("\n### Gates\n\n| gate | state | by | at | detail |\n|---|---|---|---|---|\n")
	for _, g := range s.Gates {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", g.Name, g.State, g.By, when(g.At), strings.ReplaceAll(g.Detail, "|", "\\|"))
	}
	if len(s.Signoffs)+len(s.Objections)+len(s.Extensions) > 0 {
		b.WriteString("\n### People\n\n")
		for _, x := range s.Signoffs {
			fmt.Fprintf(&b, "- %s **signed off** at %s %s\n", x.By, when(x.At), quoted(x.Comment))
		}
		for _, x := range s.Objections {
			fmt.Fprintf(&b, "- %s **objected** at %s %s\n", x.By, when(x.At), quoted(x.Reason))
		}
		for _, x := range s.Extensions {
			fmt.Fprintf(&b, "- %s **extended** by %s at %s %s\n", x.By, days(x.Extra), when(x.At), quoted(x.Reason))
		}
	}
	if len(s.Clients) > 0 {
		fmt.Fprintf(&b, "\n### Clients seen (%d looks)\n\n| client | connections | first seen | last seen |\n|---|---|---|---|\n", s.SampleLooks)
		for _, c := range s.Clients {
			fmt.Fprintf(&b, "| %s@%s %s | %d | %s | %s |\n", c.User, c.Host, c.Program, c.Count, when(c.FirstSeen), when(c.LastSeen))
		}
	}
	if len(s.Notices) > 0 {
		b.WriteString("\n### Owners told\n\n| notice | at | to | delivered |\n|---|---|---|---|\n")
		for _, n := range s.Notices {
			delivered := "yes"
			switch {
			case n.Error != "":
				delivered = "no: " + strings.ReplaceAll(n.Error, "|", "\\|")
			case !n.Sent:
				delivered = "no channel configured"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", n.Kind, when(n.At), strings.Join(n.To, ", "), delivered)
		}
	}
	if s.Plan != nil && len(s.Plan.Inventory.Warnings) > 0 {
		b.WriteString("\n### Warnings\n\n")
		for _, w := range s.Plan.Inventory.Warnings {
			fmt.Fprintf(&b, "- %s\n", w)
		}
	}
	return b.String()
}

func planSummary(inv engine.Inventory) string {
	return fmt.Sprintf("%s %s: %d tables, %d rows, %s; %d views, %d routines, %d triggers, %d events; %d accounts reach it",
		inv.Engine, inv.Version, len(inv.Tables), inv.TotalRows, BytesText(inv.TotalBytes),
		len(inv.Views), len(inv.Routines), len(inv.Triggers), len(inv.Events), len(inv.Accounts))
}

func cutSummary(c engine.CutResult) string {
	return fmt.Sprintf("%d grants revoked, %d accounts locked, %d tables moved, %d sessions killed", c.Revoked, len(c.Locked), c.Moved, c.KilledSessions)
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return stamp(t)
}

func quoted(s string) string {
	if s == "" {
		return ""
	}
	return "— “" + s + "”"
}
