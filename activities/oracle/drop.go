package oracle

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dataretire/retire/activities/engine"
)

const (
	qUserExists       = `SELECT COUNT(*) FROM dba_users WHERE username = :1`
	qObjectsLeft      = `SELECT COUNT(*) FROM dba_objects WHERE owner = :1`
	qTablespaceExists = `SELECT COUNT(*) FROM dba_tablespaces WHERE tablespace_name = :1`
	qDatafileExists   = `SELECT COUNT(*) FROM v$datafile WHERE name = :1`
	qPDBExists        = `SELECT COUNT(*) FROM v$pdbs WHERE name = :1`
)

// Drop removes the object physically. A schema: DROP USER CASCADE, then DROP TABLESPACE
// INCLUDING CONTENTS AND DATAFILES for each tablespace only it used, each checked again
// right before (a tablespace that someone else's segment entered is refused, and nothing is
// dropped when that is known up front). A PDB: close it on every instance, then DROP
// PLUGGABLE DATABASE INCLUDING DATAFILES. The caller has re-checked every gate. Already gone
// counts as dropped.
func (a *Adapter) Drop(ctx context.Context, object string, snap engine.AccessSnapshot) error {
	t, err := a.snapshotTarget(object, snap)
	if err != nil {
		return err
	}
	c, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if t.isPDB {
		return a.dropPDB(ctx, c, t)
	}
	if err := a.refuseOwnAccount(ctx, c, t.name); err != nil {
		return err
	}
	u, err := a.lookupUser(ctx, c, t.name)
	if err != nil {
		return err
	}
	if u != nil && u.maintained {
		return fmt.Errorf("%s is an Oracle-maintained user and can never be dropped: %w", t.name, engine.ErrRefused)
	}
	names, err := a.dropTablespaces(ctx, c, t.name, u != nil, snap)
	if err != nil {
		return err
	}
	if u != nil {
		// Segments in an offline tablespace cannot be dropped with their owner.
		for _, n := range names {
			st, err := a.tablespaceStatus(ctx, c, n)
			if err != nil {
				return err
			}
			if st == statusOffline {
				if err := a.moveTablespace(ctx, c, n, statusReadOnly); err != nil {
					return err
				}
			}
		}
		if _, err := a.killSessions(ctx, c, t); err != nil {
			return err
		}
		err := a.exec(ctx, c, "DROP USER "+q(t.name)+" CASCADE")
		if err != nil && !isCode(err, oraNoUser) {
			return fmt.Errorf("drop user %s: %w", t.name, err)
		}
	}
	defaults, err := a.databaseDefaults(ctx, c)
	if err != nil {
		return err
	}
	for _, n := range names {
		ts, reasons, err := a.checkTablespace(ctx, c, n, t.name, defaults)
		if err != nil {
			return err
		}
		if ts == nil {
			continue // gone already
		}
		if len(reasons) > 0 {
			return fmt.Errorf("tablespace %s is no longer only %s's (%s); user %s is dropped but the tablespace is kept: move those objects out and drop it by hand: %w",
				n, t.name, strings.Join(reasons, "; "), t.name, engine.ErrRefused)
		}
		err = a.exec(ctx, c, "DROP TABLESPACE "+q(n)+" INCLUDING CONTENTS AND DATAFILES")
		if err != nil && !isCode(err, oraNoTablespace) {
			return fmt.Errorf("drop tablespace %s: %w", n, err)
		}
	}
	return nil
}

// dropTablespaces are the tablespaces the drop removes: those of the snapshot and, while
// the user exists, those only it uses now. Any of them that others use now stops the drop
// before anything is dropped.
func (a *Adapter) dropTablespaces(ctx context.Context, c conn, owner string, userExists bool, snap engine.AccessSnapshot) ([]string, error) {
	var names []string
	for _, ts := range snap.Tablespaces {
		names = append(names, ts.Name)
	}
	if userExists {
		split, err := a.tablespacesOf(ctx, c, owner)
		if err != nil {
			return nil, err
		}
		for _, ts := range split.own {
			if !slices.Contains(names, ts.name) {
				names = append(names, ts.name)
			}
		}
	}
	defaults, err := a.databaseDefaults(ctx, c)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		_, reasons, err := a.checkTablespace(ctx, c, n, owner, defaults)
		if err != nil {
			return nil, err
		}
		if len(reasons) > 0 {
			return nil, fmt.Errorf("tablespace %s was only %s's when access was cut but is not any more (%s); nothing was dropped: move those objects out, then retry: %w",
				n, owner, strings.Join(reasons, "; "), engine.ErrRefused)
		}
	}
	return names, nil
}

