package oracle

import (
	"context"
	"fmt"
	"slices"
	"strings"

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

// source is a schema opened for export.
type source struct {
	a      *Adapter
	owner  string
	info   engine.SourceInfo
	tables []string
	snap   engine.AccessSnapshot
}

var _ engine.Source = (*source)(nil)

// Source opens a schema for export. A PDB is not exported through this adapter (it is one
// database of many schemas: retire its schemas, or archive it with RMAN or Data Pump).
// Under the offline tablespace mode, the tablespaces come back online read-only first:
// offline data cannot be read.
func (a *Adapter) Source(ctx context.Context, object string, snap engine.AccessSnapshot) (engine.Source, error) {
	t, err := a.snapshotTarget(object, snap)
	if err != nil {
		return nil, err
	}
	if t.isPDB {
		return nil, fmt.Errorf("%s: exporting a whole pluggable database is not supported here; retire its schemas one by one, or archive it with RMAN or Data Pump before retiring it: %w", t, engine.ErrRefused)
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
	tables, err := a.tables(ctx, c, t.name)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(tables))
	for i, tb := range tables {
		names[i] = tb.name
	}
	return &source{a: a, owner: t.name, snap: snap, tables: names,
		info: engine.SourceInfo{Engine: "oracle", Version: version, Charset: charset}}, nil
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

// Close has nothing to release: every call opens and closes its own session.
func (s *source) Close() error { return nil }

// known refuses tables that are not in the list: the name goes into SQL.
func (s *source) known(table string) error {
	if !slices.Contains(s.tables, table) {
		return fmt.Errorf("table %q is not a table of %s: %w", table, s.owner, engine.ErrRefused)
	}
	return nil
}

// metadata opens a session with the DBMS_METADATA transforms set.
func (s *source) metadata(ctx context.Context) (conn, error) {
	c, err := s.a.open(ctx)
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
func (s *source) ddl(ctx context.Context, c conn, query, objectType, name string) (string, error) {
	r, err := s.a.first(ctx, c, query, objectType, name, s.owner)
	if isCode(err, oraMetadataNotFound, oraNoDependent) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("DDL of %s %s.%s: %w", strings.ToLower(objectType), s.owner, name, err)
	}
	if r == nil {
		return "", nil
	}
	return strings.TrimSpace(str(r[0])) + "\n", nil
}

// TableDDL is CREATE TABLE as DBMS_METADATA prints it.
func (s *source) TableDDL(ctx context.Context, table string) (string, error) {
	if err := s.known(table); err != nil {
		return "", err
	}
	c, err := s.metadata(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	text, err := s.ddl(ctx, c, qGetDDL, "TABLE", table)
	if err != nil {
		return "", err
	}
	if text == "" {
		return "", fmt.Errorf("table %s.%s has no DDL (dropped meanwhile?)", s.owner, table)
	}
	return text, nil
}

// ddlFile is one object DDL file: which objects, and how DBMS_METADATA names their type.
type ddlFile struct {
	name   string
	header string
	list   func(ctx context.Context, c conn) ([][2]string, error) // (type, name) pairs
	query  string
}

// ObjectDDL returns views.sql, routines.sql, triggers.sql, sequences.sql, indexes.sql,
// synonyms.sql, constraints.sql, jobs.sql and grants.sql (events.sql stays empty: Oracle
// has scheduler jobs, which a restore must not start on its own, so they are apart).
func (s *source) ObjectDDL(ctx context.Context) (map[string]string, error) {
	c, err := s.metadata(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	named := func(objectType, query string, args ...any) func(context.Context, conn) ([][2]string, error) {
		return func(ctx context.Context, c conn) ([][2]string, error) {
			names, err := s.a.strings1(ctx, c, query, args...)
			out := make([][2]string, len(names))
			for i, n := range names {
				out[i] = [2]string{objectType, n}
			}
			return out, err
		}
	}
	files := []ddlFile{
		{name: "views.sql", header: "views (FORCE: their order does not matter)", query: qGetDDL, list: named("VIEW", qViews, s.owner)},
		{name: "routines.sql", header: "types, packages, procedures and functions; objects that compile with errors are recompiled at the end", query: qGetDDL,
			list: func(ctx context.Context, c conn) ([][2]string, error) {
				var out [][2]string
				err := s.a.each(ctx, c, qPLSQLObjects, []any{s.owner}, func(r []any) error {
					out = append(out, [2]string{str(r[1]), str(r[0])})
					return nil
				})
				return out, err
			}},
		{name: "triggers.sql", header: "triggers", query: qGetDDL, list: named("TRIGGER", qTriggers, s.owner)},
		{name: "sequences.sql", header: "sequences, starting where they stood", query: qGetDDL, list: named("SEQUENCE", qSequences, s.owner)},
		{name: "indexes.sql", header: "indexes not created by the table DDL", query: qGetDDL, list: s.indexes},
		{name: "synonyms.sql", header: "private synonyms", query: qGetDDL, list: named("SYNONYM", qOwnSynonyms, s.owner)},
		{name: "constraints.sql", header: "foreign keys, once every table exists", query: qGetDependentDDL, list: named("REF_CONSTRAINT", qRefConstraintTables, s.owner)},
		{name: "jobs.sql", header: "scheduler jobs; NOT replayed by a restore: they would start running", query: qGetDDL, list: named("PROCOBJ", qJobs, s.owner)},
	}
	out := map[string]string{"events.sql": s.header("events: Oracle has none; see jobs.sql")}
	for _, f := range files {
		items, err := f.list(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("list objects for %s: %w", f.name, err)
		}
		var b strings.Builder
		b.WriteString(s.header(f.header))
		for _, it := range items {
			text, err := s.ddl(ctx, c, f.query, it[0], it[1])
			if err != nil {
				return nil, err
			}
			b.WriteString(text)
			if text != "" {
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

// indexes lists the indexes to recreate, on exported tables only.
func (s *source) indexes(ctx context.Context, c conn) ([][2]string, error) {
	var out [][2]string
	err := s.a.each(ctx, c, qIndexes, []any{s.owner, s.owner}, func(r []any) error {
		if slices.Contains(s.tables, str(r[1])) {
			out = append(out, [2]string{"INDEX", str(r[0])})
		}
		return nil
	})
	return out, err
}

func (s *source) header(what string) string {
	return fmt.Sprintf("-- %s of %s, as DBMS_METADATA printed them; statements end with ; and PL/SQL with /\n", what, q(s.owner))
}

// grantsSQL lists the grants on the schema's objects. After the cut the server no longer
// has them, so they come from the snapshot; the grantees themselves are not created here.
func (s *source) grantsSQL(ctx context.Context, c conn) (string, error) {
	grants := s.snap.Grants
	if s.snap.Strategy != engine.StrategyRevoke || s.snap.TakenAt.IsZero() {
		var err error
		if grants, err = s.a.objectGrants(ctx, c, s.owner); err != nil {
			return "", err
		}
	}
	stmts, err := accessStatements(s.owner, grants, false)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(s.header("grants on the objects (the grantees themselves are not created here)"))
	for _, st := range stmts {
		b.WriteString(st)
		b.WriteString(";\n")
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
