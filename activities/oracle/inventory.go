package oracle

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// Dictionary queries of the plan. They are constants so that tests script the fake by them.
const (
	qSessionInfo = `SELECT SYS_CONTEXT('USERENV', 'SESSION_USER'), SYS_CONTEXT('USERENV', 'CON_NAME') FROM dual`
	qVersion     = `SELECT version FROM product_component_version WHERE product LIKE 'Oracle%' ORDER BY version DESC FETCH FIRST 1 ROWS ONLY`
	qCharset     = `SELECT value FROM nls_database_parameters WHERE parameter = 'NLS_CHARACTERSET'`
	qUser        = `SELECT username, account_status, default_tablespace, oracle_maintained FROM dba_users WHERE username = :1`
	qUserLike    = `SELECT username FROM dba_users WHERE UPPER(username) = :1 ORDER BY username`
	qOwnerBytes  = `SELECT NVL(SUM(bytes), 0) FROM dba_segments WHERE owner = :1`
	qObjectCount = `SELECT object_type, COUNT(*) FROM dba_objects WHERE owner = :1 GROUP BY object_type ORDER BY object_type`
	// qTables lists the tables that hold data (not nested, IOT overflow, external or in the
	// recycle bin) with the bytes of their segments, LOBs and indexes.
	qTables = `SELECT t.table_name, (SELECT NVL(SUM(s.bytes), 0) FROM dba_segments s WHERE s.owner = t.owner AND (s.segment_name = t.table_name
  OR s.segment_name IN (SELECT l.segment_name FROM dba_lobs l WHERE l.owner = t.owner AND l.table_name = t.table_name)
  OR s.segment_name IN (SELECT i.index_name FROM dba_indexes i WHERE i.owner = t.owner AND i.table_name = t.table_name)))
FROM dba_tables t WHERE t.owner = :1 AND t.nested = 'NO' AND t.secondary = 'N' AND t.dropped = 'NO'
AND (t.iot_type IS NULL OR t.iot_type = 'IOT')
AND NOT EXISTS (SELECT 1 FROM dba_external_tables e WHERE e.owner = t.owner AND e.table_name = t.table_name)
ORDER BY t.table_name`
	qViews    = `SELECT view_name FROM dba_views WHERE owner = :1 ORDER BY view_name`
	qRoutines = `SELECT object_name, object_type FROM dba_objects WHERE owner = :1 AND object_type IN ('PROCEDURE', 'FUNCTION', 'PACKAGE') ORDER BY object_name, object_type`
	qTriggers = `SELECT trigger_name FROM dba_triggers WHERE owner = :1 ORDER BY trigger_name`
	qJobs     = `SELECT job_name FROM dba_scheduler_jobs WHERE owner = :1 ORDER BY job_name`
	// Grants on the schema's objects to others. Privileges on the user itself (INHERIT
	// PRIVILEGES) give no access to data and are left alone.
	qObjectGrants = `SELECT grantee, table_name, privilege, grantable FROM dba_tab_privs
WHERE owner = :1 AND grantee <> :2 AND type <> 'USER' ORDER BY grantee, table_name, privilege`
	qColumnGrants = `SELECT grantee, table_name, privilege, grantable, column_name FROM dba_col_privs
WHERE owner = :1 AND grantee <> :2 ORDER BY grantee, table_name, privilege, column_name`
	qSynonyms     = `SELECT owner, synonym_name, table_name FROM dba_synonyms WHERE table_owner = :1 AND owner <> :2 ORDER BY owner, synonym_name`
	qDependencies = `SELECT DISTINCT owner, name, type, referenced_name, referenced_type FROM dba_dependencies
WHERE referenced_owner = :1 AND owner <> :2 AND type <> 'SYNONYM' ORDER BY owner, name, referenced_name`
	qForeignKeys = `SELECT c.owner, c.table_name, c.constraint_name, r.table_name FROM dba_constraints c
JOIN dba_constraints r ON r.owner = c.r_owner AND r.constraint_name = c.r_constraint_name
WHERE c.constraint_type = 'R' AND c.r_owner = :1 AND c.owner <> :2 ORDER BY c.owner, c.table_name, c.constraint_name`
	qForeignTriggers = `SELECT owner, trigger_name, table_name FROM dba_triggers WHERE table_owner = :1 AND owner <> :2 ORDER BY owner, trigger_name`
	// qGlobalHolders are accounts whose system privileges reach every schema: revoking object
	// grants cannot cut them off.
	qGlobalHolders = `SELECT DISTINCT grantee FROM dba_sys_privs WHERE privilege IN ('SELECT ANY TABLE', 'READ ANY TABLE', 'INSERT ANY TABLE',
  'UPDATE ANY TABLE', 'DELETE ANY TABLE', 'EXECUTE ANY PROCEDURE', 'ALTER ANY TABLE', 'DROP ANY TABLE')
AND grantee NOT IN (SELECT username FROM dba_users WHERE oracle_maintained = 'Y')
AND grantee NOT IN (SELECT role FROM dba_roles WHERE oracle_maintained = 'Y') ORDER BY grantee`
	qOddColumns = `SELECT table_name, column_name, data_type, data_type_owner FROM dba_tab_cols
WHERE owner = :1 AND user_generated = 'YES' AND virtual_column = 'NO' AND (data_type_owner IS NOT NULL OR data_type IN ('BFILE', 'BOOLEAN', 'VECTOR', 'ANYDATA'))
ORDER BY table_name, column_name`

	qPDB          = `SELECT con_id, open_mode, total_size FROM v$pdbs WHERE name = :1`
	qPDBStatus    = `SELECT status FROM dba_pdbs WHERE pdb_name = :1`
	qPDBUsers     = `SELECT username FROM cdb_users WHERE con_id = :1 AND oracle_maintained = 'N' ORDER BY username`
	qPDBDatafiles = `SELECT file_name, bytes FROM cdb_data_files WHERE con_id = :1 ORDER BY file_name`
	// qPDBFiles reads the control file, which knows the datafiles of a closed PDB too.
	qPDBFiles = `SELECT name, bytes FROM v$datafile WHERE con_id = :1 ORDER BY name`
)