func (a *Adapter) dropPDB(ctx context.Context, c conn, t target) error {
	me, err := a.first(ctx, c, qSessionInfo)
	if err != nil {
		return fmt.Errorf("read session container: %w", err)
	}
	if me != nil && str(me[1]) != "CDB$ROOT" {
		return fmt.Errorf("this connection is in container %s; dropping a pluggable database needs CDB$ROOT: %w", str(me[1]), engine.ErrRefused)
	}
	if err := a.closePDB(ctx, c, t); err != nil {
		return err
	}
	err = a.exec(ctx, c, "DROP PLUGGABLE DATABASE "+q(t.name)+" INCLUDING DATAFILES")
	if err != nil && !isCode(err, oraNoPDB) {
		return fmt.Errorf("drop pluggable database %s: %w", t.name, err)
	}
	return nil
}

// VerifyGone proves that the user and its objects, its tablespaces and their datafiles (or
// the PDB and its datafiles) are no longer in the dictionary. BytesFreed is the caller's.
func (a *Adapter) VerifyGone(ctx context.Context, object string, snap engine.AccessSnapshot) (engine.GoneReport, error) {
	t, err := a.snapshotTarget(object, snap)
	if err != nil {
		return engine.GoneReport{}, err
	}
	c, err := a.open(ctx)
	if err != nil {
		return engine.GoneReport{}, err
	}
	defer c.Close()
	var remaining []string
	count := func(what, query string, arg any) error {
		n, err := a.int1(ctx, c, query, arg)
		if err != nil {
			return fmt.Errorf("look for %s: %w", what, err)
		}
		if n > 0 {
			remaining = append(remaining, what)
		}
		return nil
	}
	var files []string
	if t.isPDB {
		if err := count("pluggable database "+t.name, qPDBExists, t.name); err != nil {
			return engine.GoneReport{}, err
		}
		if snap.PDB != nil {
			files = snap.PDB.Datafiles
		}
	} else {
		if err := count("user "+t.name, qUserExists, t.name); err != nil {
			return engine.GoneReport{}, err
		}
		n, err := a.int1(ctx, c, qObjectsLeft, t.name)
		if err != nil {
			return engine.GoneReport{}, fmt.Errorf("look for objects of %s: %w", t.name, err)
		}
		if n > 0 {
			remaining = append(remaining, fmt.Sprintf("%d object(s) owned by %s", n, t.name))
		}
		for _, ts := range snap.Tablespaces {
			if err := count("tablespace "+ts.Name, qTablespaceExists, ts.Name); err != nil {
				return engine.GoneReport{}, err
			}
			files = append(files, ts.Datafiles...)
		}
	}
	for _, f := range files {
		if err := count("datafile "+f, qDatafileExists, f); err != nil {
			return engine.GoneReport{}, err
		}
	}
	return engine.GoneReport{Gone: len(remaining) == 0, Remaining: remaining}, nil
}

// refuseOwnAccount refuses to drop the account the connection logs in as: the retirement
// would cut the branch it sits on, halfway.
func (a *Adapter) refuseOwnAccount(ctx context.Context, c conn, name string) error {
	me, err := a.first(ctx, c, qSessionInfo)
	if err != nil {
		return fmt.Errorf("read session user: %w", err)
	}
	if me != nil && strings.EqualFold(str(me[0]), name) {
		return fmt.Errorf("%s is the account this connection logs in as: %w", name, engine.ErrRefused)
	}
	return nil
}
