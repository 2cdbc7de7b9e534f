package oracle

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// scriptLook answers the server look from the model's sessions: one row per session and
// object it holds, the container named as v$containers names it.
func (w *world) scriptLook() {
	rows := func(objects bool) [][]any {
		var out [][]any
		for _, s := range w.sessions {
			base := []any{s.inst, s.sid, s.serial, nilIfEmpty(s.user), s.schema, s.machine, s.program, "ACTIVE", nilIfEmpty(s.sqlID), nilIfEmpty(w.container(s.conID))}
			if !objects || len(s.objects) == 0 {
				out = append(out, append(slices.Clone(base), nil, nil))
				continue
			}
			for _, o := range s.objects {
				owner, name, _ := strings.Cut(o, ".")
				out = append(out, append(slices.Clone(base), owner, name))
			}
		}
		return out
	}
	w.f.onFunc(qLookServer, func([]any) ([][]any, error) { return rows(true), nil })
	w.f.onFunc(qLookSessions, func([]any) ([][]any, error) { return rows(false), nil })
}

// container is the name of a container id: 0 is the one the connection is in.
func (w *world) container(id int64) string {
	if id == 0 {
		return w.con
	}
	for n, p := range w.pdbs {
		if p.conID == id {
			return n
		}
	}
	return ""
}

// argsOf are the binds of every call of one statement, in order.
func argsOf(f *fakeDB, sql string) [][]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]any
	for _, c := range f.calls {
		if c.SQL == sql {
			out = append(out, c.Args)
		}
	}
	return out
}

func denied(code int) queryFunc { return func([]any) ([][]any, error) { return nil, ora(code) } }

// evidence scripts a server where every view is readable, statistics are on, the given
// unified policies are enabled, and audit_trail is as given.
func evidence(w *world, auditTrail string, policies ...[]any) {
	for _, q := range []string{qProbeSessions, qProbeLocks, qProbeCounters, qPDBProbeCounters, qProbeUnified} {
		w.f.on(q)
	}
	w.f.on(qParameters, []any{"audit_trail", auditTrail}, []any{"statistics_level", "TYPICAL"})
	w.f.onFunc(qAuditPolicies, func(a []any) ([][]any, error) {
		require.Equal(w.t, []any{"SCOTT"}, a)
		return policies, nil
	})
}

func byName(t *testing.T, srcs []engine.EvidenceSource) map[string]engine.EvidenceSource {
	t.Helper()
	out := map[string]engine.EvidenceSource{}
	var names []string
	for _, s := range srcs {
		out[s.Name] = s
		names = append(names, s.Name)
		require.False(t, s.Dynamic, "retire switches no Oracle source on: %s", s.Name)
		require.NotEmpty(t, s.Sees, s.Name)
		require.NotEmpty(t, s.Detail, s.Name)
	}
	require.Equal(t, []string{engine.SourceSessions, engine.SourceLocks, engine.SourceTableCounters, engine.SourceAttempts, engine.SourceAuditLog}, names)
	return out
}

func TestEvidenceSourcesOfASchemaUnderUnifiedAuditing(t *testing.T) {
	w := scott(t)
	w.audit = true
	evidence(w, "NONE", []any{"ORA_LOGON_FAILURES", "LOGON"}, []any{"RETIRE_SCOTT", "OBJECT"})
	srcs, err := w.adapter(Config{User: "retire"}).EvidenceSources(bg(), "scott")
	require.NoError(t, err)
	require.Equal(t, []string{qSessionInfo, qUser, qProbeSessions, qProbeLocks, qParameters, qProbeCounters,
		qUnifiedAuditing, qProbeUnified, qAuditPolicies}, queries(w.f), "the statements, pinned: pure unified auditing reads no traditional option")
	require.Empty(t, w.f.execs(), "the probe changes nothing")
	noCallWithoutDeadline(t, w.f)

	s := byName(t, srcs)
	for _, src := range srcs {
		require.Equal(t, engine.SourceAvailable, src.State, src.Name)
	}
	require.Contains(t, s[engine.SourceSessions].Sees, "logged in as SCOTT or working in it")
	require.Contains(t, s[engine.SourceLocks].Sees, "gv$access")
	require.Contains(t, s[engine.SourceTableCounters].Sees, "counts blocks, not rows")
	require.Equal(t, "read from unified_audit_trail under ORA_LOGON_FAILURES", s[engine.SourceAttempts].Detail)
	require.Contains(t, s[engine.SourceAttempts].Sees, "(unified: RETIRE_SCOTT)")
	require.Equal(t, "read from unified_audit_trail, policies RETIRE_SCOTT", s[engine.SourceAuditLog].Detail)
	require.NotContains(t, s[engine.SourceTableCounters].Detail, "dba_hist_seg_stat", "AWR is mentioned only where it is licensed")
	for _, name := range []string{engine.SourceAttempts, engine.SourceAuditLog} {
		require.Empty(t, s[name].Blind, "%s: a locked account's logons are ORA-28000 in the logon trail; Oracle has no rename strategy", name)
	}

	// A policy on the objects but none on failed logons: the audit log shows no locked logon.
	w.f.reset()
	evidence(w, "NONE", []any{"RETIRE_SCOTT", "OBJECT"})
	srcs, err = w.adapter(Config{}).EvidenceSources(bg(), "SCOTT")
	require.NoError(t, err)
	s = byName(t, srcs)
	require.Equal(t, engine.SourceAvailable, s[engine.SourceAuditLog].State)
	require.Equal(t, []string{engine.BlindLockedLogins}, s[engine.SourceAuditLog].Blind)
	require.Equal(t, engine.SourceOff, s[engine.SourceAttempts].State)
	require.Equal(t, []string{engine.BlindLockedLogins}, s[engine.SourceAttempts].Blind)
	w.f.reset()
	evidence(w, "NONE", []any{"ORA_LOGON_FAILURES", "LOGON"}, []any{"RETIRE_SCOTT", "OBJECT"})

	// With the Diagnostics Pack declared, ASH is part of sessions, and AWR is said not to be read.
	w.f.reset()
	srcs, err = w.adapter(Config{DiagnosticsPack: true}).EvidenceSources(bg(), "SCOTT")
	require.NoError(t, err)
	s = byName(t, srcs)
	require.Contains(t, s[engine.SourceSessions].Sees, "gv$active_session_history")
	require.Contains(t, s[engine.SourceTableCounters].Detail, "dba_hist_seg_stat (licensed here) is not read")
	for _, q := range sqlsOf(w.f) {
		require.NotContains(t, q, "dba_hist", "the probe reads no AWR view")
	}
}

