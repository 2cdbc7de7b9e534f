package engine

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Usage evidence: who still reaches an object, and whether anybody read or wrote it at all.
// seeds/000: a one-time look only sees long connections; the SMS outage came from a client
// nobody knew about. So an engine offers three kinds of source, and says which it has:
//
//   - who: sessions that reach the object, whatever their default database (the processlist
//     joined to the metadata locks or table handles; gv$session), looked at again and again;
//   - whether: the server's own per-table access counters, read at the start and the end of
//     the window, so that any read or write shows as a delta however short the connection;
//   - the audit log, where the server writes one and the worker can read it: user, host,
//     table, time.
//
// After the cut, the same sources count who keeps trying: denied logins of locked accounts,
// statements refused on revoked grants, failures on the old names.

// EvidenceProber is implemented by adapters that can gather usage evidence. Every method
// takes a context with a deadline and holds no connection after it returns.
type EvidenceProber interface {
	// EvidenceSources probes, without changing anything, which sources the server and the
	// connection's account offer for object: available, off (and how to turn it on), or not
	// permitted (and which grant is missing).
	EvidenceSources(ctx context.Context, object string) ([]EvidenceSource, error)
	// EnableSource switches a dynamic source on (e.g. MariaDB's userstat) and returns the
	// setting as it was, for RestoreSetting. A source that is on already changes nothing
	// and returns a change with Before == After.
	EnableSource(ctx context.Context, source string) (SettingChange, error)
	// RestoreSetting puts a setting back as EnableSource found it. Idempotent.
	RestoreSetting(ctx context.Context, change SettingChange) error
	// LookServer is one look at every session of the server, in one round trip, so that one
	// poll per server and interval serves every retirement on it.
	LookServer(ctx context.Context) (ServerLook, error)
	// Reaching picks the sessions of a look that reach object, each with how it does.
	Reaching(look ServerLook, object string) []Session
	// Counters reads the access counters of object's tables and, for the accounts given,
	// their denied logins and refused statements (after the cut).
	Counters(ctx context.Context, object string, accounts []AccountRef) (Counters, error)
	// AuditEvents reads the server's audit log from cursor on and returns the events that
	// touch object or come from the accounts given, and the cursor to go on from. An empty
	// cursor starts at the end of the log as it is now (nothing before the window counts).
	AuditEvents(ctx context.Context, object string, accounts []AccountRef, cursor string) ([]AuditEvent, string, error)
}

// Evidence source names.
const (
	SourceSessions      = "sessions"       // processlist / gv$session: who is connected to it
	SourceLocks         = "metadata-locks" // sessions holding its tables open, whatever their default database
	SourceTableCounters = "table-counters" // per-table reads and writes (whether)
	SourceAttempts      = "attempts"       // denied logins and refused statements per account (after the cut)
	SourceAuditLog      = "audit-log"      // the server's audit log: user, host, table, time
)

// Evidence source states.
const (
	SourceAvailable    = "available"
	SourceOff          = "off"           // the server can, but it is switched off: Detail says how to turn it on
	SourceNotPermitted = "not-permitted" // the account lacks a grant: Detail names it
	SourceUnsupported  = "unsupported"   // this server cannot
)

// EvidenceSource is one source of usage evidence and whether it can be used.
type EvidenceSource struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Sees says in a few words what the source sees and what it misses.
	Sees string `json:"sees"`
	// Detail says how to turn it on, which grant is missing, or what it is read from.
	Detail string `json:"detail,omitempty"`
	// Dynamic is true when retire may switch it on for the window (EnableSource) if the
	// connection profile lets it.
	Dynamic bool `json:"dynamic,omitempty"`
	// Blind lists the failures after the cut this source cannot count (BlindLockedLogins,
	// BlindRenamed), so that the workflow knows when the attempts it counts are not all.
	Blind []string `json:"blind,omitempty"`
}

// What an attempts source may be blind to (EvidenceSource.Blind).
const (
	// BlindLockedLogins: logins of an account the cut locked (MariaDB's userstat counts none).
	BlindLockedLogins = "logins of locked accounts"
	// BlindRenamed: statements that fail on the old names after strategy rename.
	BlindRenamed = "statements on the renamed tables"
)

// Available says whether the source will be used.
func (s EvidenceSource) Available() bool { return s.State == SourceAvailable }

// SettingChange is a server setting that retire changed, as it was and as it made it.
type SettingChange struct {
	Source   string `json:"source"`
	Variable string `json:"variable"`
	Before   string `json:"before"`
	After    string `json:"after"`
	// Keeper is the setting keeper (workflow id) that holds it for the retirement and puts
	// it back when the last retirement on the server lets go; empty: the retirement does.
	Keeper string `json:"keeper,omitempty"`
}

// Changed says whether retire changed anything (and so must put it back).
func (c SettingChange) Changed() bool { return c.Before != c.After }

// ServerLook is one look at every session on a server.
type ServerLook struct {
	At       time.Time    `json:"at"`
	Sessions []SessionRow `json:"sessions"`
	// NameCase is how the server compares names (MySQL lower_case_table_names: 0 as
	// written, 1 or 2 case-insensitively), so that Reaching needs nothing but the look.
	NameCase int `json:"name_case,omitempty"`
	// CountersOff is true when the look saw the table counters switched off (MariaDB
	// userstat), so that a switch off and on again between two readings is not missed.
	CountersOff bool `json:"counters_off,omitempty"`
}

