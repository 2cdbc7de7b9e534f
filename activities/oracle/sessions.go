package oracle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

const (
	// qSessions are the clients logged in as the schema or working in it (ALTER SESSION SET
	// CURRENT_SCHEMA), on every RAC instance, except this session.
	qSessions = `SELECT inst_id, sid, serial#, username, schemaname, machine, program, osuser, logon_time FROM gv$session
WHERE type = 'USER' AND (username = :1 OR schemaname = :2)
AND NOT (inst_id = SYS_CONTEXT('USERENV', 'INSTANCE') AND sid = SYS_CONTEXT('USERENV', 'SID'))
ORDER BY inst_id, sid`
	qPDBSessions = `SELECT inst_id, sid, serial#, username, schemaname, machine, program, osuser, logon_time FROM gv$session
WHERE type = 'USER' AND con_id = :1
AND NOT (inst_id = SYS_CONTEXT('USERENV', 'INSTANCE') AND sid = SYS_CONTEXT('USERENV', 'SID'))
ORDER BY inst_id, sid`
	// qASH catches sessions too short for a look at gv$session: those of the schema's user and
	// those of anyone touching its objects, since the last look. Ages are computed by the
	// server (seconds before now) so that clocks need not agree.
	qASH = `SELECT a.inst_id, a.session_id, a.session_serial#, u.username, a.machine, a.program,
ROUND((CAST(SYSTIMESTAMP AS DATE) - CAST(MIN(a.sample_time) AS DATE)) * 86400),
ROUND((CAST(SYSTIMESTAMP AS DATE) - CAST(MAX(a.sample_time) AS DATE)) * 86400)
FROM gv$active_session_history a JOIN dba_users u ON u.user_id = a.user_id
WHERE a.sample_time > CAST(SYSTIMESTAMP AS TIMESTAMP) - NUMTODSINTERVAL(:1, 'SECOND') AND a.session_type = 'FOREGROUND'
AND (u.username = :2 OR a.current_obj# IN (SELECT object_id FROM dba_objects WHERE owner = :3))
GROUP BY a.inst_id, a.session_id, a.session_serial#, u.username, a.machine, a.program`
	qPDBASH = `SELECT a.inst_id, a.session_id, a.session_serial#, NVL(u.username, TO_CHAR(a.user_id)), a.machine, a.program,
ROUND((CAST(SYSTIMESTAMP AS DATE) - CAST(MIN(a.sample_time) AS DATE)) * 86400),
ROUND((CAST(SYSTIMESTAMP AS DATE) - CAST(MAX(a.sample_time) AS DATE)) * 86400)
FROM gv$active_session_history a LEFT JOIN cdb_users u ON u.user_id = a.user_id AND u.con_id = a.con_id
WHERE a.sample_time > CAST(SYSTIMESTAMP AS TIMESTAMP) - NUMTODSINTERVAL(:1, 'SECOND') AND a.session_type = 'FOREGROUND' AND a.con_id = :2
GROUP BY a.inst_id, a.session_id, a.session_serial#, NVL(u.username, TO_CHAR(a.user_id)), a.machine, a.program`
	qUnifiedAuditing = `SELECT value FROM v$option WHERE parameter = 'Unified Auditing'`
	// qAuditLogons are logons (failed ones too: a client retrying a locked account is a client)
	// recorded by unified auditing since the last look.
	qAuditLogons = `SELECT sessionid, dbusername, userhost, client_program_name,
ROUND((CAST(SYS_EXTRACT_UTC(SYSTIMESTAMP) AS DATE) - CAST(SYS_EXTRACT_UTC(CAST(event_timestamp AS TIMESTAMP WITH TIME ZONE)) AS DATE)) * 86400)
FROM unified_audit_trail
WHERE action_name = 'LOGON' AND dbusername = :1 AND event_timestamp > SYSTIMESTAMP - NUMTODSINTERVAL(:2, 'SECOND')
ORDER BY event_timestamp`
)

// sessionRow is one gv$session row.
type sessionRow struct {
	inst, sid, serial int64
	user, machine     string
	program           string
}

// id is unique per (inst_id, sid, serial#): a sid is reused, the serial# tells reuses apart.
func (s sessionRow) id() int64 { return s.inst<<48 | s.sid<<24 | s.serial&0xFFFFFF }