func TestEvidenceSourcesNameTheMissingGrants(t *testing.T) {
	w := scott(t)
	w.audit = true
	for _, q := range []string{qProbeSessions, qProbeLocks, qProbeCounters, qParameters, qProbeUnified} {
		w.f.onFunc(q, denied(oraNoTable))
	}
	srcs, err := w.adapter(Config{User: "retire"}).EvidenceSources(bg(), "SCOTT")
	require.NoError(t, err, "a view the account may not read is a state, not a failure")
	s := byName(t, srcs)
	for _, src := range srcs {
		require.Equal(t, engine.SourceNotPermitted, src.State, src.Name)
	}
	require.Equal(t, "GRANT SELECT ON SYS.GV_$SESSION TO RETIRE; GRANT SELECT ON SYS.V_$CONTAINERS TO RETIRE (or GRANT SELECT_CATALOG_ROLE TO RETIRE)",
		s[engine.SourceSessions].Detail)
	require.Contains(t, s[engine.SourceLocks].Detail, "GRANT SELECT ON SYS.GV_$ACCESS TO RETIRE")
	require.Contains(t, s[engine.SourceTableCounters].Detail, "GRANT SELECT ON SYS.GV_$SEGMENT_STATISTICS TO RETIRE")
	require.Contains(t, s[engine.SourceTableCounters].Detail, "GRANT SELECT_CATALOG_ROLE TO RETIRE")
	require.Equal(t, "GRANT AUDIT_VIEWER TO RETIRE (unified_audit_trail and its policy views)", s[engine.SourceAttempts].Detail)
	require.Equal(t, "GRANT AUDIT_VIEWER TO RETIRE (unified_audit_trail and its policy views)", s[engine.SourceAuditLog].Detail)
	require.NotContains(t, queries(w.f), qAuditPolicies, "the trail is unreadable: its policies are not asked for")

	// ORA-01031 on the policy views says the same; traditional views refused in mixed mode
	// name SELECT_CATALOG_ROLE.
	w = scott(t)
	evidence(w, "DB")
	w.f.onFunc(qAuditPolicies, denied(1031))
	w.f.onFunc(qTraditionalAudit, denied(oraNoTable))
	srcs, err = w.adapter(Config{User: "retire"}).EvidenceSources(bg(), "SCOTT")
	require.NoError(t, err)
	s = byName(t, srcs)
	require.Equal(t, engine.SourceNotPermitted, s[engine.SourceAttempts].State)
	require.Contains(t, s[engine.SourceAttempts].Detail, "AUDIT_VIEWER")

	w = scott(t)
	evidence(w, "DB")
	w.f.onFunc(qTraditionalAudit, denied(oraNoTable))
	srcs, err = w.adapter(Config{User: "retire"}).EvidenceSources(bg(), "SCOTT")
	require.NoError(t, err)
	s = byName(t, srcs)
	require.Equal(t, engine.SourceNotPermitted, s[engine.SourceAuditLog].State)
	require.Equal(t, "SELECT on SYS.DBA_AUDIT_TRAIL, SYS.DBA_STMT_AUDIT_OPTS, SYS.DBA_OBJ_AUDIT_OPTS (or GRANT SELECT_CATALOG_ROLE TO RETIRE)", s[engine.SourceAuditLog].Detail)

	// A failure that is no refusal fails the probe.
	w = scott(t)
	evidence(w, "NONE")
	w.f.onFunc(qProbeLocks, denied(3113))
	_, err = w.adapter(Config{}).EvidenceSources(bg(), "SCOTT")
	require.ErrorContains(t, err, "ORA-03113")

	// The target is checked first.
	_, err = scott(t).adapter(Config{}).EvidenceSources(bg(), "NOBODY")
	require.ErrorIs(t, err, engine.ErrRefused)
	_, err = scott(t).adapter(Config{}).EvidenceSources(bg(), "SYS")
	require.ErrorIs(t, err, engine.ErrRefused)
}

func TestEvidenceSourcesThatAreOffSayHowToTurnThemOn(t *testing.T) {
	w := scott(t) // mixed mode: v$option says FALSE
	evidence(w, "NONE")
	w.f.on(qParameters, []any{"audit_trail", "NONE"}, []any{"statistics_level", "BASIC"})
	srcs, err := w.adapter(Config{}).EvidenceSources(bg(), "SCOTT")
	require.NoError(t, err)
	require.NotContains(t, queries(w.f), qTraditionalAudit, "audit_trail=NONE: traditional auditing writes nothing to read")
	s := byName(t, srcs)
	require.Equal(t, engine.SourceAvailable, s[engine.SourceSessions].State)
	require.Equal(t, engine.SourceOff, s[engine.SourceTableCounters].State)
	require.Equal(t, "statistics_level is BASIC, so Oracle keeps no segment statistics: ALTER SYSTEM SET statistics_level = TYPICAL", s[engine.SourceTableCounters].Detail)
	require.Equal(t, engine.SourceOff, s[engine.SourceAttempts].State)
	require.Equal(t, "no enabled audit policy records failed logons: AUDIT POLICY ORA_LOGON_FAILURES WHENEVER NOT SUCCESSFUL (19c and later), "+
		"or CREATE AUDIT POLICY retire_logons ACTIONS LOGON; AUDIT POLICY retire_logons WHENEVER NOT SUCCESSFUL; "+
		"or, with traditional auditing (audit_trail=DB), AUDIT SESSION WHENEVER NOT SUCCESSFUL (retire does not change Oracle's auditing)", s[engine.SourceAttempts].Detail)
	require.Contains(t, s[engine.SourceAttempts].Sees, "only where an audit policy records them (none does now)")
	require.Equal(t, engine.SourceOff, s[engine.SourceAuditLog].State)
	require.Equal(t, "no enabled audit policy covers SCOTT's objects: CREATE AUDIT POLICY retire_scott ACTIONS ALL ON SCOTT.<table>, ALL ON SCOTT.<other table> ...; "+
		"AUDIT POLICY retire_scott (retire does not change Oracle's auditing)", s[engine.SourceAuditLog].Detail)

	// Under pure unified auditing, traditional auditing is not offered.
	w = scott(t)
	w.audit = true
	evidence(w, "DB")
	srcs, err = w.adapter(Config{}).EvidenceSources(bg(), "SCOTT")
	require.NoError(t, err)
	require.NotContains(t, queries(w.f), qTraditionalAudit, "unified auditing ignores audit_trail")
	require.NotContains(t, byName(t, srcs)[engine.SourceAttempts].Detail, "AUDIT SESSION")
}

