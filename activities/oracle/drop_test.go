package oracle

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

func cutScott(t *testing.T) (*world, *Adapter, engine.AccessSnapshot) {
	w := scott(t)
	a := w.adapter(Config{})
	snap, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(bg(), snap)
	require.NoError(t, err)
	w.f.reset()
	return w, a, snap
}

func TestDropUserThenItsOwnTablespaces(t *testing.T) {
	w, a, snap := cutScott(t)
	w.sessions = append(w.sessions, wSession{inst: 1, sid: 5, serial: 6, user: "SCOTT", schema: "SCOTT", machine: "m", program: "p"})

	require.NoError(t, a.Drop(bg(), "SCOTT", snap))
	require.Equal(t, []string{
		`ALTER SYSTEM KILL SESSION '5,6,@1' IMMEDIATE`,
		`DROP USER "SCOTT" CASCADE`,
		`DROP TABLESPACE "SCOTT_DATA" INCLUDING CONTENTS AND DATAFILES`,
		`DROP TABLESPACE "SCOTT_HIST" INCLUDING CONTENTS AND DATAFILES`,
	}, w.f.changes())
	require.NotContains(t, w.ts, "SCOTT_DATA")
	require.Contains(t, w.ts, "USERS", "a shared tablespace is never dropped")
	noCallWithoutDeadline(t, w.f)

	rep, err := a.VerifyGone(bg(), "SCOTT", snap)
	require.NoError(t, err)
	require.Equal(t, engine.GoneReport{Gone: true}, rep)

	// Again: everything is gone already, which counts as dropped.
	w.f.reset()
	require.NoError(t, a.Drop(bg(), "SCOTT", snap))
	require.Empty(t, w.f.changes())
}

func TestDropRefusesATablespaceSomeoneElseMovedInto(t *testing.T) {
	w, a, snap := cutScott(t)
	w.segments = append(w.segments, wSeg{"HR", "SCOTT_HIST"})

	err := a.Drop(bg(), "SCOTT", snap)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), "SCOTT_HIST")
	require.Contains(t, err.Error(), "HR (segments)")
	require.Empty(t, w.f.changes(), "nothing is dropped when it is known up front")
	require.Contains(t, w.users, "SCOTT")
}

func TestDropRechecksEachTablespaceRightBeforeDroppingIt(t *testing.T) {
	w, a, snap := cutScott(t)
	// HR creates a table in SCOTT_HIST between DROP USER and DROP TABLESPACE.
	w.afterExec = func(stmt string) {
		if stmt == `DROP USER "SCOTT" CASCADE` {
			w.segments = append(w.segments, wSeg{"HR", "SCOTT_HIST"})
		}
	}
	err := a.Drop(bg(), "SCOTT", snap)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), "SCOTT_HIST is no longer only SCOTT's (HR (segments))")
	require.Equal(t, []string{
		`DROP USER "SCOTT" CASCADE`,
		`DROP TABLESPACE "SCOTT_DATA" INCLUDING CONTENTS AND DATAFILES`,
	}, w.f.changes())
	require.Contains(t, w.ts, "SCOTT_HIST")

	rep, err := a.VerifyGone(bg(), "SCOTT", snap)
	require.NoError(t, err)
	require.False(t, rep.Gone)
	require.Equal(t, []string{"tablespace SCOTT_HIST", "datafile /u02/scott_hist01.dbf"}, rep.Remaining)
}

func TestDropCountsAlreadyGoneAsDone(t *testing.T) {
	w, a, snap := cutScott(t)
	// The dictionary still shows them, but the statements find them gone (another DBA was faster).
	w.f.execHook = func(stmt string, args []any) error {
		switch stmt {
		case `DROP USER "SCOTT" CASCADE`:
			return ora(oraNoUser)
		case `DROP TABLESPACE "SCOTT_DATA" INCLUDING CONTENTS AND DATAFILES`, `DROP TABLESPACE "SCOTT_HIST" INCLUDING CONTENTS AND DATAFILES`:
			return ora(oraNoTablespace)
		}
		return w.exec(stmt, args)
	}
	require.NoError(t, a.Drop(bg(), "SCOTT", snap))

	w.f.execHook = func(stmt string, args []any) error { return ora(1031) } // insufficient privileges
	require.Error(t, a.Drop(bg(), "SCOTT", snap))
}

