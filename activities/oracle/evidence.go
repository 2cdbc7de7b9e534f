package oracle

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// Usage evidence (engine.EvidenceProber). Every source is read from Oracle's own views; none
// is switched on by retire (Oracle's auditing and statistics are a DBA's settings), and none
// of these statements reads the object's tables, so retire's own readings never show in the
// counters they read.
var _ engine.EvidenceProber = (*Adapter)(nil)

const (
	// qLookServer is one look at every client session of the server (of the container the
	// connection is in: every container from CDB$ROOT), with the objects each one holds:
	// DML locks (gv$locked_object) and the library-cache locks of the statements it runs
	// (gv$access), owned by users Oracle does not maintain. Background processes and this
	// session are left out. One round trip; a session holding nothing is one row with NULLs.
	qLookServer = `SELECT s.inst_id, s.sid, s.serial#, s.username, s.schemaname, s.machine, s.program, s.status, s.sql_id, c.name, o.owner, o.name
FROM gv$session s
LEFT JOIN v$containers c ON c.con_id = s.con_id
LEFT JOIN (SELECT x.inst_id, x.sid, x.owner, x.name FROM (
  SELECT l.inst_id, l.session_id sid, d.owner, d.object_name name FROM gv$locked_object l JOIN dba_objects d ON d.object_id = l.object_id
  WHERE l.con_id = TO_NUMBER(SYS_CONTEXT('USERENV', 'CON_ID'))
  UNION
  SELECT a.inst_id, a.sid, a.owner, a.object FROM gv$access a
  WHERE a.con_id = TO_NUMBER(SYS_CONTEXT('USERENV', 'CON_ID'))
  AND a.type IN ('TABLE', 'VIEW', 'SYNONYM', 'SEQUENCE', 'PACKAGE', 'PROCEDURE', 'FUNCTION', 'TYPE', 'MATERIALIZED VIEW')
) x WHERE x.owner IN (SELECT username FROM dba_users WHERE oracle_maintained = 'N')) o ON o.inst_id = s.inst_id AND o.sid = s.sid
WHERE s.type = 'USER' AND NOT (s.inst_id = SYS_CONTEXT('USERENV', 'INSTANCE') AND s.sid = SYS_CONTEXT('USERENV', 'SID'))
ORDER BY s.inst_id, s.sid, o.owner, o.name`
	// qLookSessions is qLookServer without the objects, for an account that may not read
	// gv$locked_object or gv$access (sampling then sees what it saw before them).
	qLookSessions = `SELECT s.inst_id, s.sid, s.serial#, s.username, s.schemaname, s.machine, s.program, s.status, s.sql_id, c.name, NULL, NULL
FROM gv$session s
LEFT JOIN v$containers c ON c.con_id = s.con_id
WHERE s.type = 'USER' AND NOT (s.inst_id = SYS_CONTEXT('USERENV', 'INSTANCE') AND s.sid = SYS_CONTEXT('USERENV', 'SID'))
ORDER BY s.inst_id, s.sid`

	// Probes: Oracle resolves every view a statement names when it parses it, and answers
	// ORA-00942 for a view the account may not read; WHERE 1 = 0 reads no row.
	qProbeSessions    = `SELECT 1 FROM gv$session, v$containers WHERE 1 = 0`
	qProbeLocks       = `SELECT 1 FROM gv$locked_object, gv$access, dba_objects, dba_users WHERE 1 = 0`
	qProbeCounters    = `SELECT 1 FROM gv$segment_statistics, gv$instance, gv$pdbs, dba_indexes, dba_lobs WHERE 1 = 0`
	qPDBProbeCounters = `SELECT 1 FROM gv$segment_statistics, gv$instance, gv$pdbs, cdb_users, cdb_indexes, cdb_lobs WHERE 1 = 0`
	qProbeUnified     = `SELECT 1 FROM unified_audit_trail WHERE 1 = 0`
	// qParameters: statistics_level BASIC stops segment statistics; audit_trail says where
	// traditional auditing writes (DB, DB, EXTENDED: dba_audit_trail; OS, XML: files; NONE).
	qParameters = `SELECT name, value FROM v$parameter WHERE name IN ('audit_trail', 'statistics_level') ORDER BY name`
	// qAuditPolicies are the enabled unified audit policies that record failed logons
	// (LOGON) and those on the schema's objects (OBJECT).
	qAuditPolicies = `SELECT DISTINCT p.policy_name, CASE WHEN p.audit_option_type = 'OBJECT ACTION' THEN 'OBJECT' ELSE 'LOGON' END
FROM audit_unified_policies p JOIN audit_unified_enabled_policies e ON e.policy_name = p.policy_name
WHERE (p.audit_option IN ('LOGON', 'ALL') AND p.audit_option_type = 'STANDARD ACTION' AND e.failure = 'YES')
OR (p.audit_option_type = 'OBJECT ACTION' AND p.object_schema = :1)
ORDER BY 1, 2`
	// qTraditionalAudit: whether traditional auditing records failed logons (AUDIT SESSION
	// WHENEVER NOT SUCCESSFUL) and statements on the schema's objects, and whether
	// dba_audit_trail is readable (the third count is always 0).
	qTraditionalAudit = `SELECT (SELECT COUNT(*) FROM dba_stmt_audit_opts WHERE audit_option = 'CREATE SESSION' AND failure <> 'NOT SET'),
(SELECT COUNT(*) FROM dba_obj_audit_opts WHERE owner = :1 AND (sel <> '-/-' OR ins <> '-/-' OR upd <> '-/-' OR del <> '-/-')),
(SELECT COUNT(*) FROM dba_audit_trail WHERE 1 = 0) FROM dual`

	// qEpoch is when the counters started: each instance's startup, and, in a PDB, when the
	// container was opened there (segment statistics live in the instance's memory).
	qEpoch = `SELECT i.inst_id, TO_CHAR(i.startup_time, 'YYYY-MM-DD"T"HH24:MI:SS'), p.open_mode, TO_CHAR(p.open_time, 'YYYY-MM-DD"T"HH24:MI:SS.FF3TZH:TZM')
FROM gv$instance i LEFT JOIN gv$pdbs p ON p.inst_id = i.inst_id AND p.con_id = TO_NUMBER(SYS_CONTEXT('USERENV', 'CON_ID'))
ORDER BY i.inst_id`
	qPDBEpoch = `SELECT i.inst_id, TO_CHAR(i.startup_time, 'YYYY-MM-DD"T"HH24:MI:SS'), p.open_mode, TO_CHAR(p.open_time, 'YYYY-MM-DD"T"HH24:MI:SS.FF3TZH:TZM')
FROM gv$instance i LEFT JOIN gv$pdbs p ON p.inst_id = i.inst_id AND p.con_id = :1
ORDER BY i.inst_id`
	// qSegmentCounters are the logical reads and block changes of the schema's tables since
	// each instance started, summed over instances, partitions, and the table's own indexes
	// (an index-only plan never touches the table segment) and LOB segments. Dropped tables
	// (recycle bin) are left out.
	qSegmentCounters = `SELECT NVL(NVL(i.table_name, l.table_name), s.object_name),
SUM(DECODE(s.statistic_name, 'logical reads', s.value, 0)), SUM(DECODE(s.statistic_name, 'db block changes', s.value, 0))
FROM gv$segment_statistics s
LEFT JOIN dba_indexes i ON s.object_type LIKE 'INDEX%' AND i.owner = s.owner AND i.index_name = s.object_name AND i.table_owner = s.owner
LEFT JOIN dba_lobs l ON s.object_type LIKE 'LOB%' AND l.owner = s.owner AND l.segment_name = s.object_name
WHERE s.owner = :1 AND s.statistic_name IN ('logical reads', 'db block changes') AND s.object_name NOT LIKE 'BIN$%'
AND (s.object_type LIKE 'TABLE%' OR (s.object_type LIKE 'INDEX%' AND i.table_name IS NOT NULL) OR (s.object_type LIKE 'LOB%' AND l.table_name IS NOT NULL))
GROUP BY NVL(NVL(i.table_name, l.table_name), s.object_name)
ORDER BY 1`
	// qPDBSegmentCounters is qSegmentCounters for every schema of a PDB that Oracle does not
	// maintain, read from CDB$ROOT by container id.
	qPDBSegmentCounters = `SELECT s.owner, NVL(NVL(i.table_name, l.table_name), s.object_name),
SUM(DECODE(s.statistic_name, 'logical reads', s.value, 0)), SUM(DECODE(s.statistic_name, 'db block changes', s.value, 0))
FROM gv$segment_statistics s
LEFT JOIN cdb_indexes i ON s.object_type LIKE 'INDEX%' AND i.con_id = s.con_id AND i.owner = s.owner AND i.index_name = s.object_name AND i.table_owner = s.owner
LEFT JOIN cdb_lobs l ON s.object_type LIKE 'LOB%' AND l.con_id = s.con_id AND l.owner = s.owner AND l.segment_name = s.object_name
WHERE s.con_id = :1 AND s.statistic_name IN ('logical reads', 'db block changes') AND s.object_name NOT LIKE 'BIN$%'
AND s.owner IN (SELECT u.username FROM cdb_users u WHERE u.con_id = :2 AND u.oracle_maintained = 'N')
AND (s.object_type LIKE 'TABLE%' OR (s.object_type LIKE 'INDEX%' AND i.table_name IS NOT NULL) OR (s.object_type LIKE 'LOB%' AND l.table_name IS NOT NULL))
GROUP BY s.owner, NVL(NVL(i.table_name, l.table_name), s.object_name)
ORDER BY 1, 2`

	// The attempt counters count, per account, failed logons (ORA-01017 wrong password or no
	// such user, ORA-28000 account locked) and statements on the schema's objects refused
	// for want of a privilege (ORA-01031, and ORA-00942, which Oracle answers when the
	// account holds no privilege on the object at all), since the earliest instance startup
	// (a fixed point of the epoch). %s is the accounts' placeholders, from :2.
	qUnifiedAttempts = `SELECT dbusername,
SUM(CASE WHEN action_name = 'LOGON' AND return_code IN (1017, 28000) THEN 1 ELSE 0 END),
SUM(CASE WHEN action_name <> 'LOGON' AND return_code IN (1031, 942) AND object_schema = :1 THEN 1 ELSE 0 END)
FROM unified_audit_trail
WHERE event_timestamp >= (SELECT FROM_TZ(CAST(MIN(startup_time) AS TIMESTAMP), TO_CHAR(SYSTIMESTAMP, 'TZH:TZM')) FROM gv$instance)
AND return_code IN (1017, 28000, 1031, 942) AND dbusername IN (%s)
GROUP BY dbusername`
	qTraditionalAttempts = `SELECT username,
SUM(CASE WHEN action_name = 'LOGON' AND returncode IN (1017, 28000) THEN 1 ELSE 0 END),
SUM(CASE WHEN action_name <> 'LOGON' AND returncode IN (1031, 942) AND owner = :1 THEN 1 ELSE 0 END)
FROM dba_audit_trail
WHERE extended_timestamp >= (SELECT FROM_TZ(CAST(MIN(startup_time) AS TIMESTAMP), TO_CHAR(SYSTIMESTAMP, 'TZH:TZM')) FROM gv$instance)
AND returncode IN (1017, 28000, 1031, 942) AND username IN (%s)
GROUP BY username`

	// qAuditNow is where an empty cursor starts: the server's clock, in UTC.
	qAuditNow = `SELECT TO_CHAR(SYS_EXTRACT_UTC(SYSTIMESTAMP), 'YYYY-MM-DD"T"HH24:MI:SS.FF6') FROM dual`
	// The audit events after a cursor position (:1..:5: timestamp, timestamp, session id,
	// session id, entry id) that touch the schema's objects (:6) or, failed, come from the
	// accounts (the second %s, from :7; empty without accounts), in trail order, at most
	// auditBatch of them, and at least auditSettle old (a record is written when its
	// statement ends, so a younger position could still be filled behind the cursor).
	// retire's own account is left out: its archive reads the tables.
	qUnifiedEvents = `SELECT TO_CHAR(SYS_EXTRACT_UTC(CAST(event_timestamp AS TIMESTAMP WITH TIME ZONE)), 'YYYY-MM-DD"T"HH24:MI:SS.FF6'), sessionid, entry_id,
dbusername, userhost, action_name, object_schema, object_name, return_code
FROM unified_audit_trail
WHERE (event_timestamp > FROM_TZ(TO_TIMESTAMP(:1, 'YYYY-MM-DD"T"HH24:MI:SS.FF6'), 'UTC')
OR (event_timestamp = FROM_TZ(TO_TIMESTAMP(:2, 'YYYY-MM-DD"T"HH24:MI:SS.FF6'), 'UTC') AND (sessionid > :3 OR (sessionid = :4 AND entry_id > :5))))
AND event_timestamp <= SYSTIMESTAMP - INTERVAL '5' SECOND
AND dbusername <> SYS_CONTEXT('USERENV', 'SESSION_USER')
AND (object_schema = :6%s)
ORDER BY event_timestamp, sessionid, entry_id
FETCH FIRST 500 ROWS ONLY`
	qTraditionalEvents = `SELECT TO_CHAR(SYS_EXTRACT_UTC(extended_timestamp), 'YYYY-MM-DD"T"HH24:MI:SS.FF6'), sessionid, entryid,
username, userhost, action_name, owner, obj_name, returncode
FROM dba_audit_trail
WHERE (extended_timestamp > FROM_TZ(TO_TIMESTAMP(:1, 'YYYY-MM-DD"T"HH24:MI:SS.FF6'), 'UTC')
OR (extended_timestamp = FROM_TZ(TO_TIMESTAMP(:2, 'YYYY-MM-DD"T"HH24:MI:SS.FF6'), 'UTC') AND (sessionid > :3 OR (sessionid = :4 AND entryid > :5))))
AND extended_timestamp <= SYSTIMESTAMP - INTERVAL '5' SECOND
AND username <> SYS_CONTEXT('USERENV', 'SESSION_USER')
AND (owner = :6%s)
ORDER BY extended_timestamp, sessionid, entryid
FETCH FIRST 500 ROWS ONLY`
	// qEventAccounts is the second %s of the event statements.
	qEventAccounts = ` OR (%s <> 0 AND %s IN (%s))`
)