func TestEvidenceSourcesReadTheTraditionalTrailInMixedMode(t *testing.T) {
	w := scott(t)
	evidence(w, "DB, EXTENDED")
	w.f.onFunc(qTraditionalAudit, func(a []any) ([][]any, error) {
		require.Equal(t, []any{"SCOTT"}, a)
		return rowsOf([]any{"1", "2", "0"}), nil
	})
	srcs, err := w.adapter(Config{}).EvidenceSources(bg(), "SCOTT")
	require.NoError(t, err)
	require.Equal(t, []string{qSessionInfo, qUser, qProbeSessions, qProbeLocks, qParameters, qProbeCounters,
		qUnifiedAuditing, qProbeUnified, qAuditPolicies, qTraditionalAudit}, queries(w.f))
	s := byName(t, srcs)
	require.Equal(t, engine.SourceAvailable, s[engine.SourceAttempts].State)
	require.Equal(t, "read from dba_audit_trail (AUDIT SESSION, audit_trail=DB, EXTENDED)", s[engine.SourceAttempts].Detail)
	require.Equal(t, engine.SourceAvailable, s[engine.SourceAuditLog].State)
	require.Equal(t, "read from dba_audit_trail (object audit options, audit_trail=DB, EXTENDED)", s[engine.SourceAuditLog].Detail)

	// A unified policy wins over the traditional trail for the same events.
	w = scott(t)
	evidence(w, "DB", []any{"ORA_LOGON_FAILURES", "LOGON"})
	w.f.on(qTraditionalAudit, []any{"1", "2", "0"})
	srcs, err = w.adapter(Config{}).EvidenceSources(bg(), "SCOTT")
	require.NoError(t, err)
	s = byName(t, srcs)
	require.Equal(t, "read from unified_audit_trail under ORA_LOGON_FAILURES", s[engine.SourceAttempts].Detail)
	require.Equal(t, "read from dba_audit_trail (object audit options, audit_trail=DB)", s[engine.SourceAuditLog].Detail)
}

func TestEvidenceSourcesOfAPDB(t *testing.T) {
	w := pdbWorld(t)
	evidence(w, "NONE")
	srcs, err := w.adapter(Config{}).EvidenceSources(bg(), "pdb:salespdb")
	require.NoError(t, err)
	require.Equal(t, []string{qSessionInfo, qPDB, qProbeSessions, qParameters, qPDBProbeCounters}, queries(w.f),
		"from CDB$ROOT: no lock views (being in the PDB is reaching it), no audit trail")
	s := byName(t, srcs)
	require.Equal(t, engine.SourceAvailable, s[engine.SourceSessions].State)
	require.Contains(t, s[engine.SourceSessions].Sees, "every session in SALESPDB")
	require.Equal(t, engine.SourceUnsupported, s[engine.SourceLocks].State)
	require.Equal(t, engine.SourceAvailable, s[engine.SourceTableCounters].State)
	require.Contains(t, s[engine.SourceTableCounters].Sees, "every schema of SALESPDB Oracle does not maintain")
	require.Contains(t, s[engine.SourceTableCounters].Sees, "the PDB closed and opened, starts a new epoch")
	require.Equal(t, engine.SourceUnsupported, s[engine.SourceAttempts].State)
	require.Contains(t, s[engine.SourceAttempts].Sees, "ORA-12514")
	require.Equal(t, engine.SourceUnsupported, s[engine.SourceAuditLog].State)

	w.f.onFunc(qPDBProbeCounters, denied(oraNoTable))
	srcs, err = w.adapter(Config{User: "c##retire"}).EvidenceSources(bg(), "pdb:SALESPDB")
	require.NoError(t, err)
	require.Contains(t, byName(t, srcs)[engine.SourceTableCounters].Detail, "SYS.CDB_USERS, SYS.CDB_INDEXES, SYS.CDB_LOBS (or GRANT SELECT_CATALOG_ROLE TO C##RETIRE)")

	// A PDB is probed from CDB$ROOT only.
	w = scott(t)
	w.pdbs["SALESPDB"] = &wPDB{conID: 3, openMode: "READ WRITE"}
	_, err = w.adapter(Config{}).EvidenceSources(bg(), "pdb:SALESPDB")
	require.ErrorIs(t, err, engine.ErrRefused)
}

func TestEnableSourceRefusesAndRestoringWhatDidNotChangeIsANoOp(t *testing.T) {
	w := scott(t)
	a := w.adapter(Config{})
	for _, src := range []string{engine.SourceTableCounters, engine.SourceAttempts, engine.SourceAuditLog, "nonsense"} {
		_, err := a.EnableSource(bg(), src)
		require.ErrorIs(t, err, engine.ErrRefused)
		require.ErrorContains(t, err, "retire does not change Oracle's auditing or statistics settings")
	}
	require.NoError(t, a.RestoreSetting(bg(), engine.SettingChange{Source: engine.SourceAuditLog, Variable: "audit_trail", Before: "DB", After: "DB"}))
	require.NoError(t, a.RestoreSetting(bg(), engine.SettingChange{}))
	err := a.RestoreSetting(bg(), engine.SettingChange{Source: engine.SourceTableCounters, Variable: "statistics_level", Before: "BASIC", After: "TYPICAL"})
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Empty(t, w.f.calls, "nothing was sent, not even a connection")
	require.Empty(t, w.f.dials)
}

func TestLookServerIsOneStatementForEverySession(t *testing.T) {
	w := scott(t)
	w.sessions = []wSession{
		{inst: 1, sid: 101, serial: 5001, user: "SCOTT", schema: "SCOTT", machine: "app01", program: "java", sqlID: "8k2zq0x1mb4t3"},
		{inst: 2, sid: 77, serial: 9, user: "APP", schema: "APP", machine: "batch02", program: "sqlplus", objects: []string{"SCOTT.EMP", "SCOTT.DEPT", "HR.JOBS"}},
		{inst: 1, sid: 12, serial: 3, schema: "SCOTT", machine: "job", program: "oracle (J000)"},
	}
	look, err := w.adapter(Config{}).LookServer(bg())
	require.NoError(t, err)
	require.Equal(t, []string{qLookServer}, sqlsOf(w.f), "one round trip")
	require.Equal(t, [][]any{nil}, argsOf(w.f, qLookServer))
	require.Len(t, w.f.dials, 1)
	noCallWithoutDeadline(t, w.f)
	require.WithinDuration(t, time.Now(), look.At, 5*time.Second)
	require.Equal(t, []engine.SessionRow{
		{ID: sessionRow{inst: 1, sid: 101, serial: 5001}.id(), User: "SCOTT", Host: "app01", Program: "java", DB: "SCOTT", Command: "ACTIVE",
			Info: "SQL_ID 8k2zq0x1mb4t3", Container: "FREEPDB1"},
		{ID: sessionRow{inst: 2, sid: 77, serial: 9}.id(), User: "APP", Host: "batch02", Program: "sqlplus", DB: "APP", Command: "ACTIVE", Container: "FREEPDB1",
			Locked: []engine.TableRef{{Schema: "SCOTT", Table: "EMP"}, {Schema: "SCOTT", Table: "DEPT"}, {Schema: "HR", Table: "JOBS"}}},
		{ID: sessionRow{inst: 1, sid: 12, serial: 3}.id(), User: "SCOTT", Host: "job", Program: "oracle (J000)", DB: "SCOTT", Command: "ACTIVE", Container: "FREEPDB1"},
	}, look.Sessions, "rows of one session fold into one, whatever it holds")

	// What the server is asked to leave out and to join, pinned in the statement.
	for _, clause := range []string{
		"WHERE s.type = 'USER' AND NOT (s.inst_id = SYS_CONTEXT('USERENV', 'INSTANCE') AND s.sid = SYS_CONTEXT('USERENV', 'SID'))",
		"FROM gv$locked_object l JOIN dba_objects d ON d.object_id = l.object_id",
		"FROM gv$access a",
		"x.owner IN (SELECT username FROM dba_users WHERE oracle_maintained = 'N')",
		"o ON o.inst_id = s.inst_id AND o.sid = s.sid",
	} {
		require.Contains(t, qLookServer, clause)
	}
	for _, q := range []string{qLookServer, qLookSessions} {
		require.NotContains(t, q, "gv$sql ", "no SQL text per look")
		require.NotContains(t, q, ":1", "no binds: one look serves every object")
	}
}

