package oracle

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/dataretire/retire/activities/engine"
)

const (
	// qSessionAuth is who this session is and whether it was opened AS SYSDBA (ISDBA).
	qSessionAuth = `SELECT SYS_CONTEXT('USERENV', 'SESSION_USER'), SYS_CONTEXT('USERENV', 'ISDBA') FROM dual`
	// qSessionPrivs are the system privileges of this session: granted directly and through
	// every enabled role.
	qSessionPrivs = `SELECT privilege FROM session_privs ORDER BY privilege`
	// qSessionRoles are the roles enabled in this session, nested ones included.
	qSessionRoles = `SELECT role FROM session_roles ORDER BY role`
	// qServerID is the database's DBID and the container the session is in (a PDB's
	// schemas are another PDB's namesakes, not the same objects).
	qServerID = `SELECT d.dbid, SYS_CONTEXT('USERENV', 'CON_ID'), SYS_CONTEXT('USERENV', 'CON_NAME') FROM v$database d`
)

// oraDenied are the server errors that say the account may not do what it asked; no retry
// can fix them (see classify).
var oraDenied = []int{
	1017, // ORA-01017: invalid username/password; logon denied
	1031, // ORA-01031: insufficient privileges
	1045, // ORA-01045: user lacks CREATE SESSION privilege; logon denied
}

// classify turns the errors that say the account lacks a privilege into refusals
// (engine.ErrRefused), keeping the ORA- error in the chain. Every statement goes through
// exec, each or the dialer (open), which call it, and the two that bypass them do too.
func classify(err error) error {
	if err == nil || !isCode(err, oraDenied...) {
		return err
	}
	return fmt.Errorf("%w: %w", err, engine.ErrRefused)
}

// CheckPrivileges reads the system privileges and roles of a new session of the connection's
// account and reports what the retirement of object needs and it lacks, derived from the
// statements each phase sends (comments below). A session opened AS SYSDBA can do all of it;
// a pluggable database cannot be retired without one. Object privileges on the dictionary
// views (grants-oracle.sql grants them one by one) are not checked here: SELECT_CATALOG_ROLE,
// which the archive needs anyway, covers them.
func (a *Adapter) CheckPrivileges(ctx context.Context, object string, strategy engine.Strategy) (engine.PrivilegeReport, error) {
	t, err := parseTarget(object)
	if err != nil {
		return engine.PrivilegeReport{}, err
	}
	switch strategy {
	case engine.StrategyRevoke:
	case engine.StrategyRename:
		return engine.PrivilegeReport{}, errRename
	default:
		return engine.PrivilegeReport{}, fmt.Errorf("strategy %q is not known (Oracle has only %s): %w", strategy, engine.StrategyRevoke, engine.ErrRefused)
	}
	c, err := a.open(ctx)
	if err != nil {
		return engine.PrivilegeReport{}, err
	}
	defer c.Close()
	me, err := a.first(ctx, c, qSessionAuth)
	if err != nil {
		return engine.PrivilegeReport{}, fmt.Errorf("read session user: %w", err)
	}
	if me == nil {
		return engine.PrivilegeReport{}, fmt.Errorf("read session user: no row")
	}
	rep := engine.PrivilegeReport{Account: str(me[0])}
	if strings.EqualFold(str(me[1]), "TRUE") {
		return rep, nil // AS SYSDBA: every privilege
	}
	if t.isPDB {
		// ALTER PLUGGABLE DATABASE ... CLOSE/OPEN INSTANCES=ALL (pdb.go, access.go) and DROP
		// PLUGGABLE DATABASE (drop.go) need an administrative privilege exercised at connect.
		rep.Missing = append(rep.Missing, engine.MissingPrivilege{Privilege: "SYSDBA",
			NeededFor: `needed to close, open and drop the pluggable database: connect AS SYSDBA (params: {"DBA PRIVILEGE": "SYSDBA"})`})
		return rep, nil
	}
	privs, err := a.strings1(ctx, c, qSessionPrivs)
	if err != nil {
		return engine.PrivilegeReport{}, fmt.Errorf("read session_privs: %w", err)
	}
	roles, err := a.strings1(ctx, c, qSessionRoles)
	if err != nil {
		return engine.PrivilegeReport{}, fmt.Errorf("read session_roles: %w", err)
	}
	held := map[string]bool{}
	for _, p := range append(privs, roles...) {
		held[strings.ToUpper(p)] = true
	}
	audit, err := a.unifiedAuditing(ctx, c)
	if isCode(err, oraNoTable) {
		// Sampling reads it too, and would fail the same way at every look.
		rep.Missing = append(rep.Missing, engine.MissingPrivilege{Privilege: "SELECT", On: "SYS.V_$OPTION",
			NeededFor: "needed to learn, during sampling, whether unified auditing records logons"})
	} else if err != nil {
		return engine.PrivilegeReport{}, err
	}
	need := func(reason string, alternatives ...string) {
		for _, p := range alternatives {
			if held[p] {
				return
			}
		}
		rep.Missing = append(rep.Missing, engine.MissingPrivilege{Privilege: strings.Join(alternatives, " or "), NeededFor: reason})
	}
	owner := t.name
	// Sampling (sessions.go) reads the logons of the schema's user from unified_audit_trail
	// when unified auditing is on.
	if audit {
		need("needed to read the logons of "+owner+" from the unified audit trail during sampling", "AUDIT_VIEWER", "AUDIT_ADMIN")
	}
	// The cut and its restore (access.go, tablespaces.go, sessions.go).
	need("needed to lock "+owner+" during the cut and unlock it when access is given back", "ALTER USER")
	need("needed to revoke the grants on "+owner+"'s objects during the cut and give them back", "GRANT ANY OBJECT PRIVILEGE")
	need("needed to make "+owner+"'s tablespaces read-only or offline during the cut and back", "ALTER TABLESPACE")
	need("needed to kill "+owner+"'s sessions with ALTER SYSTEM KILL SESSION", "ALTER SYSTEM")
	// The plan's row counts and the archive (inventory.go, scan.go, source.go): every table
	// of another schema is read, and DBMS_METADATA gives another schema's DDL only to
	// SELECT_CATALOG_ROLE.
	need("needed to count and export "+owner+"'s rows", "READ ANY TABLE", "SELECT ANY TABLE")
	need("needed for DBMS_METADATA to give the DDL of "+owner+"'s objects, and to read the dictionary views", "SELECT_CATALOG_ROLE")
	// The drop (drop.go).
	need("needed to drop "+owner+" with DROP USER ... CASCADE", "DROP USER")
	need("needed to drop the tablespaces only "+owner+" uses", "DROP TABLESPACE")
	return rep, nil
}

// ServerID is the database's DBID with the container this profile's sessions are in: the
// same through every profile that reaches the same database (RAC instances share the
// DBID), and told apart per PDB, whose schemas are not another PDB's namesakes.
func (a *Adapter) ServerID(ctx context.Context) (string, error) {
	c, err := a.open(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	r, err := a.first(ctx, c, qServerID)
	if err != nil {
		return "", fmt.Errorf("read the DBID (v$database): %w", err)
	}
	if r == nil {
		return "", fmt.Errorf("read the DBID (v$database): no row")
	}
	dbid, err := num(r[0])
	if err != nil {
		return "", fmt.Errorf("read the DBID (v$database): %w", err)
	}
	return engine.FormatServerID("oracle", strconv.FormatInt(dbid, 10), str(r[1]), str(r[2])), nil
}
