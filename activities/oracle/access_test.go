package oracle

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

func bg() context.Context { return context.Background() }

// noCallWithoutDeadline checks invariant 7: every statement ran under a deadline.
func noCallWithoutDeadline(t *testing.T, f *fakeDB) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		require.True(t, c.Deadline, "statement without a deadline:\n%s", c.SQL)
	}
	require.Zero(t, f.open, "a session was left open")
}

func TestSnapshotRecordsAccountGrantsAndOwnTablespaces(t *testing.T) {
	w := scott(t)
	snap, err := w.adapter(Config{}).SnapshotAccess(bg(), "scott", engine.StrategyRevoke)
	require.NoError(t, err)
	require.Equal(t, "SCOTT", snap.Object)
	require.Equal(t, engine.StrategyRevoke, snap.Strategy)
	require.Equal(t, "read-only", snap.TablespaceMode)
	require.Equal(t, []engine.AccountLock{{User: "SCOTT", WasLocked: false}}, snap.Lock)
	require.Equal(t, []engine.Grant{
		{User: "APP", Privileges: "SELECT", On: `"SCOTT"."EMP"`, GrantOption: true, Statement: `GRANT SELECT ON "SCOTT"."EMP" TO "APP" WITH GRANT OPTION`},
		{User: "APP", Privileges: "UPDATE", On: `"SCOTT"."EMP"`, Statement: `GRANT UPDATE ON "SCOTT"."EMP" TO "APP"`},
		{User: "HR", Privileges: "REFERENCES", On: `"SCOTT"."DEPT"`, Statement: `GRANT REFERENCES ON "SCOTT"."DEPT" TO "HR"`},
		{User: "PUBLIC", Privileges: "SELECT", On: `"SCOTT"."DEPT"`, Statement: `GRANT SELECT ON "SCOTT"."DEPT" TO PUBLIC`},
		{User: "REPORTS", Privileges: `UPDATE ("COMM", "SAL")`, On: `"SCOTT"."EMP"`, Statement: `GRANT UPDATE ("COMM", "SAL") ON "SCOTT"."EMP" TO "REPORTS"`},
	}, snap.Grants)
	// USERS is shared (HR's segments, the database default): not the schema's to cut or drop.
	require.Equal(t, []engine.TablespaceState{
		{Name: "SCOTT_DATA", Status: "ONLINE", Datafiles: []string{"/u02/scott_data01.dbf", "/u02/scott_data02.dbf"}},
		{Name: "SCOTT_HIST", Status: "READ ONLY", Datafiles: []string{"/u02/scott_hist01.dbf"}},
	}, snap.Tablespaces)
	require.Empty(t, w.f.changes(), "a snapshot changes nothing")
	noCallWithoutDeadline(t, w.f)
}

var scottCut = []string{
	`ALTER USER "SCOTT" ACCOUNT LOCK`,
	`REVOKE SELECT ON "SCOTT"."EMP" FROM "APP"`,
	`REVOKE UPDATE ON "SCOTT"."EMP" FROM "APP"`,
	`REVOKE SELECT ON "SCOTT"."DEPT" FROM PUBLIC`,
	`REVOKE UPDATE ON "SCOTT"."EMP" FROM "REPORTS"`,
	`ALTER SYSTEM KILL SESSION '101,5001,@1' IMMEDIATE`,
	`ALTER SYSTEM KILL SESSION '77,9,@2' IMMEDIATE`,
	`ALTER TABLESPACE "SCOTT_DATA" READ ONLY`,
}

func TestCutStatementsAndOrder(t *testing.T) {
	w := scott(t)
	a := w.adapter(Config{})
	snap, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	w.f.reset()

	res, err := a.Cut(bg(), snap)
	require.NoError(t, err)
	require.Equal(t, scottCut, w.f.changes())
	require.Equal(t, engine.CutResult{Revoked: 4, Locked: []string{"SCOTT"}, KilledSessions: 2}, res)
	require.Equal(t, "LOCKED", w.users["SCOTT"].status)
	require.Equal(t, "READ ONLY", w.status("SCOTT_DATA"))
	noCallWithoutDeadline(t, w.f)
}

func TestCutTwiceIsHarmless(t *testing.T) {
	w := scott(t)
	a := w.adapter(Config{})
	snap, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(bg(), snap)
	require.NoError(t, err)
	after := w.state()
	w.f.reset()

	// Every REVOKE now fails with ORA-01927, no session is left, the tablespace is read-only.
	res, err := a.Cut(bg(), snap)
	require.NoError(t, err)
	require.Equal(t, scottCut[:5], w.f.changes())
	require.Equal(t, engine.CutResult{Revoked: 0, Locked: []string{"SCOTT"}}, res)
	require.Equal(t, after, w.state())
}