func TestLookServerWithoutTheLockViewsReadsSessionsAlone(t *testing.T) {
	w := scott(t)
	w.sessions[1].objects = []string{"SCOTT.EMP"}
	w.f.onFunc(qLookServer, denied(oraNoTable))
	a := w.adapter(Config{})
	look, err := a.LookServer(bg())
	require.NoError(t, err)
	require.Equal(t, []string{qLookServer, qLookSessions}, sqlsOf(w.f))
	require.Len(t, look.Sessions, 2)
	for _, s := range look.Sessions {
		require.Empty(t, s.Locked)
	}
	// Learnt once: later looks go straight to gv$session, and sampling sees what it saw before.
	w.f.reset()
	seen, err := a.Sessions(bg(), "SCOTT")
	require.NoError(t, err)
	require.Equal(t, []string{qLookSessions, qUnifiedAuditing}, sqlsOf(w.f), "(v$option: the existing logon check, once per adapter)")
	require.Len(t, seen, 2)

	// Any other failure is the look's failure.
	w = scott(t)
	w.f.onFunc(qLookServer, denied(3113))
	_, err = w.adapter(Config{}).LookServer(bg())
	require.ErrorContains(t, err, "ORA-03113")
	require.NotContains(t, sqlsOf(w.f), qLookSessions)

	// Without gv$session at all there is no look.
	w = scott(t)
	w.f.onFunc(qLookServer, denied(oraNoTable))
	w.f.onFunc(qLookSessions, denied(oraNoTable))
	_, err = w.adapter(Config{}).LookServer(bg())
	require.ErrorContains(t, err, "ORA-00942")
}

func TestReachingPicksTheSessionsOfASchemaOrAPDB(t *testing.T) {
	at := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	look := engine.ServerLook{At: at, Sessions: []engine.SessionRow{
		{ID: 1, User: "SCOTT", DB: "SCOTT", Host: "app01", Program: "java", Container: "FREEPDB1"},
		{ID: 2, User: "APP", DB: "SCOTT", Host: "batch02", Program: "sqlplus", Container: "FREEPDB1"},
		{ID: 3, User: "REPORTS", DB: "REPORTS", Host: "bi", Program: "tableau", Container: "FREEPDB1",
			Locked: []engine.TableRef{{Schema: "SCOTT", Table: "EMP"}, {Schema: "HR", Table: "JOBS"}, {Schema: "SCOTT", Table: "DEPT"}, {Schema: "SCOTT", Table: "EMP"}}},
		{ID: 4, User: "SCOTT", DB: "SCOTT", Host: "app02", Program: "java", Container: "FREEPDB1", Locked: []engine.TableRef{{Schema: "SCOTT", Table: "EMP"}}},
		{ID: 5, User: "HR", DB: "HR", Host: "hr01", Program: "forms", Container: "FREEPDB1", Locked: []engine.TableRef{{Schema: "HR", Table: "JOBS"}}},
		{ID: 6, User: "SCOTTY", DB: "SCOTTY", Host: "x", Program: "y", Container: "OTHERPDB"},
	}}
	a := newWorld(t).adapter(Config{})
	require.Equal(t, []engine.Session{
		{User: "SCOTT", Host: "app01", Program: "java", FirstSeen: at, LastSeen: at, Count: 1, ID: 1, Via: []string{engine.ViaDefaultDB}},
		{User: "APP", Host: "batch02", Program: "sqlplus", FirstSeen: at, LastSeen: at, Count: 1, ID: 2, Via: []string{engine.ViaDefaultDB}},
		{User: "REPORTS", Host: "bi", Program: "tableau", FirstSeen: at, LastSeen: at, Count: 1, ID: 3, Via: []string{engine.ViaLock}, Tables: []string{"DEPT", "EMP"}},
		{User: "SCOTT", Host: "app02", Program: "java", FirstSeen: at, LastSeen: at, Count: 1, ID: 4, Via: []string{engine.ViaDefaultDB, engine.ViaLock}, Tables: []string{"EMP"}},
	}, a.Reaching(look, "scott"))

	require.Equal(t, []engine.Session{
		{User: "SCOTTY", Host: "x", Program: "y", FirstSeen: at, LastSeen: at, Count: 1, ID: 6, Via: []string{engine.ViaDefaultDB}},
	}, a.Reaching(look, "pdb:otherpdb"), "in a PDB is reaching it, whoever it is")
	require.Empty(t, a.Reaching(look, "pdb:SALESPDB"))
	require.Empty(t, a.Reaching(look, "NOBODY"))
	require.Nil(t, a.Reaching(look, "SYS"), "never a system schema")
	require.Nil(t, a.Reaching(look, "a;b"))
}

func TestSessionsAlsoSeeOtherAccountsHoldingTheSchemasObjects(t *testing.T) {
	w := scott(t)
	w.sessions = append(w.sessions,
		wSession{inst: 1, sid: 300, serial: 1, user: "REPORTS", schema: "REPORTS", machine: "bi", program: "tableau", objects: []string{"SCOTT.EMP"}},
		wSession{inst: 1, sid: 301, serial: 1, user: "HR", schema: "HR", machine: "hr01", program: "forms", objects: []string{"HR.JOBS"}})
	a := w.adapter(Config{})
	look, err := a.Sessions(bg(), "SCOTT")
	require.NoError(t, err)
	require.Equal(t, []string{qLookServer, qUnifiedAuditing}, sqlsOf(w.f), "one statement per look, no lookup of its own (v$option: the existing logon check)")
	var keys []string
	for _, s := range look {
		keys = append(keys, s.Key())
	}
	require.Equal(t, []string{"APP@batch02/sqlplus", "REPORTS@bi/tableau", "SCOTT@app01/java"}, keys)
	require.Equal(t, []string{engine.ViaLock}, look[1].Via)
	require.Equal(t, []string{"EMP"}, look[1].Tables)

	// The sampler keeps how each client reached it, over looks.
	acc := engine.NewSampler(nil)
	acc.Add(look)
	w.sessions[2].objects = []string{"SCOTT.DEPT"}
	again, err := a.Sessions(bg(), "SCOTT")
	require.NoError(t, err)
	acc.Add(again)
	res := acc.Result()
	require.Equal(t, "REPORTS@bi/tableau", res[1].Key())
	require.Equal(t, []string{"DEPT", "EMP"}, res[1].Tables)
	require.Equal(t, 1, res[1].Count)

	// The cut still kills only the schema's own sessions (qSessions), not those of REPORTS.
	require.NotContains(t, qSessions, "gv$access")
}