func TestDropBringsOfflineTablespacesBackFirst(t *testing.T) {
	w := scott(t)
	a := w.adapter(Config{TablespaceMode: "offline"})
	snap, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(bg(), snap)
	require.NoError(t, err)
	w.f.reset()
	require.NoError(t, a.Drop(bg(), "SCOTT", snap))
	require.Equal(t, []string{
		`ALTER TABLESPACE "SCOTT_DATA" ONLINE`,
		`ALTER TABLESPACE "SCOTT_DATA" READ ONLY`,
		`ALTER TABLESPACE "SCOTT_HIST" ONLINE`,
		`DROP USER "SCOTT" CASCADE`,
		`DROP TABLESPACE "SCOTT_DATA" INCLUDING CONTENTS AND DATAFILES`,
		`DROP TABLESPACE "SCOTT_HIST" INCLUDING CONTENTS AND DATAFILES`,
	}, w.f.changes())
}

func TestDropRefusesASnapshotOfAnotherObject(t *testing.T) {
	w, a, snap := cutScott(t)
	require.ErrorIs(t, a.Drop(bg(), "HR", snap), engine.ErrRefused)
	snap.Tablespaces = append(snap.Tablespaces, engine.TablespaceState{Name: "SYSAUX", Status: "ONLINE"})
	require.ErrorIs(t, a.Drop(bg(), "SCOTT", snap), engine.ErrRefused)
	require.Empty(t, w.f.changes())
}

func TestDropPDB(t *testing.T) {
	w := pdbWorld(t)
	a := w.adapter(Config{})
	snap, err := a.SnapshotAccess(bg(), "pdb:SALESPDB", engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(bg(), snap)
	require.NoError(t, err)
	w.f.reset()

	// Closed already: ORA-65020 is tolerated, then the drop.
	require.NoError(t, a.Drop(bg(), "pdb:SALESPDB", snap))
	require.Equal(t, []string{
		`ALTER PLUGGABLE DATABASE "SALESPDB" CLOSE IMMEDIATE INSTANCES=ALL`,
		`DROP PLUGGABLE DATABASE "SALESPDB" INCLUDING DATAFILES`,
	}, w.f.changes())
	rep, err := a.VerifyGone(bg(), "pdb:SALESPDB", snap)
	require.NoError(t, err)
	require.True(t, rep.Gone)

	// Gone: ORA-65011 on both statements counts as dropped.
	require.NoError(t, a.Drop(bg(), "pdb:SALESPDB", snap))
	noCallWithoutDeadline(t, w.f)
}

func TestVerifyGoneListsWhatIsLeft(t *testing.T) {
	w := pdbWorld(t)
	a := w.adapter(Config{})
	snap, err := a.SnapshotAccess(bg(), "pdb:SALESPDB", engine.StrategyRevoke)
	require.NoError(t, err)
	rep, err := a.VerifyGone(bg(), "pdb:SALESPDB", snap)
	require.NoError(t, err)
	require.Equal(t, []string{"pluggable database SALESPDB", "datafile /u02/sales/system01.dbf", "datafile /u02/sales/users01.dbf"}, rep.Remaining)

	s := scott(t)
	a = s.adapter(Config{})
	ssnap, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	rep, err = a.VerifyGone(bg(), "SCOTT", ssnap)
	require.NoError(t, err)
	require.Equal(t, []string{"user SCOTT", "3 object(s) owned by SCOTT", "tablespace SCOTT_DATA", "tablespace SCOTT_HIST",
		"datafile /u02/scott_data01.dbf", "datafile /u02/scott_data02.dbf", "datafile /u02/scott_hist01.dbf"}, rep.Remaining)
}