const (
	// auditBatch bounds the events one AuditEvents call reads per trail (FETCH FIRST above).
	auditBatch = 500
	// accountBatch bounds the accounts one attempt-counting statement names.
	accountBatch = 100
	// auditTimeLayout is how the statements print and parse audit timestamps (UTC).
	auditTimeLayout = "2006-01-02T15:04:05.000000"

	// countersSource is what Counters reads.
	countersSource = "gv$segment_statistics"

	trailUnified     = "unified"
	trailTraditional = "traditional"
)

// Error codes that say the account may not read a view.
var oraNotReadable = []int{oraNoTable, 1031}

// placeholders are ":from, :from+1, ..." for n binds.
func placeholders(from, n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = ":" + strconv.Itoa(from+i)
	}
	return strings.Join(p, ", ")
}

func attemptsStatement(trail string, n int) string {
	if trail == trailTraditional {
		return fmt.Sprintf(qTraditionalAttempts, placeholders(2, n))
	}
	return fmt.Sprintf(qUnifiedAttempts, placeholders(2, n))
}

func eventsStatement(trail string, n int) string {
	tmpl, code, user := qUnifiedEvents, "return_code", "dbusername"
	if trail == trailTraditional {
		tmpl, code, user = qTraditionalEvents, "returncode", "username"
	}
	accounts := ""
	if n > 0 {
		accounts = fmt.Sprintf(qEventAccounts, code, user, placeholders(7, n))
	}
	return fmt.Sprintf(tmpl, accounts)
}

