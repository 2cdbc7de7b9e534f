package oracle

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// documentedPrivs is what session_privs shows for the account of grants-oracle.sql, part 1.
var documentedPrivs = []string{"ALTER SYSTEM", "ALTER TABLESPACE", "ALTER USER", "CREATE SESSION", "DROP TABLESPACE", "DROP USER",
	"GRANT ANY OBJECT PRIVILEGE", "READ ANY TABLE"}

// privileged scripts the session's own privileges: who it is, AS SYSDBA or not, its system
// privileges and its roles.
func (w *world) privileged(isDBA bool, privs, roles []string) {
	dba := "FALSE"
	if isDBA {
		dba = "TRUE"
	}
	w.f.on(qSessionAuth, []any{w.me, dba})
	var p, r [][]any
	for _, x := range privs {
		p = append(p, []any{x})
	}
	for _, x := range roles {
		r = append(r, []any{x})
	}
	w.f.onFunc(qSessionPrivs, func([]any) ([][]any, error) { return p, nil })
	w.f.onFunc(qSessionRoles, func([]any) ([][]any, error) { return r, nil })
}

func TestCheckPrivilegesOfTheDocumentedAccountFindsNothingMissing(t *testing.T) {
	w := scott(t)
	w.audit = true
	w.privileged(false, documentedPrivs, []string{"AUDIT_VIEWER", "HS_ADMIN_SELECT_ROLE", "SELECT_CATALOG_ROLE"})
	a := w.adapter(Config{})
	rep, err := a.CheckPrivileges(bg(), "scott", engine.StrategyRevoke)
	require.NoError(t, err)
	require.Equal(t, engine.PrivilegeReport{Account: "RETIRE"}, rep)
	require.NoError(t, rep.Err())
	require.Equal(t, []string{qSessionAuth, qSessionPrivs, qSessionRoles, qUnifiedAuditing}, queries(w.f), "the statements, pinned")
	require.Empty(t, w.f.execs(), "the probe changes nothing")
	noCallWithoutDeadline(t, w.f)
}