// counting scripts the counter statements of a schema on a two-instance RAC: epoch and
// counters are read from the variables, so a test can move them between readings.
type counting struct {
	w        *world
	startup  [2]string
	segments [][]any
}

func newCounting(t *testing.T) *counting {
	c := &counting{w: scott(t), startup: [2]string{"2024-05-01T06:00:00", "2024-05-01T06:02:13"}}
	c.w.f.on(qParameters, []any{"audit_trail", "NONE"}, []any{"statistics_level", "TYPICAL"})
	c.w.f.onFunc(qEpoch, func(a []any) ([][]any, error) {
		require.Empty(t, a)
		// A PDB-local connection: the container's opening on each instance.
		return rowsOf([]any{"1", c.startup[0], "READ WRITE", "2024-05-01T06:05:00.000+00:00"},
			[]any{"2", c.startup[1], "READ WRITE", "2024-05-01T06:05:01.000+00:00"}), nil
	})
	c.w.f.onFunc(qSegmentCounters, func(a []any) ([][]any, error) {
		require.Equal(t, []any{"SCOTT"}, a)
		return c.segments, nil
	})
	return c
}

func TestCountersOfASchemaAndTheAttemptsOfItsAccounts(t *testing.T) {
	c := newCounting(t)
	w := c.w
	w.audit = true
	evidence(w, "NONE", []any{"ORA_LOGON_FAILURES", "LOGON"}, []any{"RETIRE_SCOTT", "OBJECT"})
	c.segments = rowsOf([]any{"DEPT", "10", "0"}, []any{"EMP", "1200", "30"})
	const attempts = `SELECT dbusername,
SUM(CASE WHEN action_name = 'LOGON' AND return_code IN (1017, 28000) THEN 1 ELSE 0 END),
SUM(CASE WHEN action_name <> 'LOGON' AND return_code IN (1031, 942) AND object_schema = :1 THEN 1 ELSE 0 END)
FROM unified_audit_trail
WHERE event_timestamp >= (SELECT FROM_TZ(CAST(MIN(startup_time) AS TIMESTAMP), TO_CHAR(SYSTIMESTAMP, 'TZH:TZM')) FROM gv$instance)
AND return_code IN (1017, 28000, 1031, 942) AND dbusername IN (:2, :3, :4)
GROUP BY dbusername`
	w.f.onFunc(attempts, func(a []any) ([][]any, error) {
		require.Equal(t, []any{"SCOTT", "SCOTT", "APP", "REPORTS"}, a)
		return rowsOf([]any{"SCOTT", "4", "0"}, []any{"APP", "1", "2"}), nil
	})
	got, err := w.adapter(Config{}).Counters(bg(), "scott",
		[]engine.AccountRef{{User: "SCOTT"}, {User: "APP"}, {User: "REPORTS"}, {User: "APP"}})
	require.NoError(t, err)
	require.Equal(t, []string{qParameters, qEpoch, qSegmentCounters, qUnifiedAuditing, qProbeUnified, qAuditPolicies, attempts}, queries(w.f),
		"the statements, pinned: dictionary and audit views only, never the schema's tables")
	require.Empty(t, w.f.execs())
	noCallWithoutDeadline(t, w.f)
	for _, q := range sqlsOf(w.f) {
		require.NotContains(t, q, `"SCOTT".`, "retire's own reading touches none of the schema's tables")
	}

	require.True(t, got.On)
	require.Equal(t, "gv$segment_statistics", got.Source)
	require.Equal(t, "1:2024-05-01T06:00:00/READ WRITE:2024-05-01T06:05:00.000+00:00 2:2024-05-01T06:02:13/READ WRITE:2024-05-01T06:05:01.000+00:00", got.Epoch)
	require.WithinDuration(t, time.Now(), got.At, 5*time.Second)
	require.Equal(t, []engine.TableCounter{{Table: "DEPT", Reads: 10}, {Table: "EMP", Reads: 1200, Writes: 30}}, got.Tables)
	require.Equal(t, []engine.AccountCounter{
		{AccountRef: engine.AccountRef{User: "SCOTT"}, DeniedLogins: 4},
		{AccountRef: engine.AccountRef{User: "APP"}, DeniedLogins: 1, RefusedStatements: 2},
		{AccountRef: engine.AccountRef{User: "REPORTS"}},
	}, got.Accounts, "every account asked for, once, zero when the trail has nothing")

	// Without accounts, no audit statement.
	w.f.reset()
	got, err = w.adapter(Config{}).Counters(bg(), "SCOTT", nil)
	require.NoError(t, err)
	require.Equal(t, []string{qParameters, qEpoch, qSegmentCounters}, queries(w.f))
	require.Nil(t, got.Accounts)

	// The trail unreadable, or recording nothing: Accounts is empty, the tables are there.
	for _, script := range []func(){
		func() { w.f.onFunc(qProbeUnified, denied(oraNoTable)) },
		func() { w.f.on(qProbeUnified); w.f.on(qAuditPolicies) },
	} {
		script()
		got, err = w.adapter(Config{}).Counters(bg(), "SCOTT", []engine.AccountRef{{User: "APP"}})
		require.NoError(t, err)
		require.Nil(t, got.Accounts)
		require.Len(t, got.Tables, 2)
	}
}