// grantee is how Detail names the retire account in the GRANT it suggests.
func (a *Adapter) me() string {
	if a.cfg.User == "" {
		return "<the retire account>"
	}
	return strings.ToUpper(a.cfg.User)
}

// readable runs a probe: nil error when the views are readable, notPermitted when not.
func (a *Adapter) readable(ctx context.Context, c conn, probe string, args ...any) (bool, error) {
	err := a.each(ctx, c, probe, args, func([]any) error { return nil })
	if isCode(err, oraNotReadable...) {
		return false, nil
	}
	return err == nil, err
}

// parameters reads statistics_level and audit_trail (upper case); nil when v$parameter
// may not be read.
func (a *Adapter) parameters(ctx context.Context, c conn) (map[string]string, error) {
	out := map[string]string{}
	err := a.each(ctx, c, qParameters, nil, func(r []any) error {
		out[str(r[0])] = strings.ToUpper(strings.TrimSpace(str(r[1])))
		return nil
	})
	if isCode(err, oraNotReadable...) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read v$parameter: %w", err)
	}
	return out, nil
}

// auditSetup is what Oracle's auditing records about a schema, and what of it retire may read.
type auditSetup struct {
	pure           bool // unified auditing only (v$option): traditional settings are ignored
	unifiedDenied  bool // unified_audit_trail or the policy views are not readable
	logonPolicies  []string
	objectPolicies []string
	trail          string // audit_trail, upper case; "" when unknown
	tradDenied     bool   // dba_audit_trail or the audit option views are not readable
	tradLogon      bool   // AUDIT SESSION WHENEVER NOT SUCCESSFUL (or always)
	tradObjects    bool   // object audit options on the schema's objects
}

// traditional says whether traditional auditing writes to the database at all.
func (s auditSetup) traditional() bool {
	return !s.pure && strings.HasPrefix(s.trail, "DB")
}