func TestRestoreIsTheExactInverseOfTheCut(t *testing.T) {
	w := scott(t)
	a := w.adapter(Config{})
	before := w.state()
	snap, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(bg(), snap)
	require.NoError(t, err)
	require.NotEqual(t, before, w.state())
	w.f.reset()

	require.NoError(t, a.Restore(bg(), snap))
	require.Equal(t, []string{
		`ALTER TABLESPACE "SCOTT_DATA" READ WRITE`,
		`GRANT SELECT ON "SCOTT"."EMP" TO "APP" WITH GRANT OPTION`,
		`GRANT UPDATE ON "SCOTT"."EMP" TO "APP"`,
		`GRANT REFERENCES ON "SCOTT"."DEPT" TO "HR"`,
		`GRANT SELECT ON "SCOTT"."DEPT" TO PUBLIC`,
		`GRANT UPDATE ("COMM", "SAL") ON "SCOTT"."EMP" TO "REPORTS"`,
		`ALTER USER "SCOTT" ACCOUNT UNLOCK`,
	}, w.f.changes())
	require.Equal(t, before, w.state(), "grants, account status and tablespace status are back exactly")
	noCallWithoutDeadline(t, w.f)

	// Again: nothing changes, nothing fails.
	require.NoError(t, a.Restore(bg(), snap))
	require.Equal(t, before, w.state())
}

func TestRestoreKeepsAnAccountThatWasLockedLocked(t *testing.T) {
	for status, unlock := range map[string]bool{"LOCKED": false, "EXPIRED & LOCKED": false, "LOCKED(TIMED)": true, "OPEN": true} {
		w := scott(t)
		w.users["SCOTT"].status = status
		a := w.adapter(Config{})
		snap, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
		require.NoError(t, err)
		require.Equal(t, !unlock, snap.Lock[0].WasLocked, status)
		_, err = a.Cut(bg(), snap)
		require.NoError(t, err)
		w.f.reset()
		require.NoError(t, a.Restore(bg(), snap))
		require.Equal(t, unlock, contains(w.f.changes(), `ALTER USER "SCOTT" ACCOUNT UNLOCK`), status)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestOfflineModeTakesTablespacesOfflineAndBack(t *testing.T) {
	w := scott(t)
	a := w.adapter(Config{TablespaceMode: "offline"})
	before := w.state()
	snap, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	require.Equal(t, "offline", snap.TablespaceMode)
	_, err = a.Cut(bg(), snap)
	require.NoError(t, err)
	require.Equal(t, []string{`ALTER TABLESPACE "SCOTT_DATA" OFFLINE NORMAL`, `ALTER TABLESPACE "SCOTT_HIST" OFFLINE NORMAL`}, w.f.changes()[7:])
	require.Equal(t, "OFFLINE", w.status("SCOTT_DATA"))
	w.f.reset()

	require.NoError(t, a.Restore(bg(), snap))
	// ONLINE brings each back as it was: SCOTT_HIST read-only, SCOTT_DATA read-write.
	require.Equal(t, []string{`ALTER TABLESPACE "SCOTT_HIST" ONLINE`, `ALTER TABLESPACE "SCOTT_DATA" ONLINE`}, w.f.changes()[:2])
	require.Equal(t, before, w.state())

	_, err = New(Config{Service: "X", TablespaceMode: "dropped"})
	require.ErrorIs(t, err, engine.ErrRefused)
}

func TestNamesWithDollarAndHashAreQuoted(t *testing.T) {
	w := newWorld(t)
	w.user("APP$X#1", "OPEN", "TS$1#")
	w.user("WEIRD#USER$", "OPEN", "USERS")
	w.tablespace("TS$1#", statusOnline, "/u02/ts1.dbf")
	w.segments = []wSeg{{"APP$X#1", "TS$1#"}}
	w.grants = []wGrant{{grantee: "WEIRD#USER$", owner: "APP$X#1", object: "T$#", privilege: "SELECT"}}
	a := w.adapter(Config{})
	snap, err := a.SnapshotAccess(bg(), "app$x#1", engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(bg(), snap)
	require.NoError(t, err)
	require.Equal(t, []string{
		`ALTER USER "APP$X#1" ACCOUNT LOCK`,
		`REVOKE SELECT ON "APP$X#1"."T$#" FROM "WEIRD#USER$"`,
		`ALTER TABLESPACE "TS$1#" READ ONLY`,
	}, w.f.changes())
	w.f.reset()
	require.NoError(t, a.Drop(bg(), "APP$X#1", snap))
	require.Equal(t, []string{`DROP USER "APP$X#1" CASCADE`, `DROP TABLESPACE "TS$1#" INCLUDING CONTENTS AND DATAFILES`}, w.f.changes())
}

func TestSystemUsersPDBsAndOddNamesAreRefused(t *testing.T) {
	w := newWorld(t)
	w.users["GHOST_MAINTAINED"] = &wUser{status: "OPEN", defaultTS: "SYSAUX", maintained: true}
	a := w.adapter(Config{})
	for _, name := range []string{
		"SYS", "sys", "SYSTEM", "XDB", "DBSNMP", "AUDSYS", "GSMADMIN_INTERNAL", "APEX_230200", "GHOST_MAINTAINED",
		"pdb:PDB$SEED", "PDB:cdb$root", "RETIRE", // the account the adapter logs in as
		`SCOTT"`, `"SCOTT"`, "SCOTT TIGER", "SCOTT;DROP", "a-b", "1SCOTT", "", "pdb:", strings.Repeat("A", 129), "_X",
	} {
		err := a.Validate(bg(), name)
		require.ErrorIs(t, err, engine.ErrRefused, "%q", name)
		_, err = a.SnapshotAccess(bg(), name, engine.StrategyRevoke)
		require.ErrorIs(t, err, engine.ErrRefused, "%q", name)
		require.ErrorIs(t, a.Drop(bg(), name, engine.AccessSnapshot{}), engine.ErrRefused, "%q", name)
		_, err = a.Inventory(bg(), name)
		require.ErrorIs(t, err, engine.ErrRefused, "%q", name)
	}
	require.Empty(t, w.f.changes())

	err := a.Validate(bg(), "NOBODY")
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), "does not exist")
	w.user("Scott", "OPEN", "USERS") // a quoted mixed-case user
	err = a.Validate(bg(), "scott")
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), `did you mean "Scott"`)
}

