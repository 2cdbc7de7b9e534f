package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dataretire/retire/workflows"
)

// output is the -o flag of the read commands: text for people, json for scripts.
type output string

const (
	outputText output = "text"
	outputJSON output = "json"
)

func (o *output) String() string { return string(*o) }
func (o *output) Type() string   { return "text|json" }
func (o *output) Set(s string) error {
	switch output(s) {
	case outputText, outputJSON:
		*o = output(s)
		return nil
	}
	return fmt.Errorf("output %q: use text or json", s)
}

func addOutputFlag(cmd *cobra.Command, o *output) {
	*o = outputText
	cmd.Flags().VarP(o, "output", "o", "text or json")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// stamp is the one time format of the CLI: minutes are precise enough for windows of days,
// and UTC avoids "whose 10:00?" between a DBA and owners in other time zones.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 MST")
}

// days prints windows the way the workflow's own details do: 14d, 35d 1h, 90m.
func days(d time.Duration) string { return workflows.DaysText(d) }

// bytesText and days print sizes and windows the way the workflow's own details do.
func bytesText(n int64) string { return workflows.BytesText(n) }

// thousands writes 120000 as 120,000: row counts are read, not parsed.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// plural picks the noun for n: "1 table", "3 tables".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
