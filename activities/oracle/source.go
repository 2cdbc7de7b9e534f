package oracle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/dataretire/retire/activities/engine"
)

// Dictionary queries of the export.
const (
	qColumns = `SELECT column_name, data_type, data_type_owner, data_length, char_length, char_used, data_precision, data_scale, nullable
FROM dba_tab_cols WHERE owner = :1 AND table_name = :2 AND user_generated = 'YES' AND virtual_column = 'NO' ORDER BY internal_column_id`
	// qTransforms makes DBMS_METADATA print replayable DDL: terminated statements, no
	// storage or tablespace (the restore chooses), foreign keys apart (constraints.sql, run
	// once every table exists) and, from 12.2, no schema name, so that the DDL can be
	// replayed into another schema.
	qTransforms = `BEGIN
  DBMS_METADATA.SET_TRANSFORM_PARAM(DBMS_METADATA.SESSION_TRANSFORM, 'SQLTERMINATOR', TRUE);
  DBMS_METADATA.SET_TRANSFORM_PARAM(DBMS_METADATA.SESSION_TRANSFORM, 'PRETTY', TRUE);
  DBMS_METADATA.SET_TRANSFORM_PARAM(DBMS_METADATA.SESSION_TRANSFORM, 'STORAGE', FALSE);
  DBMS_METADATA.SET_TRANSFORM_PARAM(DBMS_METADATA.SESSION_TRANSFORM, 'SEGMENT_ATTRIBUTES', FALSE);
  DBMS_METADATA.SET_TRANSFORM_PARAM(DBMS_METADATA.SESSION_TRANSFORM, 'REF_CONSTRAINTS', FALSE);
  BEGIN
    DBMS_METADATA.SET_TRANSFORM_PARAM(DBMS_METADATA.SESSION_TRANSFORM, 'EMIT_SCHEMA', FALSE);
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
END;`
	qGetDDL          = `SELECT DBMS_METADATA.GET_DDL(:1, :2, :3) FROM dual`
	qGetDependentDDL = `SELECT DBMS_METADATA.GET_DEPENDENT_DDL(:1, :2, :3) FROM dual`
	qPLSQLObjects    = `SELECT object_name, object_type FROM dba_objects WHERE owner = :1 AND object_type IN ('TYPE', 'PACKAGE', 'PROCEDURE', 'FUNCTION')
ORDER BY DECODE(object_type, 'TYPE', 1, 'PACKAGE', 2, 3), object_name`
	qSequences = `SELECT sequence_name FROM dba_sequences WHERE sequence_owner = :1 AND sequence_name NOT LIKE 'ISEQ$$%' ORDER BY sequence_name`
	// qIndexes leaves out the indexes that the table DDL creates (primary keys, unique
	// constraints) and the ones Oracle maintains itself (LOB, IOT).
	qIndexes = `SELECT i.index_name, i.table_name FROM dba_indexes i
WHERE i.owner = :1 AND i.table_owner = :2 AND i.index_type NOT IN ('LOB', 'IOT - TOP')
AND NOT EXISTS (SELECT 1 FROM dba_constraints c WHERE c.owner = i.table_owner AND c.table_name = i.table_name
  AND c.index_name = i.index_name AND c.constraint_type IN ('P', 'U'))
ORDER BY i.table_name, i.index_name`
	qRefConstraintTables = `SELECT DISTINCT table_name FROM dba_constraints WHERE owner = :1 AND constraint_type = 'R' ORDER BY table_name`
	qOwnSynonyms         = `SELECT synonym_name FROM dba_synonyms WHERE owner = :1 ORDER BY synonym_name`
)

// DBMS_METADATA errors meaning the object is gone (ORA-31603) or has nothing of that kind (ORA-31608).
const (
	oraMetadataNotFound = 31603
	oraNoDependent      = 31608
)

// schemaMarker starts the part of a DDL file that DBMS_METADATA printed for one schema:
//
//	-- retire: schema "SCOTT"
//
// Every schema/*.sql file the export writes carries it (a PDB's object files one per
// schema), so that a restore into another schema knows which owner the statements after it
// name, and rewrites "SCOTT". to the new owner (see retarget).
const schemaMarker = `-- retire: schema `

func markerLine(owner string) string { return schemaMarker + q(owner) + "\n" }

