package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/proof"
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
	row("Requested by", req.Requester+proven(s.RequesterVerified))
	if sg := s.Signers; sg != nil {
		row("Owners", strings.Join(sg.Owners, ", ")+" (from "+sg.From+")")
		row("DBAs", strings.Join(sg.DBAs, ", "))
	} else {
		row("Owners", strings.Join(req.Owners, ", "))
	}
	row("Ticket", req.Ticket)
	row("Strategy", string(req.Strategy))
	if req.DryRun {
		row("Dry run", "plan and sample only: access was never cut, nothing was archived or dropped")
	}
	row("Workflow", s.WorkflowID+" / "+s.RunID)
	row("Object lock", s.ObjectLock)
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
	if s.AccessRestored {
		row("Access", "restored")
	}

	archiveSection(&b, s)

	b.WriteString("\n### Gates\n\n| gate | state | by | at | detail |\n|---|---|---|---|---|\n")
	for _, g := range s.Gates {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", g.Name, g.State, g.By, when(g.At), strings.ReplaceAll(g.Detail, "|", "\\|"))
	}
	if len(s.Signoffs)+len(s.Objections)+len(s.Extensions) > 0 {
		b.WriteString("\n### People\n\n")
		for _, x := range s.Signoffs {
			fmt.Fprintf(&b, "- %s **signed off** at %s %s%s\n", x.By, when(x.At), quoted(x.Comment), proven(x.Verified))
		}
		for _, x := range s.Objections {
			fmt.Fprintf(&b, "- %s **objected** at %s %s%s\n", x.By, when(x.At), quoted(x.Reason), proven(x.Verified))
		}
		for _, x := range s.Extensions {
			fmt.Fprintf(&b, "- %s **extended** by %s at %s %s%s\n", x.By, days(x.Extra), when(x.At), quoted(x.Reason), proven(x.Verified))
		}
	}
	evidenceSection(&b, s)
	if len(s.Clients) > 0 {
		fmt.Fprintf(&b, "\n### Clients seen (%d looks)\n\n| client | how | tables | connections | first seen | last seen |\n|---|---|---|---|---|---|\n", s.SampleLooks)
		for _, c := range s.Clients {
			fmt.Fprintf(&b, "| %s@%s %s | %s | %s | %d | %s | %s |\n", c.User, c.Host, c.Program, strings.Join(c.Via, ", "), strings.Join(c.Tables, ", "), c.Count, when(c.FirstSeen), when(c.LastSeen))
		}
	}
	if len(s.Notices) > 0 {
		b.WriteString("\n### Owners told\n\n| notice | at | to | delivered |\n|---|---|---|---|\n")
		for _, n := range s.Notices {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", n.Kind, when(n.At), strings.Join(n.To, ", "), cell(n.Delivered()))
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

// archiveSection is what an auditor checks: where the data went, that it was read back,
// and the one hash (the manifest's) that pins every file's SHA-256 and every table's
// row count and content checksum.
func archiveSection(b *strings.Builder, s Status) {
	a, v := s.Archive, s.Verification
	if a == nil && v == nil && s.Gone == nil {
		if s.Phase == PhaseArchive {
			b.WriteString("\n### Archive\n\n")
			archivingSection(b, s)
		}
		return
	}
	b.WriteString("\n### Archive\n\n| | |\n|---|---|\n")
	row := func(k, val string) {
		if val != "" {
			fmt.Fprintf(b, "| %s | %s |\n", k, strings.ReplaceAll(val, "|", "\\|"))
		}
	}
	if a != nil {
		row("Location", fmt.Sprintf("%s (store %s)", a.Location(), a.Store))
		row("Manifest", fmt.Sprintf("%s, SHA-256 `%s`", a.ManifestKey, a.ManifestSHA256))
		row("Contents", fmt.Sprintf("%d tables, %d rows in %d files, %s", a.Tables, a.Rows, a.Files, BytesText(a.Bytes)))
	}
	if v != nil {
		verdict := "passed"
		if !v.OK {
			verdict = "FAILED: " + strings.Join(v.Problems, "; ")
		}
		row("Verification", fmt.Sprintf("%s: every object read back (%d files, %s), sizes and SHA-256 checked, %d rows in %d tables decoded and their content checksums recomputed", verdict, v.Files, BytesText(v.Bytes), v.Rows, v.Tables))
	}
	if c := s.RestoreCheck; c != nil {
		verdict := "passed"
		if !c.OK {
			verdict = "FAILED: " + strings.Join(c.Problems, "; ")
		}
		row("Test restore", fmt.Sprintf("%s: %d tables, %d rows restored into %s and compared with the source", verdict, c.Tables, c.Rows, c.Scratch))
	}
	if s.Gone != nil {
		freed := fmt.Sprintf("%s (%d bytes)", BytesText(s.Gone.BytesFreed), s.Gone.BytesFreed)
		if m := s.Gone.BytesFreedMethod; m != "" {
			freed += ", counted from " + m
		}
		row("Bytes freed", freed)
	}
	if a != nil {
		row("Restore with", fmt.Sprintf("`retire restore %s --connection <profile> --into <new name>`", a.Path))
	}
}

// archivingSection shows the export under way: where it is, how much is done, how fast,
// and an estimate of the time left from the rows the plan counted.
func archivingSection(b *strings.Builder, s Status) {
	g := s.Archiving
	if g == nil || g.At.IsZero() {
		b.WriteString("Being written (`retire status --watch` shows the rows and bytes done as they go).\n")
		return
	}
	fmt.Fprintf(b, "Being written, as of %s:\n\n| | |\n|---|---|\n", when(g.At))
	if g.Table != "" {
		fmt.Fprintf(b, "| table | `%s` (%d of %d tables done) |\n", g.Table, g.TablesDone, g.TablesTotal)
	} else {
		fmt.Fprintf(b, "| tables | %d of %d done |\n", g.TablesDone, g.TablesTotal)
	}
	if g.ChunksTotal > 0 {
		fmt.Fprintf(b, "| chunks | %d of %d |\n", g.ChunksDone, g.ChunksTotal)
	}
	rows := fmt.Sprintf("%d", g.Rows)
	var total int64
	if s.Plan != nil {
		total = s.Plan.Inventory.TotalRows
	}
	if total > 0 {
		rows += fmt.Sprintf(" of %d (%d%%)", total, min(100, g.Rows*100/total))
	}
	fmt.Fprintf(b, "| rows | %s |\n| written | %s |\n", rows, BytesText(g.Bytes))
	if took := g.At.Sub(g.Since); took > 0 && g.Rows > 0 {
		// Since the export was first scheduled: retries and outages lower it.
		fmt.Fprintf(b, "| average rate | %s/s, %.1f rows/s since %s |\n", BytesText(int64(float64(g.Bytes)/took.Seconds())), float64(g.Rows)/took.Seconds(), when(g.Since))
		if total > g.Rows {
			left := time.Duration(float64(took) * float64(total-g.Rows) / float64(g.Rows))
			fmt.Fprintf(b, "| time left | about %s |\n", left.Round(time.Second))
		}
	}
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

// evidenceSection is what the drop's usage evidence rests on: the sources and how complete
// they were, what the counters counted table by table, who kept trying after the cut, and
// who acknowledged what.
func evidenceSection(b *strings.Builder, s Status) {
	ev := s.Evidence
	if ev == nil {
		return
	}
	b.WriteString("\n### Evidence\n\n")
	fmt.Fprintf(b, "Sampling window %s → %s; looked at %s of it", when(ev.WindowFrom), when(ev.WindowUntil), days(ev.Looked.Round(time.Second)))
	if len(ev.Gaps) > 0 {
		fmt.Fprintf(b, "; nobody looked %s", gapsText(ev.Gaps))
	}
	b.WriteString(".\n\n| source | state | sees | detail |\n|---|---|---|---|\n")
	for _, src := range ev.Sources {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", src.Name, src.State, cell(src.Sees), cell(src.Detail))
	}
	for _, c := range ev.Changes {
		restored := "put back"
		if !ev.SettingsRestored {
			restored = "NOT put back yet"
		}
		fmt.Fprintf(b, "\nretire set %s from %s to %s for the retirement (%s).\n", c.Variable, c.Before, c.After, restored)
	}
	if ev.Counted {
		if len(ev.Access) == 0 {
			b.WriteString("\nThe counters counted no read and no write on any table in the window.\n")
		} else {
			b.WriteString("\n| table | rows read | rows changed | between | explained by a client seen |\n|---|---|---|---|---|\n")
			for _, t := range ev.Access {
				explained := "yes"
				if slices.ContainsFunc(ev.Unattributed, func(u engine.TableAccess) bool { return u.Table == t.Table }) {
					explained = "**no**"
				}
				fmt.Fprintf(b, "| %s | %d | %d | %s … %s | %s |\n", t.Table, t.Reads, t.Writes, when(t.From), when(t.To), explained)
			}
		}
	}
	for _, n := range ev.Notes {
		fmt.Fprintf(b, "- note: %s\n", n)
	}
	for _, p := range ev.Problems {
		fmt.Fprintf(b, "- incomplete: %s\n", p)
	}
	for _, a := range append(slices.Clone(ev.Acknowledged), derefAck(s.Acknowledgement)...) {
		fmt.Fprintf(b, "- %s acknowledged the evidence before the cut at %s %s%s\n", a.By, when(a.At), quoted(a.Note), proven(a.Verified))
	}
	for _, p := range ev.AttemptProblems {
		fmt.Fprintf(b, "- incomplete after the cut: %s\n", p)
	}
	if len(ev.Attempts) > 0 {
		b.WriteString("\nAttempts after the cut:\n\n| account | denied logins | refused statements | first | last | seen by |\n|---|---|---|---|---|---|\n")
		for _, at := range ev.Attempts {
			fmt.Fprintf(b, "| %s | %d | %d | %s | %s | %s |\n", at.Account, at.DeniedLogins, at.RefusedStatements, when(at.FirstSeen), when(at.LastSeen), at.Source)
		}
		for _, a := range ev.AttemptsAcked {
			fmt.Fprintf(b, "\n%s acknowledged the attempts counted by then at %s %s%s\n", a.By, when(a.At), quoted(a.Note), proven(a.Verified))
		}
		if a := ev.AttemptsAck; a != nil {
			fmt.Fprintf(b, "\n%s acknowledged %d attempt(s) at %s %s%s\n", a.By, ev.AckedCount, when(a.At), quoted(a.Note), proven(a.Verified))
		}
	}
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// proven says how a decision's author was proven: " — verified: SSH signature by SHA256:…",
// or in so many words that nothing proves it. Decisions of runs older than proofs say
// nothing.
func proven(v *proof.Verified) string {
	if v == nil {
		return ""
	}
	return " — " + v.Text()
}

func derefAck(a *Acknowledgement) []Acknowledgement {
	if a == nil {
		return nil
	}
	return []Acknowledgement{*a}
}