// userRow is the target's dba_users row.
type userRow struct {
	name, status, defaultTS string
	maintained              bool
}

// locked says whether the account was locked by a DBA. A timed lock (failed logins) ends
// by itself, so it counts as unlocked: restore must not leave it locked for good.
func (u userRow) locked() bool {
	return strings.Contains(u.status, "LOCKED") && !strings.Contains(u.status, "(TIMED)")
}

func (a *Adapter) lookupUser(ctx context.Context, c conn, name string) (*userRow, error) {
	r, err := a.first(ctx, c, qUser, name)
	if err != nil {
		return nil, fmt.Errorf("look up user %s: %w", name, err)
	}
	if r == nil {
		return nil, nil
	}
	return &userRow{name: str(r[0]), status: str(r[1]), defaultTS: str(r[2]), maintained: str(r[3]) == "Y"}, nil
}

// pdbRow is the target's v$pdbs row.
type pdbRow struct {
	conID    int64
	openMode string
	bytes    int64
}

func (a *Adapter) lookupPDB(ctx context.Context, c conn, name string) (*pdbRow, error) {
	r, err := a.first(ctx, c, qPDB, name)
	if err != nil {
		return nil, fmt.Errorf("look up pluggable database %s: %w", name, err)
	}
	if r == nil {
		return nil, nil
	}
	p := &pdbRow{openMode: str(r[1])}
	if p.conID, err = num(r[0]); err != nil {
		return nil, err
	}
	if p.bytes, err = num(r[2]); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate refuses system users and PDBs and odd names, and checks that the object exists.
func (a *Adapter) Validate(ctx context.Context, object string) error {
	t, err := parseTarget(object)
	if err != nil {
		return err
	}
	c, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return a.mustExist(ctx, c, t)
}

// mustExist refuses an object that is not there (naming a case-only near miss), an
// Oracle-maintained user, the account this adapter connects as, and a PDB when the
// connection is not in the CDB root.
func (a *Adapter) mustExist(ctx context.Context, c conn, t target) error {
	me, err := a.first(ctx, c, qSessionInfo)
	if err != nil {
		return fmt.Errorf("read session user: %w", err)
	}
	if me == nil {
		return fmt.Errorf("read session user: no row")
	}
	if t.isPDB {
		if con := str(me[1]); con != "CDB$ROOT" {
			return fmt.Errorf("this connection is in container %s; retiring a pluggable database needs a common user connected to CDB$ROOT: %w", con, engine.ErrRefused)
		}
		p, err := a.lookupPDB(ctx, c, t.name)
		if err != nil {
			return err
		}
		if p == nil {
			return fmt.Errorf("pluggable database %s does not exist on this connection: %w", t.name, engine.ErrRefused)
		}
		return nil
	}
	if strings.EqualFold(str(me[0]), t.name) {
		return fmt.Errorf("%s is the account this connection logs in as; it cannot retire itself: %w", t.name, engine.ErrRefused)
	}
	u, err := a.lookupUser(ctx, c, t.name)
	if err != nil {
		return err
	}
	if u == nil {
		names, err := a.strings1(ctx, c, qUserLike, t.name)
		if err == nil && len(names) > 0 {
			return fmt.Errorf("user %s does not exist (did you mean %q? quoted mixed-case users are not retired by this tool): %w", t.name, names[0], engine.ErrRefused)
		}
		return fmt.Errorf("user %s does not exist on this connection: %w", t.name, engine.ErrRefused)
	}
	if u.maintained {
		return fmt.Errorf("%s is an Oracle-maintained user (dba_users.oracle_maintained = 'Y') and can never be retired: %w", t.name, engine.ErrRefused)
	}
	return nil
}

// serverInfo is the version and database character set.
func (a *Adapter) serverInfo(ctx context.Context, c conn) (version, charset string, err error) {
	r, err := a.first(ctx, c, qVersion)
	if err != nil {
		return "", "", fmt.Errorf("read server version: %w", err)
	}
	if r != nil {
		version = str(r[0])
	}
	r, err = a.first(ctx, c, qCharset)
	if err != nil {
		return "", "", fmt.Errorf("read database character set: %w", err)
	}
	if r != nil {
		charset = str(r[0])
	}
	return version, charset, nil
}

// Inventory lists what the object holds and who can reach it. It changes nothing.
func (a *Adapter) Inventory(ctx context.Context, object string) (engine.Inventory, error) {
	t, err := parseTarget(object)
	if err != nil {
		return engine.Inventory{}, err
	}
	c, err := a.open(ctx)
	if err != nil {
		return engine.Inventory{}, err
	}
	defer c.Close()
	if err := a.mustExist(ctx, c, t); err != nil {
		return engine.Inventory{}, err
	}
	version, charset, err := a.serverInfo(ctx, c)
	if err != nil {
		return engine.Inventory{}, err
	}
	inv := engine.Inventory{Engine: "oracle", Version: version, Object: t.String(), Charset: charset,
		Tables: []engine.Table{}, Views: []string{}, Routines: []engine.Routine{}, Triggers: []string{},
		Events: []string{}, Accounts: []engine.Account{}, GlobalHolders: []engine.Account{}}
	if t.isPDB {
		err = a.inventoryPDB(ctx, c, t, &inv)
	} else {
		err = a.inventorySchema(ctx, c, t, &inv)
	}
	if err != nil {
		return engine.Inventory{}, err
	}
	inv.TakenAt = time.Now().UTC()
	return inv, nil
}

func (a *Adapter) inventorySchema(ctx context.Context, c conn, t target, inv *engine.Inventory) error {
	owner := t.name
	u, err := a.lookupUser(ctx, c, owner)
	if err != nil {
		return err
	}
	inv.Extra = append(inv.Extra, engine.KeyValue{Key: "account_status", Value: u.status},
		engine.KeyValue{Key: "default_tablespace", Value: u.defaultTS})
	if err := a.fillObjects(ctx, c, owner, inv); err != nil {
		return err
	}
	if inv.TotalBytes, err = a.int1(ctx, c, qOwnerBytes, owner); err != nil {
		return fmt.Errorf("size of %s: %w", owner, err)
	}
	if err := a.fillAccess(ctx, c, owner, inv); err != nil {
		return err
	}
	ts, err := a.tablespacesOf(ctx, c, owner)
	if err != nil {
		return err
	}
	for _, x := range ts.own {
		inv.Tablespaces = append(inv.Tablespaces, x.name)
		inv.Extra = append(inv.Extra, engine.KeyValue{Key: "tablespace " + x.name,
			Value: fmt.Sprintf("%s, %d bytes in %d datafile(s): %s", x.status, x.bytes, len(x.files), strings.Join(x.files, ", "))})
	}
	for _, b := range ts.blocked {
		inv.Warnings = append(inv.Warnings, fmt.Sprintf("tablespace %s is not only %s's (%s): it will be kept, only %s's objects in it are dropped",
			b.name, owner, strings.Join(b.reasons, "; "), owner))
	}
	w, err := a.outsideReferences(ctx, c, owner)
	if err != nil {
		return err
	}
	inv.Warnings = append(inv.Warnings, w...)
	odd, err := a.oddColumns(ctx, c, owner)
	if err != nil {
		return err
	}
	inv.Warnings = append(inv.Warnings, odd...)
	return nil
}

// fillObjects lists tables (with exact row counts), views, routines, triggers and
// scheduler jobs (as events), and counts every object type.
func (a *Adapter) fillObjects(ctx context.Context, c conn, owner string, inv *engine.Inventory) error {
	tables, err := a.tables(ctx, c, owner)
	if err != nil {
		return err
	}
	for _, tb := range tables {
		n, err := a.countRows(ctx, c, owner, tb.name)
		if err != nil {
			return err
		}
		inv.Tables = append(inv.Tables, engine.Table{Name: tb.name, Rows: n, Bytes: tb.bytes})
		inv.TotalRows += n
	}
	if inv.Views, err = a.strings1(ctx, c, qViews, owner); err != nil {
		return fmt.Errorf("list views of %s: %w", owner, err)
	}
	err = a.each(ctx, c, qRoutines, []any{owner}, func(r []any) error {
		inv.Routines = append(inv.Routines, engine.Routine{Name: str(r[0]), Type: str(r[1])})
		return nil
	})
	if err != nil {
		return fmt.Errorf("list routines of %s: %w", owner, err)
	}
	if inv.Triggers, err = a.strings1(ctx, c, qTriggers, owner); err != nil {
		return fmt.Errorf("list triggers of %s: %w", owner, err)
	}
	if inv.Events, err = a.strings1(ctx, c, qJobs, owner); err != nil {
		return fmt.Errorf("list scheduler jobs of %s: %w", owner, err)
	}
	return a.each(ctx, c, qObjectCount, []any{owner}, func(r []any) error {
		inv.Extra = append(inv.Extra, engine.KeyValue{Key: "objects " + str(r[0]), Value: str(r[1])})
		return nil
	})
}

type tableRow struct {
	name  string
	bytes int64
}

func (a *Adapter) tables(ctx context.Context, c conn, owner string) ([]tableRow, error) {
	var out []tableRow
	err := a.each(ctx, c, qTables, []any{owner}, func(r []any) error {
		n, err := num(r[1])
		if err != nil {
			return err
		}
		out = append(out, tableRow{name: str(r[0]), bytes: n})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", owner, err)
	}
	slices.SortFunc(out, func(x, y tableRow) int { return cmp.Compare(x.name, y.name) })
	return out, nil
}

// countRows counts exactly, each table under its own deadline.
func (a *Adapter) countRows(ctx context.Context, c conn, owner, table string) (int64, error) {
	qt, err := qualified(owner, table)
	if err != nil {
		return 0, err
	}
	n, err := a.int1(ctx, c, "SELECT COUNT(*) FROM "+qt)
	if err != nil {
		return 0, fmt.Errorf("count rows of %s.%s: %w", owner, table, err)
	}
	return n, nil
}

// fillAccess lists who holds grants on the schema's objects, and who reaches every schema.
func (a *Adapter) fillAccess(ctx context.Context, c conn, owner string, inv *engine.Inventory) error {
	grants, err := a.objectGrants(ctx, c, owner)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, g := range grants {
		if !seen[g.User] {
			seen[g.User] = true
			// The grantees keep their other access: only the schema's own account is locked.
			inv.Accounts = append(inv.Accounts, engine.Account{User: g.User, Levels: []string{"object"}})
		}
	}
	holders, err := a.strings1(ctx, c, qGlobalHolders)
	if err != nil {
		return fmt.Errorf("read dba_sys_privs: %w", err)
	}
	for _, h := range holders {
		if h != owner {
			inv.GlobalHolders = append(inv.GlobalHolders, engine.Account{User: h, Levels: []string{"global"}})
		}
	}
	if len(inv.GlobalHolders) > 0 {
		names := make([]string, len(inv.GlobalHolders))
		for i, h := range inv.GlobalHolders {
			names[i] = h.User
		}
		inv.Warnings = append(inv.Warnings, fmt.Sprintf("%d account(s) or role(s) hold ANY privileges and reach every schema; revoking grants cannot cut them off: %s",
			len(names), strings.Join(names, ", ")))
	}
	return nil
}

// outsideReferences warns about what other schemas hold that points into this one.
func (a *Adapter) outsideReferences(ctx context.Context, c conn, owner string) ([]string, error) {
	var w []string
	err := a.each(ctx, c, qSynonyms, []any{owner, owner}, func(r []any) error {
		who := "synonym " + str(r[0]) + "." + str(r[1])
		if str(r[0]) == "PUBLIC" {
			who = "PUBLIC synonym " + str(r[1])
		}
		w = append(w, fmt.Sprintf("%s points at %s.%s: applications using it will break", who, owner, str(r[2])))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read dba_synonyms: %w", err)
	}
	err = a.each(ctx, c, qDependencies, []any{owner, owner}, func(r []any) error {
		w = append(w, fmt.Sprintf("%s %s.%s depends on %s %s.%s: it becomes invalid when %s is dropped",
			strings.ToLower(str(r[2])), str(r[0]), str(r[1]), strings.ToLower(str(r[4])), owner, str(r[3]), owner))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read dba_dependencies: %w", err)
	}
	err = a.each(ctx, c, qForeignKeys, []any{owner, owner}, func(r []any) error {
		w = append(w, fmt.Sprintf("table %s.%s has a foreign key (%s) to %s.%s: DROP USER CASCADE drops that constraint",
			str(r[0]), str(r[1]), str(r[2]), owner, str(r[3])))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read dba_constraints: %w", err)
	}
	err = a.each(ctx, c, qForeignTriggers, []any{owner, owner}, func(r []any) error {
		w = append(w, fmt.Sprintf("trigger %s.%s fires on %s.%s: it is dropped with the table", str(r[0]), str(r[1]), owner, str(r[2])))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read dba_triggers: %w", err)
	}
	return w, nil
}

// oddColumns warns, at plan time, about columns the archive cannot hold.
func (a *Adapter) oddColumns(ctx context.Context, c conn, owner string) ([]string, error) {
	var w []string
	err := a.each(ctx, c, qOddColumns, []any{owner}, func(r []any) error {
		d := colDef{name: str(r[1]), dataType: str(r[2]), typeOwner: str(r[3])}
		if _, err := describe(d); err != nil {
			w = append(w, fmt.Sprintf("table %s.%s cannot be archived: %v", owner, str(r[0]), err))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read dba_tab_cols: %w", err)
	}
	return w, nil
}

func (a *Adapter) inventoryPDB(ctx context.Context, c conn, t target, inv *engine.Inventory) error {
	p, err := a.lookupPDB(ctx, c, t.name)
	if err != nil {
		return err
	}
	inv.TotalBytes = p.bytes
	inv.Extra = append(inv.Extra, engine.KeyValue{Key: "open_mode", Value: p.openMode},
		engine.KeyValue{Key: "con_id", Value: strconv.FormatInt(p.conID, 10)})
	status, err := a.strings1(ctx, c, qPDBStatus, t.name)
	if err != nil {
		return fmt.Errorf("read dba_pdbs: %w", err)
	}
	if len(status) > 0 {
		inv.Extra = append(inv.Extra, engine.KeyValue{Key: "status", Value: status[0]})
	}
	files, bytes, err := a.pdbFiles(ctx, c, p)
	if err != nil {
		return err
	}
	inv.Extra = append(inv.Extra, engine.KeyValue{Key: "datafiles",
		Value: fmt.Sprintf("%d bytes in %d datafile(s): %s", bytes, len(files), strings.Join(files, ", "))})
	if p.openMode != "MOUNTED" {
		users, err := a.strings1(ctx, c, qPDBUsers, p.conID)
		if err != nil {
			return fmt.Errorf("read cdb_users: %w", err)
		}
		inv.Extra = append(inv.Extra, engine.KeyValue{Key: "schemas", Value: strings.Join(users, ", ")})
	}
	return nil
}

// pdbFiles lists a PDB's datafiles: from cdb_data_files when it is open, from the control
// file (v$datafile) when it is not, since the CDB views do not see closed PDBs.
func (a *Adapter) pdbFiles(ctx context.Context, c conn, p *pdbRow) ([]string, int64, error) {
	query := qPDBDatafiles
	if p.openMode == "MOUNTED" {
		query = qPDBFiles
	}
	var files []string
	var total int64
	err := a.each(ctx, c, query, []any{p.conID}, func(r []any) error {
		n, err := num(r[1])
		if err != nil {
			return err
		}
		files = append(files, str(r[0]))
		total += n
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list datafiles of container %d: %w", p.conID, err)
	}
	return files, total, nil
}