// tableRef is where an archived table lives: a schema's own table, or for a PDB the table
// of one of its schemas, archived as "SCHEMA.TABLE".
type tableRef struct{ owner, name string }

// source is a schema, or a pluggable database opened read-only, being exported.
type source struct {
	a      *Adapter
	owner  string // the schema; "" for a PDB
	pdb    string // the PDB; "" for a schema
	info   engine.SourceInfo
	owners []string // the schemas exported, in order
	tables []string // archive names, in order
	where  map[string]tableRef
	snap   engine.AccessSnapshot

	closeOnce sync.Once
	closeErr  error
}

var _ engine.Source = (*source)(nil)

// Source opens a schema, or a pluggable database ("pdb:NAME"), for export. Under the
// offline tablespace mode, the schema's tablespaces come back online read-only first:
// offline data cannot be read. A PDB, closed by the cut, is opened READ ONLY RESTRICTED
// for the export and closed again by Close (see openPDBForArchive).
func (a *Adapter) Source(ctx context.Context, object string, snap engine.AccessSnapshot) (engine.Source, error) {
	t, err := a.snapshotTarget(object, snap)
	if err != nil {
		return nil, err
	}
	if t.isPDB {
		return a.pdbSource(ctx, t, snap)
	}
	c, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := a.mustExist(ctx, c, t); err != nil {
		return nil, err
	}
	if snap.TablespaceMode == modeOffline {
		if err := a.readableTablespaces(ctx, c, snap); err != nil {
			return nil, err
		}
	}
	version, charset, err := a.serverInfo(ctx, c)
	if err != nil {
		return nil, err
	}
	u, err := a.lookupUser(ctx, c, t.name)
	if err != nil {
		return nil, err
	}
	s := &source{a: a, owner: t.name, snap: snap, owners: []string{t.name}, where: map[string]tableRef{},
		info: engine.SourceInfo{Engine: "oracle", Version: version, Charset: charset}}
	if u != nil {
		s.info.Tablespace = u.defaultTS
	}
	if err := s.addTables(ctx, c, t.name); err != nil {
		return nil, err
	}
	return s, nil
}

// addTables lists the owner's tables. A schema's are archived under their own names, a
// PDB's as "SCHEMA.TABLE" (the schema cannot hold a dot, so the name splits back).
func (s *source) addTables(ctx context.Context, c conn, owner string) error {
	tables, err := s.a.tables(ctx, c, owner)
	if err != nil {
		return err
	}
	for _, tb := range tables {
		name := tb.name
		if s.pdb != "" {
			name = owner + "." + tb.name
		}
		if _, dup := s.where[name]; dup {
			return fmt.Errorf("table name %q is ambiguous in the archive of %s: %w", name, s.what(), engine.ErrRefused)
		}
		s.where[name] = tableRef{owner: owner, name: tb.name}
		s.tables = append(s.tables, name)
	}
	return nil
}

// readableTablespaces brings offline tablespaces of the snapshot back online, read-only.
func (a *Adapter) readableTablespaces(ctx context.Context, c conn, snap engine.AccessSnapshot) error {
	for _, ts := range snap.Tablespaces {
		if ts.Status == statusOffline {
			continue // offline before the retirement: it was not ours to open
		}
		if err := a.moveTablespace(ctx, c, ts.Name, statusReadOnly); err != nil {
			return err
		}
	}
	return nil
}

func (s *source) Info() engine.SourceInfo { return s.info }

func (s *source) Tables() []string { return slices.Clone(s.tables) }

// what names the source in messages.
func (s *source) what() string {
	if s.pdb != "" {
		return "pluggable database " + s.pdb
	}
	return s.owner
}

// Close closes a PDB again (the state the cut left it in, and the one the drop wants); a
// schema has nothing to release: every call opens and closes its own session.
func (s *source) Close() error {
	if s.pdb == "" {
		return nil
	}
	s.closeOnce.Do(func() {
		// The export's context may be gone by now; closing must still happen, under its own
		// deadline.
		ctx := context.Background()
		c, err := s.a.open(ctx)
		if err != nil {
			s.closeErr = err
			return
		}
		defer c.Close()
		s.closeErr = s.a.closePDB(ctx, c, target{name: s.pdb, isPDB: true})
	})
	return s.closeErr
}