func TestRenameStrategyIsRefusedWithAReason(t *testing.T) {
	w := scott(t)
	a := w.adapter(Config{})
	_, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRename)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), "use the revoke strategy")
	_, err = a.Cut(bg(), engine.AccessSnapshot{Object: "SCOTT", Strategy: engine.StrategyRename})
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Empty(t, w.f.calls)
}

func TestTamperedSnapshotsChangeNothing(t *testing.T) {
	w := scott(t)
	a := w.adapter(Config{})
	good, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	tamper := map[string]func(s *engine.AccessSnapshot){
		"another object": func(s *engine.AccessSnapshot) { s.Object = "HR" },
		"grant on SYS":   func(s *engine.AccessSnapshot) { s.Grants[0].On = `"SYS"."USER$"` },
		"privilege injection": func(s *engine.AccessSnapshot) {
			s.Grants[0].Privileges = `SELECT ON "SCOTT"."EMP" TO "X"; DROP USER "Y"`
		},
		"column injection":     func(s *engine.AccessSnapshot) { s.Grants[4].Privileges = `UPDATE ("A") ON X; --)` },
		"grantee with a quote": func(s *engine.AccessSnapshot) { s.Grants[0].User = `APP" CASCADE` },
		"system tablespace":    func(s *engine.AccessSnapshot) { s.Tablespaces[0].Name = "SYSTEM" },
		"odd status":           func(s *engine.AccessSnapshot) { s.Tablespaces[0].Status = "ONLINE; DROP" },
		"lock someone else":    func(s *engine.AccessSnapshot) { s.Lock[0].User = "SYS" },
		"unknown mode":         func(s *engine.AccessSnapshot) { s.TablespaceMode = "dropped" },
		"a pdb state":          func(s *engine.AccessSnapshot) { s.PDB = &engine.PDBState{Name: "SCOTT", OpenMode: "READ WRITE"} },
	}
	for name, fn := range tamper {
		s := good
		s.Grants = append([]engine.Grant{}, good.Grants...)
		s.Tablespaces = append([]engine.TablespaceState{}, good.Tablespaces...)
		s.Lock = append([]engine.AccountLock{}, good.Lock...)
		fn(&s)
		w.f.reset()
		_, err := a.Cut(bg(), s)
		require.ErrorIs(t, err, engine.ErrRefused, name)
		require.ErrorIs(t, a.Restore(bg(), s), engine.ErrRefused, name)
		require.Empty(t, w.f.changes(), name)
	}
}

func TestRestoreReportsGrantsWhoseGranteeIsGone(t *testing.T) {
	w := scott(t)
	a := w.adapter(Config{})
	snap, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(bg(), snap)
	require.NoError(t, err)
	delete(w.users, "APP") // dropped during the observation
	w.f.reset()

	err = a.Restore(bg(), snap)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), `GRANT SELECT ON "SCOTT"."EMP" TO "APP" WITH GRANT OPTION`)
	// Everything else is back.
	require.Equal(t, "OPEN", w.users["SCOTT"].status)
	require.Equal(t, "ONLINE", w.status("SCOTT_DATA"))
	require.Contains(t, w.f.changes(), `GRANT UPDATE ("COMM", "SAL") ON "SCOTT"."EMP" TO "REPORTS"`)
}

