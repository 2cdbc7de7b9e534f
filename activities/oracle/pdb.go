package oracle

import (
	"context"
	"fmt"
	"strings"

	"github.com/dataretire/retire/activities/engine"
)

const (
	// qPDBMode is the PDB's open mode on this instance and whether it is open RESTRICTED.
	qPDBMode = `SELECT open_mode, restricted FROM v$pdbs WHERE name = :1`
	// qPDBSchemas are the schemas a PDB archive holds, read inside the PDB: every user but
	// the ones Oracle maintains (and the ones systemUsers names, whatever the flag says).
	qPDBSchemas = `SELECT username FROM dba_users WHERE oracle_maintained = 'N' ORDER BY username`
)

// pdbMode is the PDB's open mode (READ WRITE, READ ONLY, MOUNTED...) and whether it is open
// restricted; "" when the PDB does not exist.
func (a *Adapter) pdbMode(ctx context.Context, c conn, name string) (mode string, restricted bool, err error) {
	r, err := a.first(ctx, c, qPDBMode, name)
	if err != nil {
		return "", false, fmt.Errorf("read the open mode of pluggable database %s: %w", name, err)
	}
	if r == nil {
		return "", false, nil
	}
	return str(r[0]), str(r[1]) == "YES", nil
}

// setContainer moves a session of the CDB root into the PDB (the PDB retirement profile
// connects to CDB$ROOT, where it can open and close PDBs).
func (a *Adapter) setContainer(ctx context.Context, c conn, pdb string) error {
	if err := a.exec(ctx, c, "ALTER SESSION SET CONTAINER = "+q(pdb)); err != nil {
		return fmt.Errorf("switch to pluggable database %s: %w", pdb, err)
	}
	return nil
}

// openPDBForArchive opens the PDB, which the cut closed, READ ONLY RESTRICTED on every
// instance: read-only so that nothing can change the data while it is exported (the export
// reads tables on several sessions, not in one snapshot), restricted so that only accounts
// with RESTRICTED SESSION (the retirement's own, connected AS SYSDBA) can connect: a plain
// open would give every application account its access back for the hours the export takes,
// undoing the quiesce. A PDB found READ ONLY already (an earlier attempt that crashed) is
// used as it is. A PDB found READ WRITE was opened by someone since the cut: it is refused,
// never closed here, since someone may be using it again.
func (a *Adapter) openPDBForArchive(ctx context.Context, c conn, name string) error {
	for range 2 {
		mode, _, err := a.pdbMode(ctx, c, name)
		if err != nil {
			return err
		}
		switch mode {
		case "READ ONLY":
			return nil
		case "MOUNTED":
			err := a.exec(ctx, c, "ALTER PLUGGABLE DATABASE "+q(name)+" OPEN READ ONLY RESTRICTED INSTANCES=ALL")
			if isCode(err, oraPDBOpen) {
				continue // someone opened it meanwhile: look again
			}
			if err != nil {
				return fmt.Errorf("open pluggable database %s read-only for the archive: %w", name, err)
			}
			return nil
		case "":
			return fmt.Errorf("pluggable database %s does not exist on this connection: %w", name, engine.ErrRefused)
		default:
			return fmt.Errorf("pluggable database %s is open %s: it was opened since access was cut, or was never cut; "+
				"it is archived only while it cannot change (closed, then opened READ ONLY by the archive): find out who opened it: %w",
				name, mode, engine.ErrRefused)
		}
	}
	return fmt.Errorf("pluggable database %s changed its open mode twice while being opened for the archive", name)
}

// pdbSource opens a pluggable database for export: READ ONLY RESTRICTED (see
// openPDBForArchive), then every non-Oracle-maintained schema's tables, archived as
// "SCHEMA.TABLE". Close closes the PDB again, the state the cut left and the drop wants.
func (a *Adapter) pdbSource(ctx context.Context, t target, snap engine.AccessSnapshot) (_ engine.Source, err error) {
	c, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := a.mustExist(ctx, c, t); err != nil {
		return nil, err
	}
	if err := a.openPDBForArchive(ctx, c, t.name); err != nil {
		return nil, err
	}
	s := &source{a: a, pdb: t.name, snap: snap, where: map[string]tableRef{}}
	defer func() {
		if err != nil {
			// Not left open for nobody: the next attempt opens it again.
			if cerr := s.Close(); cerr != nil {
				err = fmt.Errorf("%w (and closing it again failed: %v)", err, cerr)
			}
		}
	}()
	if err := a.setContainer(ctx, c, t.name); err != nil {
		return nil, err
	}
	version, charset, err := a.serverInfo(ctx, c)
	if err != nil {
		return nil, err
	}
	s.info = engine.SourceInfo{Engine: "oracle", Version: version, Charset: charset}
	owners, err := a.strings1(ctx, c, qPDBSchemas)
	if err != nil {
		return nil, fmt.Errorf("list the schemas of %s: %w", t.name, err)
	}
	for _, o := range owners {
		if systemUsers[o] || strings.HasPrefix(o, "APEX_") || strings.HasPrefix(o, "FLOWS_") {
			continue
		}
		if _, err := quoteIdent(o); err != nil {
			return nil, err
		}
		if strings.Contains(o, ".") {
			return nil, fmt.Errorf("schema %q of %s holds a dot, so its tables' archive names (SCHEMA.TABLE) would not split back; rename it or archive it by hand: %w", o, t.name, engine.ErrRefused)
		}
		s.owners = append(s.owners, o)
		if err := s.addTables(ctx, c, o); err != nil {
			return nil, err
		}
	}
	return s, nil
}
