package oracle

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

const qPDBSavedState = `SELECT COUNT(*) FROM dba_pdb_saved_states WHERE con_name = :1`

// errRename explains why Oracle has only the revoke strategy.
var errRename = fmt.Errorf("the rename strategy moves MySQL tables into a quarantine schema; Oracle has no move that keeps grants, synonyms and PL/SQL valid, so use the revoke strategy (lock the account, revoke grants, tablespaces read-only): %w", engine.ErrRefused)

// snapshotTarget parses object and checks that the snapshot is about it: a snapshot read
// back from history must not name anything else.
func (a *Adapter) snapshotTarget(object string, snap engine.AccessSnapshot) (target, error) {
	t, err := parseTarget(object)
	if err != nil {
		return target{}, err
	}
	if snap.Object != "" {
		st, err := parseTarget(snap.Object)
		if err != nil {
			return target{}, err
		}
		if st != t {
			return target{}, fmt.Errorf("snapshot is for %s, not %s: %w", st, t, engine.ErrRefused)
		}
	}
	switch snap.Strategy {
	case "", engine.StrategyRevoke:
	case engine.StrategyRename:
		return target{}, errRename
	default:
		return target{}, fmt.Errorf("strategy %q is not known: %w", snap.Strategy, engine.ErrRefused)
	}
	if err := snapshotTablespaces(snap); err != nil {
		return target{}, err
	}
	if snap.PDB != nil && (!t.isPDB || snap.PDB.Name != t.name) {
		return target{}, fmt.Errorf("snapshot names pluggable database %q, not %s: %w", snap.PDB.Name, t, engine.ErrRefused)
	}
	for _, l := range snap.Lock {
		if t.isPDB || l.User != t.name {
			return target{}, fmt.Errorf("snapshot would lock %q, which is not %s: %w", l.User, t, engine.ErrRefused)
		}
	}
	return t, nil
}

// SnapshotAccess records, without changing anything, what Cut will change: for a schema its
// account status, the grants on its objects and the status of the tablespaces only it uses;
// for a PDB its open mode and saved state.
func (a *Adapter) SnapshotAccess(ctx context.Context, object string, strategy engine.Strategy) (engine.AccessSnapshot, error) {
	t, err := parseTarget(object)
	if err != nil {
		return engine.AccessSnapshot{}, err
	}
	switch strategy {
	case engine.StrategyRevoke:
	case engine.StrategyRename:
		return engine.AccessSnapshot{}, errRename
	default:
		return engine.AccessSnapshot{}, fmt.Errorf("strategy %q is not known (Oracle has only %s): %w", strategy, engine.StrategyRevoke, engine.ErrRefused)
	}
	c, err := a.open(ctx)
	if err != nil {
		return engine.AccessSnapshot{}, err
	}
	defer c.Close()
	if err := a.mustExist(ctx, c, t); err != nil {
		return engine.AccessSnapshot{}, err
	}
	snap := engine.AccessSnapshot{Object: t.String(), Strategy: engine.StrategyRevoke}
	if t.isPDB {
		p, err := a.lookupPDB(ctx, c, t.name)
		if err != nil {
			return engine.AccessSnapshot{}, err
		}
		saved, err := a.int1(ctx, c, qPDBSavedState, t.name)
		if err != nil {
			return engine.AccessSnapshot{}, fmt.Errorf("read dba_pdb_saved_states: %w", err)
		}
		files, _, err := a.pdbFiles(ctx, c, p)
		if err != nil {
			return engine.AccessSnapshot{}, err
		}
		_, restricted, err := a.pdbMode(ctx, c, t.name)
		if err != nil {
			return engine.AccessSnapshot{}, err
		}
		snap.PDB = &engine.PDBState{Name: t.name, OpenMode: p.openMode, Restricted: restricted && p.openMode != "MOUNTED",
			SavedState: saved > 0, Datafiles: files}
	} else {
		u, err := a.lookupUser(ctx, c, t.name)
		if err != nil {
			return engine.AccessSnapshot{}, err
		}
		snap.Lock = []engine.AccountLock{{User: t.name, WasLocked: u.locked()}}
		if snap.Grants, err = a.objectGrants(ctx, c, t.name); err != nil {
			return engine.AccessSnapshot{}, err
		}
		split, err := a.tablespacesOf(ctx, c, t.name)
		if err != nil {
			return engine.AccessSnapshot{}, err
		}
		snap.TablespaceMode = a.cfg.TablespaceMode
		for _, ts := range split.own {
			snap.Tablespaces = append(snap.Tablespaces, engine.TablespaceState{Name: ts.name, Status: ts.status, Datafiles: ts.files})
		}
	}
	snap.TakenAt = time.Now().UTC()
	return snap, nil
}