func TestCutToleratesWhatIsAlreadyDone(t *testing.T) {
	w := scott(t)
	a := w.adapter(Config{})
	snap, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	// A session leaves between the look and the kill; a grant is revoked by a cascade.
	w.f.execHook = func(stmt string, args []any) error {
		switch stmt {
		case `ALTER SYSTEM KILL SESSION '77,9,@2' IMMEDIATE`:
			return ora(oraSessionGone)
		case `REVOKE UPDATE ON "SCOTT"."EMP" FROM "APP"`:
			return ora(oraNotGranted)
		case `REVOKE SELECT ON "SCOTT"."DEPT" FROM PUBLIC`:
			return ora(oraNoObject)
		}
		return w.exec(stmt, args)
	}
	res, err := a.Cut(bg(), snap)
	require.NoError(t, err)
	require.Equal(t, 2, res.Revoked)
	require.Equal(t, 1, res.KilledSessions)

	// A real failure stops the cut and is reported.
	w.f.execHook = func(stmt string, args []any) error {
		if strings.HasPrefix(stmt, "ALTER TABLESPACE") {
			return ora(1013)
		}
		return w.exec(stmt, args)
	}
	w.ts["SCOTT_DATA"].status = statusOnline
	_, err = a.Cut(bg(), snap)
	require.Error(t, err)
	require.NotErrorIs(t, err, engine.ErrRefused, "a cancelled statement is retried")
}

func pdbWorld(t *testing.T) *world {
	w := newWorld(t)
	w.me, w.con = "C##RETIRE", "CDB$ROOT"
	w.pdbs["SALESPDB"] = &wPDB{conID: 3, openMode: "READ WRITE", saved: true, files: []string{"/u02/sales/system01.dbf", "/u02/sales/users01.dbf"}}
	w.sessions = []wSession{{inst: 1, sid: 40, serial: 2, user: "APP", schema: "APP", machine: "web1", program: "node", conID: 3}}
	return w
}

func TestPDBCloseAndReopenInItsPreviousMode(t *testing.T) {
	for _, mode := range []string{"READ WRITE", "READ ONLY"} {
		w := pdbWorld(t)
		w.pdbs["SALESPDB"].openMode = mode
		a := w.adapter(Config{})
		snap, err := a.SnapshotAccess(bg(), "pdb:salespdb", engine.StrategyRevoke)
		require.NoError(t, err)
		require.Equal(t, "pdb:SALESPDB", snap.Object)
		require.Equal(t, &engine.PDBState{Name: "SALESPDB", OpenMode: mode, SavedState: true,
			Datafiles: []string{"/u02/sales/system01.dbf", "/u02/sales/users01.dbf"}}, snap.PDB)
		require.Empty(t, snap.Tablespaces)

		res, err := a.Cut(bg(), snap)
		require.NoError(t, err)
		require.Equal(t, 1, res.KilledSessions)
		require.Equal(t, []string{
			`ALTER PLUGGABLE DATABASE "SALESPDB" CLOSE IMMEDIATE INSTANCES=ALL`,
			`ALTER PLUGGABLE DATABASE "SALESPDB" DISCARD STATE INSTANCES=ALL`,
		}, w.f.changes())
		// Again: already closed (ORA-65020) counts as closed.
		_, err = a.Cut(bg(), snap)
		require.NoError(t, err)
		w.f.reset()

		require.NoError(t, a.Restore(bg(), snap))
		require.Equal(t, []string{
			`ALTER PLUGGABLE DATABASE "SALESPDB" OPEN ` + mode + ` INSTANCES=ALL`,
			`ALTER PLUGGABLE DATABASE "SALESPDB" SAVE STATE INSTANCES=ALL`,
		}, w.f.changes())
		require.Equal(t, mode, w.pdbs["SALESPDB"].openMode)
		require.True(t, w.pdbs["SALESPDB"].saved)
		// Again: already open (ORA-65019) counts as open.
		require.NoError(t, a.Restore(bg(), snap))
		noCallWithoutDeadline(t, w.f)
	}
}

func TestPDBNeedsTheRootContainer(t *testing.T) {
	w := pdbWorld(t)
	w.con = "SALESPDB"
	_, err := w.adapter(Config{}).SnapshotAccess(bg(), "pdb:SALESPDB", engine.StrategyRevoke)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), "CDB$ROOT")
}