// logonTrail is where failed logons are read from: the unified trail when a policy records
// them, else the traditional one when AUDIT SESSION does; "" when neither. One trail only,
// so that a logon both record counts once.
func (s auditSetup) logonTrail() string {
	switch {
	case !s.unifiedDenied && len(s.logonPolicies) > 0:
		return trailUnified
	case s.traditional() && !s.tradDenied && s.tradLogon:
		return trailTraditional
	}
	return ""
}

// objectTrail is where statements on the schema's objects are read from, likewise.
func (s auditSetup) objectTrail() string {
	switch {
	case !s.unifiedDenied && len(s.objectPolicies) > 0:
		return trailUnified
	case s.traditional() && !s.tradDenied && s.tradObjects:
		return trailTraditional
	}
	return ""
}

// trails are the trails in use, unified first.
func (s auditSetup) trails() []string {
	var out []string
	for _, t := range []string{trailUnified, trailTraditional} {
		if s.logonTrail() == t || s.objectTrail() == t {
			out = append(out, t)
		}
	}
	return out
}

func (a *Adapter) auditSetup(ctx context.Context, c conn, owner string, params map[string]string) (auditSetup, error) {
	var s auditSetup
	pure, err := a.unifiedAuditing(ctx, c)
	if err != nil && !isCode(err, oraNotReadable...) {
		return s, err
	}
	s.pure = pure // v$option unreadable: taken as mixed mode, where both trails may be written
	s.trail = params["audit_trail"]
	ok, err := a.readable(ctx, c, qProbeUnified)
	if err != nil {
		return s, fmt.Errorf("probe unified_audit_trail: %w", err)
	}
	s.unifiedDenied = !ok
	if ok {
		err := a.each(ctx, c, qAuditPolicies, []any{owner}, func(r []any) error {
			if str(r[1]) == "OBJECT" {
				s.objectPolicies = append(s.objectPolicies, str(r[0]))
			} else {
				s.logonPolicies = append(s.logonPolicies, str(r[0]))
			}
			return nil
		})
		if isCode(err, oraNotReadable...) {
			s.unifiedDenied = true
		} else if err != nil {
			return s, fmt.Errorf("read the enabled unified audit policies: %w", err)
		}
	}
	if s.traditional() {
		r, err := a.first(ctx, c, qTraditionalAudit, owner)
		switch {
		case isCode(err, oraNotReadable...):
			s.tradDenied = true
		case err != nil:
			return s, fmt.Errorf("read the traditional audit options: %w", err)
		case r != nil:
			logon, err := num(r[0])
			if err != nil {
				return s, err
			}
			objects, err := num(r[1])
			if err != nil {
				return s, err
			}
			s.tradLogon, s.tradObjects = logon > 0, objects > 0
		}
	}
	return s, nil
}

// EvidenceSources probes, changing nothing, what the server records about object and what
// of it this account may read. A schema is watched through gv$session and the objects
// sessions hold, counted through segment statistics, and its attempts and accesses read from
// the audit trails; a PDB through its sessions and its segment statistics (a closed PDB
// cannot be tried, and its audit trail is not read from CDB$ROOT).
func (a *Adapter) EvidenceSources(ctx context.Context, object string) ([]engine.EvidenceSource, error) {
	t, err := parseTarget(object)
	if err != nil {
		return nil, err
	}
	c, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := a.mustExist(ctx, c, t); err != nil {
		return nil, err
	}
	me := a.me()
	var out []engine.EvidenceSource

	// sessions
	ok, err := a.readable(ctx, c, qProbeSessions)
	if err != nil {
		return nil, fmt.Errorf("probe gv$session: %w", err)
	}
	src := engine.EvidenceSource{Name: engine.SourceSessions, State: engine.SourceAvailable, Detail: "read from gv$session at every look"}
	if t.isPDB {
		src.Sees = "every session in " + t.name + ", on every RAC instance, at each look; misses connections shorter than the pause between looks"
	} else {
		src.Sees = "sessions logged in as " + t.name + " or working in it (ALTER SESSION SET CURRENT_SCHEMA), on every RAC instance, at each look; " +
			"misses connections shorter than the pause between looks, and other accounts' sessions using its objects (metadata-locks sees those)"
	}
	if a.cfg.DiagnosticsPack {
		src.Sees += "; with the Diagnostics Pack, ASH (gv$active_session_history) adds the sessions active since the previous look"
	}
	if !ok {
		src.State, src.Detail = engine.SourceNotPermitted, fmt.Sprintf("GRANT SELECT ON SYS.GV_$SESSION TO %s; GRANT SELECT ON SYS.V_$CONTAINERS TO %s (or GRANT SELECT_CATALOG_ROLE TO %s)", me, me, me)
	}
	out = append(out, src)

	// metadata-locks
	src = engine.EvidenceSource{Name: engine.SourceLocks}
	if t.isPDB {
		src.State, src.Sees = engine.SourceUnsupported, "a session reaches a pluggable database by being in it: sessions sees every one"
		src.Detail = "nothing to read beyond gv$session"
	} else {
		ok, err := a.readable(ctx, c, qProbeLocks)
		if err != nil {
			return nil, fmt.Errorf("probe gv$locked_object and gv$access: %w", err)
		}
		src.Sees = "sessions of any account holding " + t.name + "'s objects at a look: row locks of open transactions (gv$locked_object) and the objects " +
			"their running statements hold in the library cache (gv$access); misses statements that ran and ended between looks"
		src.State, src.Detail = engine.SourceAvailable, "read from gv$locked_object and gv$access with every look; gv$access walks the library cache, mind its cost with short poll intervals"
		if !ok {
			src.State, src.Detail = engine.SourceNotPermitted, fmt.Sprintf("GRANT SELECT ON SYS.GV_$LOCKED_OBJECT TO %s; GRANT SELECT ON SYS.GV_$ACCESS TO %s; "+
				"and SELECT on SYS.DBA_OBJECTS, SYS.DBA_USERS (or GRANT SELECT_CATALOG_ROLE TO %s)", me, me, me)
		}
	}
	out = append(out, src)

	// table-counters
	params, err := a.parameters(ctx, c)
	if err != nil {
		return nil, err
	}
	probe, views := qProbeCounters, "SYS.DBA_INDEXES, SYS.DBA_LOBS"
	tables := t.name + "'s tables"
	if t.isPDB {
		probe, views = qPDBProbeCounters, "SYS.CDB_USERS, SYS.CDB_INDEXES, SYS.CDB_LOBS"
		tables = "the tables of every schema of " + t.name + " Oracle does not maintain"
	}
	ok, err = a.readable(ctx, c, probe)
	if err != nil {
		return nil, fmt.Errorf("probe gv$segment_statistics: %w", err)
	}
	src = engine.EvidenceSource{Name: engine.SourceTableCounters, State: engine.SourceAvailable,
		Sees: "logical reads and block changes of " + tables + " (partitions, their own indexes and LOBs folded in), summed over RAC instances since each started: " +
			"any read or write between two readings, however short the session; counts blocks, not rows, and Oracle may sample these two statistics (v$segstat_name.sampled), " +
			"so a few block visits can go uncounted; misses reads answered from the result cache; " +
			"an instance restart, or the " + map[bool]string{true: "PDB", false: "container"}[t.isPDB] + " closed and opened, starts a new epoch; retire's own plan and archive reads count too",
		Detail: "read from gv$segment_statistics at the start and the end of a window"}
	if a.cfg.DiagnosticsPack {
		src.Detail += "; AWR's dba_hist_seg_stat (licensed here) is not read: it keeps only each snapshot's top segments, so a table missing there may still have been used"
	}
	switch {
	case !ok || params == nil:
		src.State, src.Detail = engine.SourceNotPermitted, fmt.Sprintf("GRANT SELECT ON SYS.GV_$SEGMENT_STATISTICS TO %s; and SELECT on SYS.GV_$INSTANCE, SYS.GV_$PDBS, SYS.V_$PARAMETER, %s "+
			"(or GRANT SELECT_CATALOG_ROLE TO %s)", me, views, me)
	case params["statistics_level"] == "BASIC":
		src.State, src.Detail = engine.SourceOff, "statistics_level is BASIC, so Oracle keeps no segment statistics: ALTER SYSTEM SET statistics_level = TYPICAL"
	}
	out = append(out, src)

	// attempts and audit-log
	if t.isPDB {
		out = append(out,
			engine.EvidenceSource{Name: engine.SourceAttempts, State: engine.SourceUnsupported,
				Sees:   "once the cut closes " + t.name + ", connection attempts are refused before any audit trail: the listener answers ORA-12514 (its service is gone) or the root ORA-01109",
				Detail: "the listener log (listener.log) records them; retire does not read it"},
			engine.EvidenceSource{Name: engine.SourceAuditLog, State: engine.SourceUnsupported,
				Sees:   "the audit trail of " + t.name + " is kept inside it and is not read from CDB$ROOT by retire; sessions sees every session in it",
				Detail: "read it inside the PDB (UNIFIED_AUDIT_TRAIL) if a policy records what you need"})
		return out, nil
	}
	setup, err := a.auditSetup(ctx, c, t.name, params)
	if err != nil {
		return nil, err
	}
	out = append(out, attemptsSource(t, setup, me), auditLogSource(t, setup, me))
	return out, nil
}