func TestCountersTakeEachKindOfAttemptFromOneTrail(t *testing.T) {
	c := newCounting(t)
	w := c.w // mixed mode: failed logons under a unified policy, objects audited the old way
	evidence(w, "DB", []any{"ORA_LOGON_FAILURES", "LOGON"})
	w.f.on(qTraditionalAudit, []any{"1", "1", "0"})
	unified := attemptsStatement(trailUnified, 1) // pinned in full above
	const traditional = `SELECT username,
SUM(CASE WHEN action_name = 'LOGON' AND returncode IN (1017, 28000) THEN 1 ELSE 0 END),
SUM(CASE WHEN action_name <> 'LOGON' AND returncode IN (1031, 942) AND owner = :1 THEN 1 ELSE 0 END)
FROM dba_audit_trail
WHERE extended_timestamp >= (SELECT FROM_TZ(CAST(MIN(startup_time) AS TIMESTAMP), TO_CHAR(SYSTIMESTAMP, 'TZH:TZM')) FROM gv$instance)
AND returncode IN (1017, 28000, 1031, 942) AND username IN (:2)
GROUP BY username`
	w.f.on(unified, []any{"APP", "3", "5"})
	w.f.on(traditional, []any{"APP", "4", "2"})
	got, err := w.adapter(Config{}).Counters(bg(), "SCOTT", []engine.AccountRef{{User: "APP"}})
	require.NoError(t, err)
	require.Equal(t, []string{qParameters, qEpoch, qSegmentCounters, qUnifiedAuditing, qProbeUnified, qAuditPolicies, qTraditionalAudit, unified, traditional}, queries(w.f))
	require.Equal(t, []engine.AccountCounter{{AccountRef: engine.AccountRef{User: "APP"}, DeniedLogins: 3, RefusedStatements: 2}}, got.Accounts,
		"logons from the unified trail, refusals from the traditional one: none counted twice")

	// Many accounts are counted in batches.
	w.f.reset()
	var many []engine.AccountRef
	for i := range accountBatch + 1 {
		many = append(many, engine.AccountRef{User: "U" + strings.Repeat("X", i%3) + string(rune('A'+i%26)) + string(rune('A'+i/26))})
	}
	w.f.onPrefix("SELECT dbusername,", func([]any) ([][]any, error) { return nil, nil })
	w.f.onPrefix("SELECT username,", func([]any) ([][]any, error) { return nil, nil })
	got, err = w.adapter(Config{}).Counters(bg(), "SCOTT", many)
	require.NoError(t, err)
	require.Len(t, got.Accounts, accountBatch+1)
	n := 0
	for _, q := range sqlsOf(w.f) {
		if strings.HasPrefix(q, "SELECT dbusername,") {
			n++
		}
	}
	require.Equal(t, 2, n, "%d accounts per statement", accountBatch)
}

func TestCountersAcrossAnInstanceRestartAreNotComparable(t *testing.T) {
	c := newCounting(t)
	a := c.w.adapter(Config{})
	c.segments = rowsOf([]any{"DEPT", "10", "0"}, []any{"EMP", "1200", "30"})
	first, err := a.Counters(bg(), "SCOTT", nil)
	require.NoError(t, err)

	// Nobody: comparable, nothing changed.
	second, err := a.Counters(bg(), "SCOTT", nil)
	require.NoError(t, err)
	access, ok := engine.AccessBetween(first, second)
	require.True(t, ok)
	require.Empty(t, access)

	// A report read EMP and someone touched a table never read since startup.
	c.segments = rowsOf([]any{"BONUS", "3", "1"}, []any{"DEPT", "10", "0"}, []any{"EMP", "1260", "30"})
	third, err := a.Counters(bg(), "SCOTT", nil)
	require.NoError(t, err)
	access, ok = engine.AccessBetween(second, third)
	require.True(t, ok)
	require.Equal(t, []engine.TableAccess{
		{Table: "BONUS", Reads: 3, Writes: 1, From: second.At, To: third.At},
		{Table: "EMP", Reads: 60, From: second.At, To: third.At},
	}, access)

	// Instance 2 restarts: its counters start again from zero, and the epoch says so.
	c.startup[1] = "2024-05-09T22:41:07"
	c.segments = rowsOf([]any{"DEPT", "4", "0"}, []any{"EMP", "900", "2"})
	fourth, err := a.Counters(bg(), "SCOTT", nil)
	require.NoError(t, err)
	require.NotEqual(t, third.Epoch, fourth.Epoch)
	_, ok = engine.AccessBetween(third, fourth)
	require.False(t, ok, "across a restart the deltas are not complete")
	_, ok = engine.AccessBetween(first, fourth)
	require.False(t, ok)

	// And statistics_level BASIC: the reading is off, and not compared.
	c.w.f.on(qParameters, []any{"audit_trail", "NONE"}, []any{"statistics_level", "BASIC"})
	c.w.f.reset()
	off, err := a.Counters(bg(), "SCOTT", nil)
	require.NoError(t, err)
	require.False(t, off.On)
	require.Empty(t, off.Tables)
	require.Equal(t, fourth.Epoch, off.Epoch)
	require.Equal(t, []string{qParameters, qEpoch}, queries(c.w.f), "no counters read while they are off")
	_, ok = engine.AccessBetween(fourth, off)
	require.False(t, ok)
}

func TestCountersOfAPDBFromTheRoot(t *testing.T) {
	w := pdbWorld(t)
	w.f.on(qParameters, []any{"audit_trail", "DB"}, []any{"statistics_level", "TYPICAL"})
	mode := "READ WRITE"
	w.f.onFunc(qPDBEpoch, func(a []any) ([][]any, error) {
		require.Equal(t, []any{int64(3)}, a)
		return rowsOf([]any{"1", "2024-05-01T06:00:00", mode, "2024-05-01T06:05:00.000+00:00"}), nil
	})
	segments := rowsOf([]any{"APP", "ORDERS", "5", "1"}, []any{"HR", "EMP", "7", "0"}, []any{"XDB", "XDB$RESOURCE", "90", "9"})
	w.f.onFunc(qPDBSegmentCounters, func(a []any) ([][]any, error) {
		require.Equal(t, []any{int64(3), int64(3)}, a)
		return segments, nil
	})
	a := w.adapter(Config{})
	before, err := a.Counters(bg(), "pdb:salespdb", []engine.AccountRef{{User: "APP"}})
	require.NoError(t, err)
	require.Equal(t, []string{qParameters, qPDB, qPDBEpoch, qPDBSegmentCounters}, queries(w.f),
		"by container id from CDB$ROOT; no attempts for a PDB")
	require.Equal(t, []engine.TableCounter{{Table: "APP.ORDERS", Reads: 5, Writes: 1}, {Table: "HR.EMP", Reads: 7}}, before.Tables,
		"tables named as its archive names them; an Oracle-maintained user the flag forgot is left out")
	require.Nil(t, before.Accounts)
	require.Equal(t, "1:2024-05-01T06:00:00/READ WRITE:2024-05-01T06:05:00.000+00:00", before.Epoch)

	// The cut closes the PDB: its segment statistics go with it, and the epoch says so.
	mode, segments = "MOUNTED", nil
	after, err := a.Counters(bg(), "pdb:SALESPDB", nil)
	require.NoError(t, err)
	_, ok := engine.AccessBetween(before, after)
	require.False(t, ok)

	_, err = a.Counters(bg(), "pdb:NOPE", nil)
	require.ErrorIs(t, err, engine.ErrRefused)
}