// SessionRow is one session as the server lists it, before it is matched to an object.
type SessionRow struct {
	ID      int64  `json:"id"`
	User    string `json:"user"`
	Host    string `json:"host"` // without the client port
	Program string `json:"program,omitempty"`
	// DB is the session's default database (schema), if any.
	DB      string `json:"db,omitempty"`
	Command string `json:"command,omitempty"`
	// Info is the statement it runs, if any (the engine matches qualified names in it).
	Info string `json:"info,omitempty"`
	// Locked are the tables it holds open or locked, as schema.table, whatever its DB.
	Locked []TableRef `json:"locked,omitempty"`
	// Container is the pluggable database the session is in (Oracle), if any.
	Container string `json:"container,omitempty"`
}

// TableRef is a table with its schema.
type TableRef struct {
	Schema string `json:"schema"`
	Table  string `json:"table"`
}

// AccountRef is an account as the engine names it (MySQL user@host; Oracle user, Host "").
type AccountRef struct {
	User string `json:"user"`
	Host string `json:"host,omitempty"`
}

// Ways a session reaches an object (Session.Via).
const (
	ViaDefaultDB = "default database" // its default database (schema) is the object
	ViaLock      = "holds its tables" // it holds the object's tables open or locked (metadata locks, table handles)
	ViaStatement = "qualified name"   // its statement names the object's tables as schema.table
	ViaAuditLog  = "audit log"        // the audit log shows it touching the object's tables
)

// Counters are the access counters of an object's tables at one moment.
type Counters struct {
	At time.Time `json:"at"`
	// Source names what they were read from, e.g. "information_schema.TABLE_STATISTICS".
	Source string `json:"source"`
	// Epoch changes when the counters restart (server restart, FLUSH, the source switched
	// off and on): deltas across two epochs are not complete.
	Epoch string `json:"epoch"`
	// On is false when the source was off when read (then Tables says nothing).
	On       bool             `json:"on"`
	Tables   []TableCounter   `json:"tables,omitempty"`
	Accounts []AccountCounter `json:"accounts,omitempty"`
}

// TableCounter is what the server counted for one table since its epoch.
type TableCounter struct {
	Table  string `json:"table"`
	Reads  int64  `json:"reads"`  // rows read
	Writes int64  `json:"writes"` // rows changed
}

// AccountCounter is what the server counted for one account since its epoch.
type AccountCounter struct {
	AccountRef
	DeniedLogins      int64 `json:"denied_logins"`      // refused connections (locked, wrong password, no grant left)
	RefusedStatements int64 `json:"refused_statements"` // statements refused for want of a privilege
}

// TableAccess is access the counters saw on one table over a span.
type TableAccess struct {
	Table  string    `json:"table"`
	Reads  int64     `json:"reads"`
	Writes int64     `json:"writes"`
	From   time.Time `json:"from"` // the first reading that showed it had changed (or the span's start)
	To     time.Time `json:"to"`   // the reading that showed it last changed
}

// AccessBetween is what changed between two readings of the same epoch, table by table,
// sorted by table; ok is false when the readings cannot be compared (another epoch, a
// source off, a counter that went down, a table whose counts vanished).
func AccessBetween(from, to Counters) (access []TableAccess, ok bool) {
	if !from.On || !to.On || from.Epoch != to.Epoch || from.Source != to.Source {
		return nil, false
	}
	before := map[string]TableCounter{}
	for _, t := range from.Tables {
		before[t.Table] = t
	}
	after := map[string]bool{}
	for _, t := range to.Tables {
		after[t.Table] = true
	}
	for _, t := range from.Tables {
		if !after[t.Table] && (t.Reads > 0 || t.Writes > 0) {
			return nil, false // its counts were flushed away
		}
	}
	for _, t := range to.Tables {
		b := before[t.Table]
		dr, dw := t.Reads-b.Reads, t.Writes-b.Writes
		if dr < 0 || dw < 0 {
			return nil, false
		}
		if dr > 0 || dw > 0 {
			access = append(access, TableAccess{Table: t.Table, Reads: dr, Writes: dw, From: from.At, To: to.At})
		}
	}
	slices.SortFunc(access, func(a, b TableAccess) int { return strings.Compare(a.Table, b.Table) })
	return access, true
}

// AuditEvent is one line of an audit log that touches the object or comes from an account
// that lost access.
type AuditEvent struct {
	At    time.Time `json:"at"`
	User  string    `json:"user"`
	Host  string    `json:"host"`
	Op    string    `json:"op"` // READ, WRITE, CONNECT, FAILED_CONNECT, QUERY, ...
	DB    string    `json:"db,omitempty"`
	Table string    `json:"table,omitempty"`
	// Code is the server's error code of the operation, 0 when it succeeded.
	Code int `json:"code,omitempty"`
}

// Span is a stretch of time in which a sampler looked without a gap longer than its
// tolerance: the time it can vouch for.
type Span struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// MergeSpans sorts spans and joins those that overlap or touch.
func MergeSpans(spans []Span) []Span {
	out := slices.Clone(spans)
	slices.SortFunc(out, func(a, b Span) int { return a.From.Compare(b.From) })
	merged := out[:0]
	for _, s := range out {
		if !s.To.After(s.From) {
			continue
		}
		if n := len(merged); n > 0 && !s.From.After(merged[n-1].To) {
			if s.To.After(merged[n-1].To) {
				merged[n-1].To = s.To
			}
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// Coverage is how much of [from, to] the spans cover, and the gaps in which nobody looked.
func Coverage(spans []Span, from, to time.Time) (covered time.Duration, gaps []Span) {
	at := from
	for _, s := range MergeSpans(spans) {
		if !s.To.After(from) || !s.From.Before(to) {
			continue
		}
		start, end := maxTime(s.From, from), minTime(s.To, to)
		if start.After(at) {
			gaps = append(gaps, Span{From: at, To: start})
		}
		covered += end.Sub(start)
		at = maxTime(at, end)
	}
	if to.After(at) {
		gaps = append(gaps, Span{From: at, To: to})
	}
	return covered, gaps
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