// objectGrants are the grants others hold on the owner's objects, one per grantee, object
// and privilege (column privileges of one kind together), from every grantor.
func (a *Adapter) objectGrants(ctx context.Context, c conn, owner string) ([]engine.Grant, error) {
	type key struct{ grantee, object, privilege string }
	table := map[key]bool{} // grantable
	err := a.each(ctx, c, qObjectGrants, []any{owner, owner}, func(r []any) error {
		k := key{str(r[0]), str(r[1]), str(r[2])}
		table[k] = table[k] || str(r[3]) == "YES"
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read dba_tab_privs: %w", err)
	}
	type colKey struct {
		key
		grantable bool
	}
	columns := map[colKey][]string{}
	err = a.each(ctx, c, qColumnGrants, []any{owner, owner}, func(r []any) error {
		k := colKey{key{str(r[0]), str(r[1]), str(r[2])}, str(r[3]) == "YES"}
		columns[k] = append(columns[k], str(r[4]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read dba_col_privs: %w", err)
	}
	out := []engine.Grant{}
	add := func(k key, privs string, option bool) error {
		on, err := qualified(owner, k.object)
		if err != nil {
			return err
		}
		g := engine.Grant{User: k.grantee, Privileges: privs, On: on, GrantOption: option}
		stmts, err := accessStatements(owner, []engine.Grant{g}, false)
		if err != nil {
			return err
		}
		g.Statement = stmts[0]
		out = append(out, g)
		return nil
	}
	for k, option := range table {
		if err := add(k, k.privilege, option); err != nil {
			return nil, err
		}
	}
	for k, cols := range columns {
		quoted := make([]string, len(cols))
		for i, col := range cols {
			var err error
			if quoted[i], err = quoteIdent(col); err != nil {
				return nil, err
			}
		}
		slices.Sort(quoted)
		if err := add(k.key, k.privilege+" ("+strings.Join(quoted, ", ")+")", k.grantable); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(x, y engine.Grant) int {
		return cmp.Or(cmp.Compare(x.User, y.User), cmp.Compare(x.On, y.On), cmp.Compare(x.Privileges, y.Privileges))
	})
	return out, nil
}

// splitPrivileges parses "SELECT" or `UPDATE ("A", "B")` back into the privilege word and
// the quoted column list, refusing anything else: this text is pasted into SQL.
func splitPrivileges(p string) (word, cols string, err error) {
	word, cols, hasCols := strings.Cut(p, " (")
	if !privilegeWord.MatchString(word) || strings.HasSuffix(word, " ") {
		return "", "", fmt.Errorf("privilege %q is not a plain privilege name: %w", p, engine.ErrRefused)
	}
	if !hasCols {
		return word, "", nil
	}
	if !strings.HasSuffix(cols, ")") {
		return "", "", fmt.Errorf("privilege %q has a malformed column list: %w", p, engine.ErrRefused)
	}
	var quoted []string
	for _, c := range strings.Split(strings.TrimSuffix(cols, ")"), ", ") {
		if len(c) < 3 || !strings.HasPrefix(c, `"`) || !strings.HasSuffix(c, `"`) {
			return "", "", fmt.Errorf("privilege %q has a malformed column list: %w", p, engine.ErrRefused)
		}
		qc, err := quoteIdent(c[1 : len(c)-1])
		if err != nil {
			return "", "", err
		}
		quoted = append(quoted, qc)
	}
	return word, "(" + strings.Join(quoted, ", ") + ")", nil
}

// accessStatements rebuilds each grant as GRANT (revoke false) or REVOKE, checking every
// entry first, so that a bad one stops a cut before it starts rather than halfway. REVOKE
// is per privilege for the whole object (Oracle revokes column privileges that way), and
// REFERENCES is never revoked: it gives no access to data, and revoking it once used needs
// CASCADE CONSTRAINTS, which would drop the grantee's foreign keys for good.
func accessStatements(owner string, grants []engine.Grant, revoke bool) ([]string, error) {
	out := make([]string, 0, len(grants))
	for _, g := range grants {
		word, cols, err := splitPrivileges(g.Privileges)
		if err != nil {
			return nil, err
		}
		o, name, ok := splitQualified(g.On)
		if !ok || o != owner {
			return nil, fmt.Errorf("grant to %s is not on an object of %s (%q): %w", g.User, owner, g.On, engine.ErrRefused)
		}
		on, err := qualified(o, name)
		if err != nil {
			return nil, err
		}
		to, err := grantee(g.User)
		if err != nil {
			return nil, err
		}
		if g.User == owner {
			return nil, fmt.Errorf("grant to the owner %s on %s is not one a retirement touches: %w", g.User, g.On, engine.ErrRefused)
		}
		switch {
		case revoke && word == "REFERENCES":
			out = append(out, "")
		case revoke:
			out = append(out, "REVOKE "+word+" ON "+on+" FROM "+to)
		default:
			privs := word
			if cols != "" {
				privs += " " + cols
			}
			s := "GRANT " + privs + " ON " + on + " TO " + to
			if g.GrantOption {
				s += " WITH GRANT OPTION"
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// Cut locks the schema's account, revokes the grants on its objects, kills its sessions and
// makes its tablespaces read-only (or takes them offline); a PDB is closed on every
// instance. Sessions go before the tablespaces because READ ONLY waits for every open
// transaction, theirs included. Running it again is harmless.
func (a *Adapter) Cut(ctx context.Context, snap engine.AccessSnapshot) (engine.CutResult, error) {
	t, err := a.snapshotTarget(snap.Object, snap)
	if err != nil {
		return engine.CutResult{}, err
	}
	if snap.Object == "" {
		return engine.CutResult{}, fmt.Errorf("snapshot names no object: %w", engine.ErrRefused)
	}
	revokes, err := accessStatements(t.name, snap.Grants, true)
	if err != nil {
		return engine.CutResult{}, err
	}
	c, err := a.open(ctx)
	if err != nil {
		return engine.CutResult{}, err
	}
	defer c.Close()
	if t.isPDB {
		return a.cutPDB(ctx, c, t, snap)
	}
	res := engine.CutResult{Locked: []string{}}
	for _, l := range snap.Lock {
		err := a.exec(ctx, c, "ALTER USER "+q(l.User)+" ACCOUNT LOCK")
		if isCode(err, oraNoUser) {
			continue // dropped meanwhile: nobody can log in as it
		}
		if err != nil {
			return res, fmt.Errorf("lock %s: %w", l.User, err)
		}
		res.Locked = append(res.Locked, l.User)
	}
	for i, stmt := range revokes {
		if stmt == "" {
			continue
		}
		err := a.exec(ctx, c, stmt)
		// Not granted (revoked already, or by a cascade from another revoke), grantee or
		// object gone: nothing left to revoke.
		if isCode(err, oraNotGranted, oraNoRole, oraNoUser, oraNoTable, oraNoObject) {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("revoke %s on %s from %s: %w", snap.Grants[i].Privileges, snap.Grants[i].On, snap.Grants[i].User, err)
		}
		res.Revoked++
	}
	if res.KilledSessions, err = a.killSessions(ctx, c, t); err != nil {
		return res, err
	}
	want := statusReadOnly
	if snap.TablespaceMode == modeOffline {
		want = statusOffline
	}
	for _, ts := range snap.Tablespaces {
		if ts.Status == statusOffline {
			continue // offline before the retirement: nothing to cut
		}
		if err := a.moveTablespace(ctx, c, ts.Name, want); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (a *Adapter) cutPDB(ctx context.Context, c conn, t target, snap engine.AccessSnapshot) (engine.CutResult, error) {
	if snap.PDB == nil {
		return engine.CutResult{}, fmt.Errorf("snapshot of %s has no pluggable database state: %w", t, engine.ErrRefused)
	}
	res := engine.CutResult{Locked: []string{}}
	// Closing ends every session in the PDB; count them first for the record.
	rows, err := a.sessionRows(ctx, c, t)
	if err != nil {
		return res, err
	}
	if err := a.closePDB(ctx, c, t); err != nil {
		return res, err
	}
	res.KilledSessions = len(rows)
	if snap.PDB.SavedState {
		// Otherwise a restart of the CDB would open it again in the middle of the observation.
		if err := a.exec(ctx, c, "ALTER PLUGGABLE DATABASE "+q(t.name)+" DISCARD STATE INSTANCES=ALL"); err != nil {
			return res, fmt.Errorf("discard the saved state of %s: %w", t.name, err)
		}
	}
	return res, nil
}

// closePDB closes the PDB on every instance; already closed (or gone) counts as closed.
func (a *Adapter) closePDB(ctx context.Context, c conn, t target) error {
	err := a.exec(ctx, c, "ALTER PLUGGABLE DATABASE "+q(t.name)+" CLOSE IMMEDIATE INSTANCES=ALL")
	if err != nil && !isCode(err, oraPDBClosed, oraNoPDB) {
		return fmt.Errorf("close pluggable database %s: %w", t.name, err)
	}
	return nil
}

// Restore is the exact inverse of Cut: tablespaces back to their status before, grants
// given back (WITH GRANT OPTION where they had it), the account unlocked only if it was
// not locked before; a PDB opened again in its previous mode. Running it again is harmless.
// Grants whose grantee or object was dropped since are reported after the rest is back.
func (a *Adapter) Restore(ctx context.Context, snap engine.AccessSnapshot) error {
	t, err := a.snapshotTarget(snap.Object, snap)
	if err != nil {
		return err
	}
	if snap.Object == "" {
		return fmt.Errorf("snapshot names no object: %w", engine.ErrRefused)
	}
	grants, err := accessStatements(t.name, snap.Grants, false)
	if err != nil {
		return err
	}
	c, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if t.isPDB {
		return a.restorePDB(ctx, c, t, snap)
	}
	for _, ts := range slices.Backward(snap.Tablespaces) {
		if ts.Status == statusOffline {
			continue // the cut left it alone
		}
		if err := a.moveTablespace(ctx, c, ts.Name, ts.Status); err != nil {
			return err
		}
	}
	var missing []string
	for i, stmt := range grants {
		err := a.exec(ctx, c, stmt)
		if isCode(err, oraNoRole, oraNoUser, oraNoTable, oraNoObject) {
			missing = append(missing, snap.Grants[i].Statement)
			continue
		}
		if err != nil {
			return fmt.Errorf("grant back %s on %s to %s: %w", snap.Grants[i].Privileges, snap.Grants[i].On, snap.Grants[i].User, err)
		}
	}
	for _, l := range snap.Lock {
		if l.WasLocked {
			continue
		}
		err := a.exec(ctx, c, "ALTER USER "+q(l.User)+" ACCOUNT UNLOCK")
		if isCode(err, oraNoUser) {
			return fmt.Errorf("user %s was dropped since the snapshot; only `retire restore` from the archive can bring it back: %w", l.User, engine.ErrRefused)
		}
		if err != nil {
			return fmt.Errorf("unlock %s: %w", l.User, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("access restored except for grants whose grantee or object was dropped since the snapshot: %s: %w", strings.Join(missing, "; "), engine.ErrRefused)
	}
	return nil
}

func (a *Adapter) restorePDB(ctx context.Context, c conn, t target, snap engine.AccessSnapshot) error {
	if snap.PDB == nil {
		return fmt.Errorf("snapshot of %s has no pluggable database state: %w", t, engine.ErrRefused)
	}
	want := snap.PDB.OpenMode
	switch want {
	case "READ WRITE", "READ ONLY", "MOUNTED":
	default:
		return fmt.Errorf("snapshot open mode %q of %s cannot be restored by this tool: %w", want, t, engine.ErrRefused)
	}
	restricted := snap.PDB.Restricted && want != "MOUNTED"
	mode, nowRestricted, err := a.pdbMode(ctx, c, t.name)
	if err != nil {
		return err
	}
	if mode == "" {
		return fmt.Errorf("pluggable database %s was dropped since the snapshot: %w", t.name, engine.ErrRefused)
	}
	if mode != want || (mode != "MOUNTED" && nowRestricted != restricted) {
		// Open some other way since the cut (READ ONLY RESTRICTED by the archive, or by
		// hand): Oracle opens a PDB only from MOUNTED, so it is closed first.
		if mode != "MOUNTED" {
			if err := a.closePDB(ctx, c, t); err != nil {
				return err
			}
		}
		if want != "MOUNTED" {
			open := "OPEN " + want
			if restricted {
				open += " RESTRICTED"
			}
			err := a.exec(ctx, c, "ALTER PLUGGABLE DATABASE "+q(t.name)+" "+open+" INSTANCES=ALL")
			if isCode(err, oraNoPDB) {
				return fmt.Errorf("pluggable database %s was dropped since the snapshot: %w", t.name, engine.ErrRefused)
			}
			if err != nil && !isCode(err, oraPDBOpen) {
				return fmt.Errorf("open pluggable database %s: %w", t.name, err)
			}
		}
	}
	if snap.PDB.SavedState {
		if err := a.exec(ctx, c, "ALTER PLUGGABLE DATABASE "+q(t.name)+" SAVE STATE INSTANCES=ALL"); err != nil {
			return fmt.Errorf("save the state of %s: %w", t.name, err)
		}
	}
	return nil
}