// One refusal names everything missing, in the order the phases need it.
func TestCheckPrivilegesNamesEveryMissingOne(t *testing.T) {
	w := scott(t)
	w.audit = true
	w.privileged(false, []string{"ALTER TABLESPACE", "ALTER USER", "CREATE SESSION", "DROP TABLESPACE", "GRANT ANY OBJECT PRIVILEGE", "SELECT ANY TABLE"},
		[]string{"SELECT_CATALOG_ROLE"})
	rep, err := w.adapter(Config{}).CheckPrivileges(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	require.Equal(t, []engine.MissingPrivilege{
		{Privilege: "AUDIT_VIEWER or AUDIT_ADMIN", NeededFor: "needed to read the logons of SCOTT from the unified audit trail during sampling"},
		{Privilege: "ALTER SYSTEM", NeededFor: "needed to kill SCOTT's sessions with ALTER SYSTEM KILL SESSION"},
		{Privilege: "DROP USER", NeededFor: "needed to drop SCOTT with DROP USER ... CASCADE"},
	}, rep.Missing, "SELECT ANY TABLE does for READ ANY TABLE")
	err = rep.Err()
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), "the retire account RETIRE lacks AUDIT_VIEWER or AUDIT_ADMIN (needed to read the logons of SCOTT from the unified audit trail during sampling), ALTER SYSTEM (needed to kill SCOTT's sessions with ALTER SYSTEM KILL SESSION), DROP USER (needed to drop SCOTT with DROP USER ... CASCADE)")

	// Without unified auditing the audit trail is not read, and not needed.
	w = scott(t)
	w.privileged(false, documentedPrivs, nil)
	rep, err = w.adapter(Config{}).CheckPrivileges(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	require.Equal(t, []engine.MissingPrivilege{{Privilege: "SELECT_CATALOG_ROLE",
		NeededFor: "needed for DBMS_METADATA to give the DDL of SCOTT's objects, and to read the dictionary views"}}, rep.Missing)

	// v$option unreadable: sampling could not tell whether to read the audit trail.
	w = scott(t)
	w.privileged(false, documentedPrivs, []string{"SELECT_CATALOG_ROLE"})
	w.f.onFunc(qUnifiedAuditing, func([]any) ([][]any, error) { return nil, ora(oraNoTable) })
	rep, err = w.adapter(Config{}).CheckPrivileges(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	require.Equal(t, []string{"SELECT on SYS.V_$OPTION (needed to learn, during sampling, whether unified auditing records logons)"}, missingStrings(rep))
}

func missingStrings(rep engine.PrivilegeReport) []string {
	var out []string
	for _, m := range rep.Missing {
		out = append(out, m.String())
	}
	return out
}

func TestCheckPrivilegesOfAPDBNeedsSYSDBA(t *testing.T) {
	w := newWorld(t)
	w.con = "CDB$ROOT"
	w.pdbs["SALESPDB"] = &wPDB{conID: 3, openMode: "READ WRITE"}
	w.privileged(false, documentedPrivs, []string{"SELECT_CATALOG_ROLE", "DBA"})
	rep, err := w.adapter(Config{}).CheckPrivileges(bg(), "pdb:salespdb", engine.StrategyRevoke)
	require.NoError(t, err)
	require.Len(t, rep.Missing, 1)
	require.Equal(t, "SYSDBA", rep.Missing[0].Privilege)
	require.Contains(t, rep.Err().Error(), `connect AS SYSDBA (params: {"DBA PRIVILEGE": "SYSDBA"})`)

	// AS SYSDBA everything is there: nothing more is read.
	w.privileged(true, nil, nil)
	w.f.reset()
	rep, err = w.adapter(Config{}).CheckPrivileges(bg(), "pdb:SALESPDB", engine.StrategyRevoke)
	require.NoError(t, err)
	require.Empty(t, rep.Missing)
	require.Equal(t, []string{qSessionAuth}, queries(w.f))

	_, err = w.adapter(Config{}).CheckPrivileges(bg(), "SCOTT", engine.StrategyRename)
	require.ErrorIs(t, err, engine.ErrRefused, "Oracle has no rename strategy")
	_, err = w.adapter(Config{}).CheckPrivileges(bg(), "SYS", engine.StrategyRevoke)
	require.ErrorIs(t, err, engine.ErrRefused)
}

func TestServerIDIsTheDBIDAndTheContainer(t *testing.T) {
	w := newWorld(t)
	w.f.on(qServerID, []any{int64(1234567890), "3", "FREEPDB1"})
	id, err := w.adapter(Config{}).ServerID(bg())
	require.NoError(t, err)
	require.Equal(t, "oracle:1234567890:3:FREEPDB1", id)
	require.Equal(t, []string{qServerID}, queries(w.f))
	noCallWithoutDeadline(t, w.f)

	// go-ora gives NUMBER as text; a container name is printed safe for a workflow id.
	w.f.on(qServerID, []any{"987654321", "1", "CDB$ROOT"})
	id, err = w.adapter(Config{}).ServerID(bg())
	require.NoError(t, err)
	require.Equal(t, "oracle:987654321:1:CDB%24ROOT", id)

	w.f.on(qServerID)
	_, err = w.adapter(Config{}).ServerID(bg())
	require.Error(t, err)
}

// ORA-01031 (insufficient privileges) and the logon refusals are final: a retry cannot
// grant the privilege.
func TestInsufficientPrivilegesIsARefusal(t *testing.T) {
	w, a, snap := cutScott(t)
	w.f.execHook = func(stmt string, args []any) error { return ora(1031) }
	err := a.Drop(bg(), "SCOTT", snap)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Equal(t, 1031, oraCode(err), "the ORA- error stays in the chain")
	require.Contains(t, w.users, "SCOTT")

	w.f.execHook = func(stmt string, args []any) error { return ora(54) } // resource busy: worth a retry
	err = a.Drop(bg(), "SCOTT", snap)
	require.Error(t, err)
	require.NotErrorIs(t, err, engine.ErrRefused)

	for _, code := range []int{1017, 1031, 1045} {
		require.ErrorIs(t, classify(ora(code)), engine.ErrRefused, "ORA-%05d", code)
	}
	require.NoError(t, classify(nil))
	plain := errors.New("connection reset by peer")
	require.Equal(t, plain, classify(plain))
}