// session opens a session for one call: in the PDB's container when exporting a PDB.
func (s *source) session(ctx context.Context, opts connOptions) (conn, error) {
	c, err := s.a.openWith(ctx, opts)
	if err != nil {
		return nil, err
	}
	if s.pdb != "" {
		if err := s.a.setContainer(ctx, c, s.pdb); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// ref refuses tables that are not in the list: the name goes into SQL.
func (s *source) ref(table string) (tableRef, error) {
	r, ok := s.where[table]
	if !ok {
		return tableRef{}, fmt.Errorf("table %q is not a table of %s: %w", table, s.what(), engine.ErrRefused)
	}
	return r, nil
}

// metadata opens a session with the DBMS_METADATA transforms set.
func (s *source) metadata(ctx context.Context) (conn, error) {
	c, err := s.session(ctx, connOptions{})
	if err != nil {
		return nil, err
	}
	if err := s.a.exec(ctx, c, qTransforms); err != nil {
		c.Close()
		return nil, fmt.Errorf("set DBMS_METADATA transforms: %w", err)
	}
	return c, nil
}

// ddl is DBMS_METADATA's DDL of one object ("" when it has gone meanwhile).
func (s *source) ddl(ctx context.Context, c conn, query, objectType, name, owner string) (string, error) {
	r, err := s.a.first(ctx, c, query, objectType, name, owner)
	if isCode(err, oraMetadataNotFound, oraNoDependent) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("DDL of %s %s.%s: %w", strings.ToLower(objectType), owner, name, err)
	}
	if r == nil {
		return "", nil
	}
	return strings.TrimSpace(str(r[0])) + "\n", nil
}

// TableDDL is CREATE TABLE as DBMS_METADATA prints it, after the line naming its schema.
func (s *source) TableDDL(ctx context.Context, table string) (string, error) {
	r, err := s.ref(table)
	if err != nil {
		return "", err
	}
	c, err := s.metadata(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	text, err := s.ddl(ctx, c, qGetDDL, "TABLE", r.name, r.owner)
	if err != nil {
		return "", err
	}
	if text == "" {
		return "", fmt.Errorf("table %s.%s has no DDL (dropped meanwhile?)", r.owner, r.name)
	}
	return markerLine(r.owner) + text, nil
}

// ddlFile is one object DDL file: which objects, and how DBMS_METADATA names their type.
type ddlFile struct {
	name   string
	header string
	list   func(ctx context.Context, c conn, owner string) ([][2]string, error) // (type, name) pairs
	query  string
}

// ObjectDDL returns views.sql, routines.sql, triggers.sql, sequences.sql, indexes.sql,
// synonyms.sql, constraints.sql, jobs.sql and grants.sql (events.sql stays empty: Oracle
// has scheduler jobs, which a restore must not start on its own, so they are apart). For a
// PDB, each file holds every exported schema's part, each after its schema marker.
func (s *source) ObjectDDL(ctx context.Context) (map[string]string, error) {
	c, err := s.metadata(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	named := func(objectType, query string) func(context.Context, conn, string) ([][2]string, error) {
		return func(ctx context.Context, c conn, owner string) ([][2]string, error) {
			names, err := s.a.strings1(ctx, c, query, owner)
			out := make([][2]string, len(names))
			for i, n := range names {
				out[i] = [2]string{objectType, n}
			}
			return out, err
		}
	}
	files := []ddlFile{
		{name: "views.sql", header: "views (FORCE: their order does not matter)", query: qGetDDL, list: named("VIEW", qViews)},
		{name: "routines.sql", header: "types, packages, procedures and functions; objects that compile with errors are recompiled at the end", query: qGetDDL,
			list: func(ctx context.Context, c conn, owner string) ([][2]string, error) {
				var out [][2]string
				err := s.a.each(ctx, c, qPLSQLObjects, []any{owner}, func(r []any) error {
					out = append(out, [2]string{str(r[1]), str(r[0])})
					return nil
				})
				return out, err
			}},
		{name: "triggers.sql", header: "triggers", query: qGetDDL, list: named("TRIGGER", qTriggers)},
		{name: "sequences.sql", header: "sequences, starting where they stood", query: qGetDDL, list: named("SEQUENCE", qSequences)},
		{name: "indexes.sql", header: "indexes not created by the table DDL", query: qGetDDL, list: s.indexes},
		{name: "synonyms.sql", header: "private synonyms", query: qGetDDL, list: named("SYNONYM", qOwnSynonyms)},
		{name: "constraints.sql", header: "foreign keys, once every table exists", query: qGetDependentDDL, list: named("REF_CONSTRAINT", qRefConstraintTables)},
		{name: "jobs.sql", header: "scheduler jobs; NOT replayed by a restore: they would start running", query: qGetDDL, list: named("PROCOBJ", qJobs)},
	}
	out := map[string]string{"events.sql": s.header("events: Oracle has none; see jobs.sql")}
	for _, f := range files {
		var b strings.Builder
		b.WriteString(s.header(f.header))
		for _, owner := range s.owners {
			items, err := f.list(ctx, c, owner)
			if err != nil {
				return nil, fmt.Errorf("list objects of %s for %s: %w", owner, f.name, err)
			}
			marked := false
			for _, it := range items {
				text, err := s.ddl(ctx, c, f.query, it[0], it[1], owner)
				if err != nil {
					return nil, err
				}
				if text == "" {
					continue
				}
				if !marked {
					b.WriteString(markerLine(owner))
					marked = true
				}
				b.WriteString(text)
				b.WriteString("\n")
			}
		}
		out[f.name] = b.String()
	}
	grants, err := s.grantsSQL(ctx, c)
	if err != nil {
		return nil, err
	}
	out["grants.sql"] = grants
	return out, nil
}

// indexes lists the owner's indexes to recreate, on exported tables only.
func (s *source) indexes(ctx context.Context, c conn, owner string) ([][2]string, error) {
	var out [][2]string
	err := s.a.each(ctx, c, qIndexes, []any{owner, owner}, func(r []any) error {
		name := str(r[1])
		if s.pdb != "" {
			name = owner + "." + name
		}
		if _, ok := s.where[name]; ok {
			out = append(out, [2]string{"INDEX", str(r[0])})
		}
		return nil
	})
	return out, err
}

func (s *source) header(what string) string {
	of := q(s.owner)
	if s.pdb != "" {
		of = "pluggable database " + q(s.pdb)
	}
	return fmt.Sprintf("-- %s of %s, as DBMS_METADATA printed them; statements end with ; and PL/SQL with /\n", what, of)
}

// grantsSQL lists the grants on the exported schemas' objects. After the cut of a schema
// the server no longer has them, so they come from the snapshot; a PDB's cut revokes
// nothing, so they come from its dictionary. The grantees themselves are not created here.
func (s *source) grantsSQL(ctx context.Context, c conn) (string, error) {
	var b strings.Builder
	b.WriteString(s.header("grants on the objects (the grantees themselves are not created here)"))
	for _, owner := range s.owners {
		grants := s.snap.Grants
		if s.pdb != "" || s.snap.Strategy != engine.StrategyRevoke || s.snap.TakenAt.IsZero() {
			var err error
			if grants, err = s.a.objectGrants(ctx, c, owner); err != nil {
				return "", err
			}
		}
		stmts, err := accessStatements(owner, grants, false)
		if err != nil {
			return "", err
		}
		if len(stmts) > 0 {
			b.WriteString(markerLine(owner))
		}
		for _, st := range stmts {
			b.WriteString(st)
			b.WriteString(";\n")
		}
	}
	return b.String(), nil
}

// columns of a table in SELECT order, with how the archive stores each.
func (a *Adapter) columns(ctx context.Context, c conn, owner, table string) ([]column, error) {
	var defs []colDef
	err := a.each(ctx, c, qColumns, []any{owner, table}, func(r []any) error {
		d := colDef{name: str(r[0]), dataType: str(r[1]), typeOwner: str(r[2]), charUsed: str(r[5]), nullable: str(r[8]) == "Y"}
		var err error
		if d.length, err = num(r[3]); err != nil {
			return err
		}
		if d.charLength, err = num(r[4]); err != nil {
			return err
		}
		for i, p := range []**int64{&d.precision, &d.scale} {
			if r[6+i] == nil {
				continue
			}
			n, err := num(r[6+i])
			if err != nil {
				return err
			}
			*p = &n
		}
		defs = append(defs, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list columns of %s.%s: %w", owner, table, err)
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("table %s.%s has no columns visible to this connection", owner, table)
	}
	cols := make([]column, len(defs))
	for i, d := range defs {
		if cols[i], err = describe(d); err != nil {
			return nil, fmt.Errorf("table %s.%s cannot be archived: %w: %w", owner, table, err, engine.ErrRefused)
		}
	}
	return cols, nil
}