func policies(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// blind is what the attempts read from the audit trails cannot count (EvidenceSource.Blind):
// a locked account's failed logons are LOGON records with ORA-28000 in the logon trail, so
// only without one. Oracle has no rename strategy (errRename): nothing fails on renamed
// tables, and BlindRenamed never applies.
func (s auditSetup) blind() []string {
	if s.logonTrail() == "" {
		return []string{engine.BlindLockedLogins}
	}
	return nil
}

func attemptsSource(t target, s auditSetup, me string) engine.EvidenceSource {
	src := engine.EvidenceSource{Name: engine.SourceAttempts, Blind: s.blind()}
	refused := "statements refused on " + t.name + "'s objects (ORA-01031, ORA-00942) only where an audit policy records them ("
	switch s.logonTrail() {
	case trailUnified:
		src.State = engine.SourceAvailable
		src.Detail = "read from unified_audit_trail under " + policies(s.logonPolicies)
	case trailTraditional:
		src.State = engine.SourceAvailable
		src.Detail = "read from dba_audit_trail (AUDIT SESSION, audit_trail=" + s.trail + ")"
	}
	switch s.objectTrail() {
	case trailUnified:
		refused += "unified: " + policies(s.objectPolicies) + ")"
	case trailTraditional:
		refused += "traditional object auditing)"
	default:
		refused += "none does now)"
	}
	src.Sees = "failed logons (ORA-01017 wrong password, ORA-28000 account locked) of the accounts that lost access, and " + refused +
		", counted since the earliest instance startup; a purge of the audit trail between two readings lowers the counts"
	if src.State != "" {
		return src
	}
	switch {
	case s.unifiedDenied:
		src.State, src.Detail = engine.SourceNotPermitted, fmt.Sprintf("GRANT AUDIT_VIEWER TO %s (unified_audit_trail and its policy views)", me)
	case s.traditional() && s.tradDenied:
		src.State, src.Detail = engine.SourceNotPermitted, fmt.Sprintf("SELECT on SYS.DBA_AUDIT_TRAIL, SYS.DBA_STMT_AUDIT_OPTS, SYS.DBA_OBJ_AUDIT_OPTS (or GRANT SELECT_CATALOG_ROLE TO %s)", me)
	default:
		src.State = engine.SourceOff
		src.Detail = "no enabled audit policy records failed logons: AUDIT POLICY ORA_LOGON_FAILURES WHENEVER NOT SUCCESSFUL (19c and later), " +
			"or CREATE AUDIT POLICY retire_logons ACTIONS LOGON; AUDIT POLICY retire_logons WHENEVER NOT SUCCESSFUL"
		if !s.pure {
			src.Detail += "; or, with traditional auditing (audit_trail=DB), AUDIT SESSION WHENEVER NOT SUCCESSFUL"
		}
		src.Detail += " (retire does not change Oracle's auditing)"
	}
	return src
}

func auditLogSource(t target, s auditSetup, me string) engine.EvidenceSource {
	src := engine.EvidenceSource{Name: engine.SourceAuditLog, Blind: s.blind(),
		Sees: "who read, changed or was refused " + t.name + "'s objects that an audit policy covers, when and from which host, and the failed logons of the accounts that lost access; " +
			"misses objects no policy covers and what the policy's actions leave out; retire's own account is left out"}
	switch s.objectTrail() {
	case trailUnified:
		src.State, src.Detail = engine.SourceAvailable, "read from unified_audit_trail, policies "+policies(s.objectPolicies)
		return src
	case trailTraditional:
		src.State, src.Detail = engine.SourceAvailable, "read from dba_audit_trail (object audit options, audit_trail="+s.trail+")"
		return src
	}
	switch {
	case s.unifiedDenied:
		src.State, src.Detail = engine.SourceNotPermitted, fmt.Sprintf("GRANT AUDIT_VIEWER TO %s (unified_audit_trail and its policy views)", me)
	case s.traditional() && s.tradDenied:
		src.State, src.Detail = engine.SourceNotPermitted, fmt.Sprintf("SELECT on SYS.DBA_AUDIT_TRAIL, SYS.DBA_STMT_AUDIT_OPTS, SYS.DBA_OBJ_AUDIT_OPTS (or GRANT SELECT_CATALOG_ROLE TO %s)", me)
	default:
		src.State = engine.SourceOff
		src.Detail = fmt.Sprintf("no enabled audit policy covers %[1]s's objects: CREATE AUDIT POLICY retire_%[2]s ACTIONS ALL ON %[1]s.<table>, ALL ON %[1]s.<other table> ...; "+
			"AUDIT POLICY retire_%[2]s (retire does not change Oracle's auditing)", t.name, strings.ToLower(t.name))
	}
	return src
}

// EnableSource refuses: every Oracle source is a DBA's setting (auditing, statistics_level),
// and retire does not change it.
func (a *Adapter) EnableSource(ctx context.Context, source string) (engine.SettingChange, error) {
	return engine.SettingChange{}, fmt.Errorf("evidence source %q: retire does not change Oracle's auditing or statistics settings; "+
		"a DBA switches it on as EvidenceSources' detail says: %w", source, engine.ErrRefused)
}

// RestoreSetting has nothing to put back: EnableSource never changes anything. A change that
// claims otherwise did not come from this adapter and is refused.
func (a *Adapter) RestoreSetting(ctx context.Context, change engine.SettingChange) error {
	if !change.Changed() {
		return nil
	}
	return fmt.Errorf("setting %s of source %s: retire never changes Oracle settings, so it does not put %q back: %w",
		change.Variable, change.Source, change.Before, engine.ErrRefused)
}

// LookServer is one look at every client session the connection can see, with the objects
// each holds, in one statement.
func (a *Adapter) LookServer(ctx context.Context) (engine.ServerLook, error) {
	c, err := a.open(ctx)
	if err != nil {
		return engine.ServerLook{}, err
	}
	defer c.Close()
	return a.lookServer(ctx, c, time.Now().UTC())
}

func (a *Adapter) lookServer(ctx context.Context, c conn, at time.Time) (engine.ServerLook, error) {
	look := engine.ServerLook{At: at, Sessions: []engine.SessionRow{}}
	index := map[int64]int{}
	scan := func(r []any) error {
		var s sessionRow
		var err error
		for i, p := range []*int64{&s.inst, &s.sid, &s.serial} {
			if *p, err = num(r[i]); err != nil {
				return err
			}
		}
		i, ok := index[s.id()]
		if !ok {
			row := engine.SessionRow{ID: s.id(), User: str(r[3]), DB: str(r[4]), Host: str(r[5]), Program: str(r[6]),
				Command: str(r[7]), Container: str(r[9])}
			if row.User == "" {
				row.User = row.DB // jobs and other sessions without a username work in a schema
			}
			if id := str(r[8]); id != "" {
				row.Info = "SQL_ID " + id // the text would cost a gv$sql read per look
			}
			i = len(look.Sessions)
			index[s.id()] = i
			look.Sessions = append(look.Sessions, row)
		}
		if owner, name := str(r[10]), str(r[11]); owner != "" && name != "" {
			look.Sessions[i].Locked = append(look.Sessions[i].Locked, engine.TableRef{Schema: owner, Table: name})
		}
		return nil
	}
	a.mu.Lock()
	bare := a.lookBare
	a.mu.Unlock()
	if !bare {
		err := a.each(ctx, c, qLookServer, nil, scan)
		if err == nil {
			return look, nil
		}
		if !isCode(err, oraNotReadable...) {
			return engine.ServerLook{}, fmt.Errorf("look at gv$session: %w", err)
		}
		// gv$locked_object or gv$access unreadable: sessions alone, from now on.
		a.mu.Lock()
		a.lookBare = true
		a.mu.Unlock()
		look.Sessions, index = []engine.SessionRow{}, map[int64]int{}
	}
	if err := a.each(ctx, c, qLookSessions, nil, scan); err != nil {
		return engine.ServerLook{}, fmt.Errorf("look at gv$session: %w", err)
	}
	return look, nil
}

// Reaching picks the sessions of a look that reach object: for a schema, those logged in as
// it or working in it (ViaDefaultDB) and those holding its objects (ViaLock, Tables); for a
// PDB, every session in it.
func (a *Adapter) Reaching(look engine.ServerLook, object string) []engine.Session {
	t, err := parseTarget(object)
	if err != nil {
		return nil
	}
	out := []engine.Session{}
	for _, r := range look.Sessions {
		var via, tables []string
		if t.isPDB {
			if r.Container == t.name {
				via = append(via, engine.ViaDefaultDB)
			}
		} else {
			if r.User == t.name || r.DB == t.name {
				via = append(via, engine.ViaDefaultDB)
			}
			for _, l := range r.Locked {
				if l.Schema == t.name {
					tables = append(tables, l.Table)
				}
			}
			if len(tables) > 0 {
				via = append(via, engine.ViaLock)
				slices.Sort(tables)
				tables = slices.Compact(tables)
			}
		}
		if len(via) == 0 {
			continue
		}
		out = append(out, engine.Session{User: r.User, Host: r.Host, Program: r.Program, FirstSeen: look.At, LastSeen: look.At,
			Count: 1, Via: via, Tables: tables, ID: r.ID})
	}
	return out
}

// Counters reads the segment statistics of object's tables and, for the accounts given (a
// schema only), their failed logons and refused statements from the audit trail. Every
// count is cumulative within Epoch, which names each instance's startup (and the
// container's opening), so a restart shows as another epoch; the caller takes deltas.
// Accounts is empty when no audit trail records them or retire may not read it.
func (a *Adapter) Counters(ctx context.Context, object string, accounts []engine.AccountRef) (engine.Counters, error) {
	t, err := parseTarget(object)
	if err != nil {
		return engine.Counters{}, err
	}
	c, err := a.open(ctx)
	if err != nil {
		return engine.Counters{}, err
	}
	defer c.Close()
	out := engine.Counters{At: time.Now().UTC(), Source: countersSource}
	params, err := a.parameters(ctx, c)
	if err != nil {
		return out, err
	}
	if params == nil {
		return out, a.countersDenied(t)
	}
	epochQuery, epochArgs := qEpoch, []any(nil)
	countQuery, countArgs := qSegmentCounters, []any{t.name}
	if t.isPDB {
		p, err := a.lookupPDB(ctx, c, t.name)
		if err != nil {
			return out, err
		}
		if p == nil {
			return out, fmt.Errorf("pluggable database %s does not exist on this connection: %w", t.name, engine.ErrRefused)
		}
		epochQuery, epochArgs = qPDBEpoch, []any{p.conID}
		countQuery, countArgs = qPDBSegmentCounters, []any{p.conID, p.conID}
	}
	var epoch []string
	err = a.each(ctx, c, epochQuery, epochArgs, func(r []any) error {
		e := str(r[0]) + ":" + str(r[1])
		if mode := str(r[2]); mode != "" {
			e += "/" + mode + ":" + str(r[3])
		}
		epoch = append(epoch, e)
		return nil
	})
	if isCode(err, oraNotReadable...) {
		return out, a.countersDenied(t)
	}
	if err != nil {
		return out, fmt.Errorf("read the instances' startup (gv$instance): %w", err)
	}
	out.Epoch = strings.Join(epoch, " ")
	out.On = params["statistics_level"] != "BASIC"
	if out.On {
		err = a.each(ctx, c, countQuery, countArgs, func(r []any) error {
			name, rest := str(r[0]), r[1:]
			if t.isPDB {
				owner := name
				if IsSystemUser(owner) {
					return nil // the oracle_maintained flag can be wrong after an upgrade
				}
				name, rest = owner+"."+str(r[1]), r[2:]
			}
			reads, err := num(rest[0])
			if err != nil {
				return err
			}
			writes, err := num(rest[1])
			if err != nil {
				return err
			}
			out.Tables = append(out.Tables, engine.TableCounter{Table: name, Reads: reads, Writes: writes})
			return nil
		})
		if isCode(err, oraNotReadable...) {
			return out, a.countersDenied(t)
		}
		if err != nil {
			return out, fmt.Errorf("read gv$segment_statistics for %s: %w", t, err)
		}
	}
	if t.isPDB || len(accounts) == 0 {
		return out, nil
	}
	setup, err := a.auditSetup(ctx, c, t.name, params)
	if err != nil {
		return out, err
	}
	out.Accounts, err = a.countAttempts(ctx, c, t, setup, accounts)
	return out, err
}

func (a *Adapter) countersDenied(t target) error {
	views := "SYS.DBA_INDEXES, SYS.DBA_LOBS"
	if t.isPDB {
		views = "SYS.CDB_USERS, SYS.CDB_INDEXES, SYS.CDB_LOBS"
	}
	me := a.me()
	return fmt.Errorf("read the table counters of %s: not permitted: GRANT SELECT ON SYS.GV_$SEGMENT_STATISTICS TO %s; and SELECT on SYS.GV_$INSTANCE, SYS.GV_$PDBS, SYS.V_$PARAMETER, %s "+
		"(or GRANT SELECT_CATALOG_ROLE TO %s): %w", t, me, views, me, engine.ErrRefused)
}

// userNames are the accounts' user names, without repeats, in their order.
func userNames(accounts []engine.AccountRef) []string {
	var out []string
	for _, acc := range accounts {
		if acc.User != "" && !slices.Contains(out, acc.User) {
			out = append(out, acc.User)
		}
	}
	return out
}

// countAttempts counts failed logons from the logon trail and refused statements from the
// object trail; nil when neither trail is in use.
func (a *Adapter) countAttempts(ctx context.Context, c conn, t target, s auditSetup, accounts []engine.AccountRef) ([]engine.AccountCounter, error) {
	trails := s.trails()
	if len(trails) == 0 {
		return nil, nil
	}
	users := userNames(accounts)
	counts := map[string]*engine.AccountCounter{}
	out := make([]engine.AccountCounter, len(users))
	for i, u := range users {
		out[i] = engine.AccountCounter{AccountRef: engine.AccountRef{User: u}}
		counts[u] = &out[i]
	}
	for _, trail := range trails {
		for batch := range slices.Chunk(users, accountBatch) {
			args := []any{t.name}
			for _, u := range batch {
				args = append(args, u)
			}
			err := a.each(ctx, c, attemptsStatement(trail, len(batch)), args, func(r []any) error {
				acc := counts[str(r[0])]
				if acc == nil {
					return nil
				}
				logons, err := num(r[1])
				if err != nil {
					return err
				}
				refused, err := num(r[2])
				if err != nil {
					return err
				}
				if s.logonTrail() == trail {
					acc.DeniedLogins += logons
				}
				if s.objectTrail() == trail {
					acc.RefusedStatements += refused
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("count the attempts of %d accounts in the %s audit trail: %w", len(users), trail, err)
			}
		}
	}
	return out, nil
}

// auditPos is a position in one audit trail: the last event read.
type auditPos struct {
	at           string // UTC, auditTimeLayout
	session, seq int64
}

// parseCursor reads "unified 2024-05-01T10:00:00.000000 880001 3;traditional ...".
func parseCursor(cursor string) (map[string]auditPos, error) {
	out := map[string]auditPos{}
	if cursor == "" {
		return out, nil
	}
	for _, part := range strings.Split(cursor, ";") {
		f := strings.Fields(part)
		if len(f) != 4 || (f[0] != trailUnified && f[0] != trailTraditional) {
			return nil, fmt.Errorf("audit cursor %q is not one this adapter wrote: %w", cursor, engine.ErrRefused)
		}
		if _, err := time.Parse(auditTimeLayout, f[1]); err != nil {
			return nil, fmt.Errorf("audit cursor %q: bad time: %w", cursor, engine.ErrRefused)
		}
		s, err1 := strconv.ParseInt(f[2], 10, 64)
		e, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("audit cursor %q: bad position: %w", cursor, engine.ErrRefused)
		}
		out[f[0]] = auditPos{at: f[1], session: s, seq: e}
	}
	return out, nil
}

func formatCursor(pos map[string]auditPos) string {
	var parts []string
	for _, trail := range []string{trailUnified, trailTraditional} {
		if p, ok := pos[trail]; ok {
			parts = append(parts, fmt.Sprintf("%s %s %d %d", trail, p.at, p.session, p.seq))
		}
	}
	return strings.Join(parts, ";")
}

// auditOp maps an audit ACTION_NAME to the engine's words.
func auditOp(action string, code int) string {
	switch action {
	case "LOGON":
		if code != 0 {
			return "FAILED_CONNECT"
		}
		return "CONNECT"
	case "LOGOFF", "LOGOFF BY CLEANUP":
		return "DISCONNECT"
	case "SELECT":
		return "READ"
	case "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "TRUNCATE TABLE":
		return "WRITE"
	}
	return action
}

// AuditEvents reads the audit trails in use from cursor on: events on the schema's objects
// and the failed ones of the accounts, at most auditBatch per trail and call. An empty cursor
// starts at the server's clock now. A PDB's trail is not read (see EvidenceSources).
func (a *Adapter) AuditEvents(ctx context.Context, object string, accounts []engine.AccountRef, cursor string) ([]engine.AuditEvent, string, error) {
	t, err := parseTarget(object)
	if err != nil {
		return nil, cursor, err
	}
	if t.isPDB {
		return nil, cursor, fmt.Errorf("the audit trail of pluggable database %s is not read by retire (EvidenceSources says so): %w", t.name, engine.ErrRefused)
	}
	pos, err := parseCursor(cursor)
	if err != nil {
		return nil, cursor, err
	}
	c, err := a.open(ctx)
	if err != nil {
		return nil, cursor, err
	}
	defer c.Close()
	params, err := a.parameters(ctx, c)
	if err != nil {
		return nil, cursor, err
	}
	setup, err := a.auditSetup(ctx, c, t.name, params)
	if err != nil {
		return nil, cursor, err
	}
	trails := setup.trails()
	if len(trails) == 0 {
		if setup.unifiedDenied {
			return nil, cursor, fmt.Errorf("read the audit trail of %s: not permitted: GRANT AUDIT_VIEWER TO %s: %w", t, a.me(), engine.ErrRefused)
		}
		return nil, cursor, nil // nothing records the schema: nothing to read
	}
	var now string
	users := userNames(accounts)
	var events []engine.AuditEvent
	for _, trail := range trails {
		p, ok := pos[trail]
		if !ok {
			// A trail not read before (an empty cursor, or a policy enabled since): from now on.
			if now == "" {
				r, err := a.first(ctx, c, qAuditNow)
				if err != nil || r == nil {
					return nil, cursor, fmt.Errorf("read the server's clock: %w", err)
				}
				now = str(r[0])
			}
			pos[trail] = auditPos{at: now}
			continue
		}
		args := []any{p.at, p.at, p.session, p.session, p.seq, t.name}
		for _, u := range users {
			args = append(args, u)
		}
		err := a.each(ctx, c, eventsStatement(trail, len(users)), args, func(r []any) error {
			at, err := time.Parse(auditTimeLayout, str(r[0]))
			if err != nil {
				return fmt.Errorf("audit time %q: %w", str(r[0]), err)
			}
			sess, err := num(r[1])
			if err != nil {
				return err
			}
			seq, err := num(r[2])
			if err != nil {
				return err
			}
			code, err := num(r[8])
			if err != nil {
				return err
			}
			pos[trail] = auditPos{at: str(r[0]), session: sess, seq: seq}
			ev := engine.AuditEvent{At: at.UTC(), User: str(r[3]), Host: str(r[4]), Op: auditOp(str(r[5]), int(code)),
				DB: str(r[6]), Table: str(r[7]), Code: int(code)}
			// Events on the schema's objects are taken from the object trail and logons
			// from the logon trail, so that one both trails record is reported once.
			want := trail
			switch {
			case ev.DB == t.name && setup.objectTrail() != "":
				want = setup.objectTrail()
			case str(r[5]) == "LOGON" && setup.logonTrail() != "":
				want = setup.logonTrail()
			}
			if want == trail {
				events = append(events, ev)
			}
			return nil
		})
		if err != nil {
			if isCode(err, oraNotReadable...) {
				return nil, cursor, fmt.Errorf("read the %s audit trail of %s: not permitted: %v: %w", trail, t, err, engine.ErrRefused)
			}
			return nil, cursor, fmt.Errorf("read the %s audit trail of %s: %w", trail, t, err)
		}
	}
	slices.SortStableFunc(events, func(x, y engine.AuditEvent) int { return x.At.Compare(y.At) })
	return events, formatCursor(pos), nil
}