func TestCountersNotPermittedNameTheGrant(t *testing.T) {
	for _, q := range []string{qParameters, qEpoch, qSegmentCounters} {
		c := newCounting(t)
		c.w.f.onFunc(q, denied(oraNoTable))
		_, err := c.w.adapter(Config{User: "retire"}).Counters(bg(), "SCOTT", nil)
		require.ErrorIs(t, err, engine.ErrRefused, "no retry grants a privilege")
		require.ErrorContains(t, err, "not permitted: GRANT SELECT ON SYS.GV_$SEGMENT_STATISTICS TO RETIRE; and SELECT on SYS.GV_$INSTANCE, SYS.GV_$PDBS, SYS.V_$PARAMETER, SYS.DBA_INDEXES, SYS.DBA_LOBS (or GRANT SELECT_CATALOG_ROLE TO RETIRE)")
		require.Zero(t, c.w.f.open)
	}
	c := newCounting(t)
	c.w.f.onFunc(qSegmentCounters, denied(3113))
	_, err := c.w.adapter(Config{}).Counters(bg(), "SCOTT", nil)
	require.NotErrorIs(t, err, engine.ErrRefused, "a lost connection is retried")
	_, err = c.w.adapter(Config{}).Counters(bg(), "SYSTEM", nil)
	require.ErrorIs(t, err, engine.ErrRefused)
}

// The events statement for two accounts, pinned.
const unifiedEvents2 = `SELECT TO_CHAR(SYS_EXTRACT_UTC(CAST(event_timestamp AS TIMESTAMP WITH TIME ZONE)), 'YYYY-MM-DD"T"HH24:MI:SS.FF6'), sessionid, entry_id,
dbusername, userhost, action_name, object_schema, object_name, return_code
FROM unified_audit_trail
WHERE (event_timestamp > FROM_TZ(TO_TIMESTAMP(:1, 'YYYY-MM-DD"T"HH24:MI:SS.FF6'), 'UTC')
OR (event_timestamp = FROM_TZ(TO_TIMESTAMP(:2, 'YYYY-MM-DD"T"HH24:MI:SS.FF6'), 'UTC') AND (sessionid > :3 OR (sessionid = :4 AND entry_id > :5))))
AND event_timestamp <= SYSTIMESTAMP - INTERVAL '5' SECOND
AND dbusername <> SYS_CONTEXT('USERENV', 'SESSION_USER')
AND (object_schema = :6 OR (return_code <> 0 AND dbusername IN (:7, :8)))
ORDER BY event_timestamp, sessionid, entry_id
FETCH FIRST 500 ROWS ONLY`

func TestAuditEventsStartNowAndReadOnFromTheCursor(t *testing.T) {
	w := scott(t)
	w.audit = true
	evidence(w, "NONE", []any{"ORA_LOGON_FAILURES", "LOGON"}, []any{"RETIRE_SCOTT", "OBJECT"})
	w.f.on(qAuditNow, []any{"2024-06-01T12:00:00.000000"})
	var page [][]any
	w.f.onFunc(unifiedEvents2, func([]any) ([][]any, error) { return page, nil })
	a := w.adapter(Config{})
	accounts := []engine.AccountRef{{User: "SCOTT"}, {User: "APP"}}

	events, cursor, err := a.AuditEvents(bg(), "scott", accounts, "")
	require.NoError(t, err)
	require.Empty(t, events, "nothing before the window counts")
	require.Equal(t, "unified 2024-06-01T12:00:00.000000 0 0", cursor)
	require.Equal(t, []string{qParameters, qUnifiedAuditing, qProbeUnified, qAuditPolicies, qAuditNow}, queries(w.f))

	// The events since, as unified_audit_trail lists them.
	page = rowsOf(
		[]any{"2024-06-01T12:00:03.250000", "880001", "1", "APP", "batch02", "SELECT", "SCOTT", "EMP", "0"},
		[]any{"2024-06-01T12:00:04.000000", "880002", "1", "SCOTT", "laptop7", "LOGON", nil, nil, "28000"},
		[]any{"2024-06-01T12:00:04.000000", "880003", "1", "APP", "batch02", "LOGON", nil, nil, "1017"},
		[]any{"2024-06-01T12:00:09.125000", "880001", "2", "APP", "batch02", "UPDATE", "SCOTT", "EMP", "1031"},
		[]any{"2024-06-01T12:00:10.000000", "880004", "3", "HR", "hr01", "DROP TABLE", "SCOTT", "BONUS", "942"},
	)
	w.f.reset()
	events, cursor, err = a.AuditEvents(bg(), "SCOTT", accounts, cursor)
	require.NoError(t, err)
	require.Equal(t, []string{qParameters, qProbeUnified, qAuditPolicies, unifiedEvents2}, queries(w.f))
	require.Equal(t, [][]any{{"2024-06-01T12:00:00.000000", "2024-06-01T12:00:00.000000", int64(0), int64(0), int64(0), "SCOTT", "SCOTT", "APP"}},
		argsOf(w.f, unifiedEvents2))
	at := func(s string) time.Time { tm, _ := time.Parse(auditTimeLayout, s); return tm }
	require.Equal(t, []engine.AuditEvent{
		{At: at("2024-06-01T12:00:03.250000"), User: "APP", Host: "batch02", Op: "READ", DB: "SCOTT", Table: "EMP"},
		{At: at("2024-06-01T12:00:04.000000"), User: "SCOTT", Host: "laptop7", Op: "FAILED_CONNECT", Code: 28000},
		{At: at("2024-06-01T12:00:04.000000"), User: "APP", Host: "batch02", Op: "FAILED_CONNECT", Code: 1017},
		{At: at("2024-06-01T12:00:09.125000"), User: "APP", Host: "batch02", Op: "WRITE", DB: "SCOTT", Table: "EMP", Code: 1031},
		{At: at("2024-06-01T12:00:10.000000"), User: "HR", Host: "hr01", Op: "DROP TABLE", DB: "SCOTT", Table: "BONUS", Code: 942},
	}, events)
	require.Equal(t, "unified 2024-06-01T12:00:10.000000 880004 3", cursor, "the last event read: timestamp, session, entry")

	// The next call goes on from there.
	page = nil
	w.f.reset()
	events, next, err := a.AuditEvents(bg(), "SCOTT", accounts, cursor)
	require.NoError(t, err)
	require.Empty(t, events)
	require.Equal(t, cursor, next, "no event: the cursor stays")
	require.Equal(t, [][]any{{"2024-06-01T12:00:10.000000", "2024-06-01T12:00:10.000000", int64(880004), int64(880004), int64(3), "SCOTT", "SCOTT", "APP"}},
		argsOf(w.f, unifiedEvents2))
	noCallWithoutDeadline(t, w.f)

	// Without accounts: the schema's objects only; and every call is bounded.
	noAccounts := eventsStatement(trailUnified, 0)
	require.Contains(t, noAccounts, "AND (object_schema = :6)\nORDER BY")
	require.Contains(t, noAccounts, "FETCH FIRST 500 ROWS ONLY")
	require.Equal(t, 500, auditBatch)
	require.Contains(t, eventsStatement(trailTraditional, 1), "AND (owner = :6 OR (returncode <> 0 AND username IN (:7)))")
}

