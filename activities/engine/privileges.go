package engine

import (
	"fmt"
	"strings"
)

// MissingPrivilege is one privilege the retirement account lacks, and what for.
type MissingPrivilege struct {
	// Privilege names it as the engine spells it in GRANT, alternatives joined by " or "
	// ("CONNECTION ADMIN or SUPER").
	Privilege string `json:"privilege"`
	// On is where it is needed ("`shop`.*", "`mysql`.*"); empty for a global (system)
	// privilege or a role.
	On string `json:"on,omitempty"`
	// NeededFor says which phase needs it and why ("needed to drop it").
	NeededFor string `json:"needed_for"`
}

// String is e.g. "DROP on `shop`.* (needed to drop it)".
func (m MissingPrivilege) String() string {
	s := m.Privilege
	if m.On != "" {
		s += " on " + m.On
	}
	if m.NeededFor != "" {
		s += " (" + m.NeededFor + ")"
	}
	return s
}

// PrivilegeReport is what CheckPrivileges found.
type PrivilegeReport struct {
	// Account is the account the connection logs in as, as the server names it
	// ('retire'@'%', RETIRE).
	Account string `json:"account"`
	// Missing lists each privilege the account lacks, in phase order; empty when it has
	// everything that could be checked.
	Missing []MissingPrivilege `json:"missing,omitempty"`
}

// Err is nil when nothing is missing, else one refusal (ErrRefused) naming every missing
// privilege, e.g. "the retire account 'retire'@'%' lacks DROP on `shop`.* (needed to drop
// it), PROCESS (needed to see who connects)".
func (r PrivilegeReport) Err() error {
	if len(r.Missing) == 0 {
		return nil
	}
	parts := make([]string, len(r.Missing))
	for i, m := range r.Missing {
		parts[i] = m.String()
	}
	return fmt.Errorf("the retire account %s lacks %s; grant them (see deployments/grants-*.sql) and start the retirement again: %w",
		r.Account, strings.Join(parts, ", "), ErrRefused)
}

// FormatServerID joins the parts of a server's identity into one printable string that is
// safe inside a Temporal workflow id: "<engine>:<part>:<part>...". Every byte of a part
// other than ASCII letters, digits, '.', '_' and '-' is percent-encoded ("%3A" for ':',
// "%20" for a space), so the result holds no spaces or control characters, the separators
// stay unambiguous, and different parts never give the same id.
func FormatServerID(engine string, parts ...string) string {
	out := make([]string, 0, len(parts)+1)
	out = append(out, escapeIDPart(engine))
	for _, p := range parts {
		out = append(out, escapeIDPart(p))
	}
	return strings.Join(out, ":")
}

func escapeIDPart(s string) string {
	if s == "" {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_':
			b.WriteByte(c)
		case c == '-' && len(s) > 1:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