func (a *Adapter) sessionRows(ctx context.Context, c conn, t target) ([]sessionRow, error) {
	query, args := qSessions, []any{t.name, t.name}
	if t.isPDB {
		p, err := a.lookupPDB(ctx, c, t.name)
		if err != nil || p == nil {
			return nil, err
		}
		query, args = qPDBSessions, []any{p.conID}
	}
	var out []sessionRow
	err := a.each(ctx, c, query, args, func(r []any) error {
		var s sessionRow
		var err error
		for i, p := range []*int64{&s.inst, &s.sid, &s.serial} {
			if *p, err = num(r[i]); err != nil {
				return err
			}
		}
		s.user = str(r[3])
		if s.user == "" {
			s.user = str(r[4])
		}
		s.machine, s.program = str(r[5]), str(r[6])
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read gv$session for %s: %w", t, err)
	}
	return out, nil
}

// Sessions is one look at the clients of the object: gv$session on every instance with the
// objects each session holds (LookServer, Reaching), and, when allowed, ASH and the unified
// audit trail since the previous look.
func (a *Adapter) Sessions(ctx context.Context, object string) ([]engine.Session, error) {
	t, err := parseTarget(object)
	if err != nil {
		return nil, err
	}
	c, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return a.look(ctx, c, t)
}

func (a *Adapter) look(ctx context.Context, c conn, t target) ([]engine.Session, error) {
	now := time.Now().UTC()
	since := a.sinceLastLook(t, now)
	sl, err := a.lookServer(ctx, c, now)
	if err != nil {
		return nil, fmt.Errorf("read gv$session for %s: %w", t, err)
	}
	out := a.Reaching(sl, t.String())
	if a.cfg.DiagnosticsPack {
		h, err := a.ashSessions(ctx, c, t, since, now)
		if err != nil {
			return nil, err
		}
		out = append(out, h...)
	}
	if !t.isPDB {
		on, err := a.unifiedAuditing(ctx, c)
		if err != nil {
			return nil, err
		}
		if on {
			h, err := a.auditLogons(ctx, c, t, since, now)
			if err != nil {
				return nil, err
			}
			out = append(out, h...)
		}
	}
	a.mu.Lock()
	a.lastLook[t.String()] = now
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y engine.Session) int { return strings.Compare(x.Key(), y.Key()) })
	return out, nil
}

// sinceLastLook is how far back the history views are read: since the previous look (a
// second of overlap, ids dedupe), or historyLookback for the first look.
func (a *Adapter) sinceLastLook(t target, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	last, ok := a.lastLook[t.String()]
	if !ok {
		return historyLookback
	}
	return now.Sub(last) + time.Second
}

func seconds(d time.Duration) int64 { return int64(d/time.Second) + 1 }

func (a *Adapter) ashSessions(ctx context.Context, c conn, t target, since time.Duration, now time.Time) ([]engine.Session, error) {
	query, args := qASH, []any{seconds(since), t.name, t.name}
	if t.isPDB {
		p, err := a.lookupPDB(ctx, c, t.name)
		if err != nil || p == nil {
			return nil, err
		}
		query, args = qPDBASH, []any{seconds(since), p.conID}
	}
	var out []engine.Session
	err := a.each(ctx, c, query, args, func(r []any) error {
		var s sessionRow
		var first, last int64
		var err error
		for i, p := range []*int64{&s.inst, &s.sid, &s.serial} {
			if *p, err = num(r[i]); err != nil {
				return err
			}
		}
		if first, err = num(r[6]); err != nil {
			return err
		}
		if last, err = num(r[7]); err != nil {
			return err
		}
		out = append(out, engine.Session{User: str(r[3]), Host: str(r[4]), Program: str(r[5]),
			FirstSeen: now.Add(-time.Duration(first) * time.Second), LastSeen: now.Add(-time.Duration(last) * time.Second),
			Count: 1, ID: s.id()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read gv$active_session_history for %s: %w", t, err)
	}
	return out, nil
}

// unifiedAuditing says, once per adapter, whether the unified audit trail can be read.
func (a *Adapter) unifiedAuditing(ctx context.Context, c conn) (bool, error) {
	a.mu.Lock()
	known := a.auditOn
	a.mu.Unlock()
	if known != nil {
		return *known, nil
	}
	v, err := a.strings1(ctx, c, qUnifiedAuditing)
	if err != nil {
		return false, fmt.Errorf("read v$option: %w", err)
	}
	on := len(v) > 0 && v[0] == "TRUE"
	a.mu.Lock()
	a.auditOn = &on
	a.mu.Unlock()
	return on, nil
}

// auditLogons are logon records. Their ids are negative audit session ids: a logon record
// and the gv$session row of the same connection cannot be matched, so they count apart.
func (a *Adapter) auditLogons(ctx context.Context, c conn, t target, since time.Duration, now time.Time) ([]engine.Session, error) {
	var out []engine.Session
	err := a.each(ctx, c, qAuditLogons, []any{t.name, seconds(since)}, func(r []any) error {
		id, err := num(r[0])
		if err != nil {
			return err
		}
		age, err := num(r[4])
		if err != nil {
			return err
		}
		at := now.Add(-time.Duration(age) * time.Second)
		out = append(out, engine.Session{User: str(r[1]), Host: str(r[2]), Program: str(r[3]),
			FirstSeen: at, LastSeen: at, Count: 1, ID: -id - 1})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read unified_audit_trail for %s: %w", t, err)
	}
	return out, nil
}

// killSessions kills the object's sessions on every instance. A session that ended on its
// own meanwhile counts as done.
func (a *Adapter) killSessions(ctx context.Context, c conn, t target) (int, error) {
	rows, err := a.sessionRows(ctx, c, t)
	if err != nil {
		return 0, err
	}
	killed := 0
	for _, s := range rows {
		err := a.exec(ctx, c, fmt.Sprintf("ALTER SYSTEM KILL SESSION '%d,%d,@%d' IMMEDIATE", s.sid, s.serial, s.inst))
		if isCode(err, oraSessionGone) {
			continue
		}
		if err != nil && !isCode(err, oraSessionMarked) {
			return killed, fmt.Errorf("kill session %d,%d on instance %d: %w", s.sid, s.serial, s.inst, err)
		}
		killed++
	}
	return killed, nil
}