func TestAuditEventsTakeEachKindFromOneTrail(t *testing.T) {
	w := scott(t) // mixed mode: logons under a unified policy, objects audited the old way
	evidence(w, "DB", []any{"ORA_LOGON_FAILURES", "LOGON"})
	w.f.on(qTraditionalAudit, []any{"1", "1", "0"})
	w.f.on(qAuditNow, []any{"2024-06-01T12:00:00.000000"})
	unified, traditional := eventsStatement(trailUnified, 1), eventsStatement(trailTraditional, 1)
	w.f.on(unified, []any{"2024-06-01T12:00:04.000000", "9", "1", "APP", "batch02", "LOGON", nil, nil, "28000"})
	w.f.on(traditional,
		[]any{"2024-06-01T12:00:02.000000", "7001", "4", "APP", "batch02", "SELECT", "SCOTT", "EMP", "942"},
		[]any{"2024-06-01T12:00:04.000000", "7002", "1", "APP", "batch02", "LOGON", nil, nil, "28000"}) // also in the unified trail
	a := w.adapter(Config{})
	accounts := []engine.AccountRef{{User: "APP"}}
	_, cursor, err := a.AuditEvents(bg(), "SCOTT", accounts, "")
	require.NoError(t, err)
	require.Equal(t, "unified 2024-06-01T12:00:00.000000 0 0;traditional 2024-06-01T12:00:00.000000 0 0", cursor)
	require.Equal(t, 1, strings.Count(strings.Join(queries(w.f), "\n"), qAuditNow), "one clock read for both trails")

	events, cursor, err := a.AuditEvents(bg(), "SCOTT", accounts, cursor)
	require.NoError(t, err)
	var got []string
	for _, e := range events {
		got = append(got, e.Op+" "+strconv.Itoa(e.Code))
	}
	require.Equal(t, []string{"READ 942", "FAILED_CONNECT 28000"}, got, "the logon both trails recorded is reported once")
	require.Equal(t, "unified 2024-06-01T12:00:04.000000 9 1;traditional 2024-06-01T12:00:04.000000 7002 1", cursor, "both trails move on")

	// A trail that comes into use later starts at now, the other goes on.
	w.f.reset()
	w.f.on(qTraditionalAudit, []any{"1", "0", "0"})
	w.f.on(qAuditPolicies, []any{"ORA_LOGON_FAILURES", "LOGON"}, []any{"RETIRE_SCOTT", "OBJECT"})
	_, next, err := a.AuditEvents(bg(), "SCOTT", accounts, "traditional 2024-06-01T12:00:04.000000 7002 1")
	require.NoError(t, err)
	require.Equal(t, "unified 2024-06-01T12:00:00.000000 0 0;traditional 2024-06-01T12:00:04.000000 7002 1", next,
		"unified now records both kinds and starts now; the traditional trail is no longer read, its position is kept")
	require.NotContains(t, queries(w.f), traditional)
}

func TestAuditEventsRefusals(t *testing.T) {
	w := scott(t)
	w.audit = true
	evidence(w, "NONE", []any{"RETIRE_SCOTT", "OBJECT"})
	a := w.adapter(Config{User: "retire"})

	_, _, err := a.AuditEvents(bg(), "pdb:SALESPDB", nil, "")
	require.ErrorIs(t, err, engine.ErrRefused)
	_, _, err = a.AuditEvents(bg(), "SYS", nil, "")
	require.ErrorIs(t, err, engine.ErrRefused)
	for _, bad := range []string{"garbage", "unified 2024-06-01 0 0", "unified 2024-06-01T12:00:00.000000 x 0", "mysql 2024-06-01T12:00:00.000000 0 0"} {
		_, c, err := a.AuditEvents(bg(), "SCOTT", nil, bad)
		require.ErrorIs(t, err, engine.ErrRefused, bad)
		require.Equal(t, bad, c, "a failed call gives the cursor back")
	}
	require.Empty(t, w.f.dials, "a bad cursor is refused before connecting")

	// The trail became unreadable: refused, with the grant named.
	w.f.onFunc(qProbeUnified, denied(oraNoTable))
	_, c, err := a.AuditEvents(bg(), "SCOTT", nil, "unified 2024-06-01T12:00:00.000000 0 0")
	require.ErrorIs(t, err, engine.ErrRefused)
	require.ErrorContains(t, err, "GRANT AUDIT_VIEWER TO RETIRE")
	require.Equal(t, "unified 2024-06-01T12:00:00.000000 0 0", c)

	// Readable, but no policy covers anything: nothing to read, nothing sent.
	w.f.on(qProbeUnified)
	w.f.on(qAuditPolicies)
	w.f.reset()
	events, c, err := a.AuditEvents(bg(), "SCOTT", []engine.AccountRef{{User: "APP"}}, "")
	require.NoError(t, err)
	require.Empty(t, events)
	require.Empty(t, c)
	require.Equal(t, []string{qParameters, qProbeUnified, qAuditPolicies}, queries(w.f))

	// Refused while reading the events.
	w.f.on(qAuditPolicies, []any{"RETIRE_SCOTT", "OBJECT"})
	w.f.onFunc(eventsStatement(trailUnified, 0), denied(oraNoTable))
	_, _, err = a.AuditEvents(bg(), "SCOTT", nil, "unified 2024-06-01T12:00:00.000000 0 0")
	require.ErrorIs(t, err, engine.ErrRefused)
	noCallWithoutDeadline(t, w.f)
}

func TestAuditOpsAndCursorsRoundTrip(t *testing.T) {
	for action, want := range map[string]string{"SELECT": "READ", "INSERT": "WRITE", "UPDATE": "WRITE", "DELETE": "WRITE", "MERGE": "WRITE",
		"TRUNCATE TABLE": "WRITE", "LOGOFF": "DISCONNECT", "EXECUTE": "EXECUTE", "LOCK TABLE": "LOCK TABLE"} {
		require.Equal(t, want, auditOp(action, 0), action)
	}
	require.Equal(t, "CONNECT", auditOp("LOGON", 0))
	require.Equal(t, "FAILED_CONNECT", auditOp("LOGON", 1017))
	c := "unified 2024-06-01T12:00:10.000000 880004 3;traditional 2024-06-01T11:00:00.000000 12 7"
	pos, err := parseCursor(c)
	require.NoError(t, err)
	require.Equal(t, c, formatCursor(pos))
}
