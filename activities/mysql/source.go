package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/dataretire/retire/activities/engine"
)

// source is a database opened for export. Views, routines, triggers, events and grants are
// read from the database itself; the tables from wherever they are now (the quarantine
// schema once strategy rename has moved them).
type source struct {
	a      *Adapter
	pool   *sql.DB
	object string
	data   string
	info   engine.SourceInfo
	tables []string
	snap   engine.AccessSnapshot

	mu    sync.Mutex
	metas map[string]*tableMeta // per table: columns and chunking key, read once
}

var (
	_ engine.Source  = (*source)(nil)
	_ engine.Chunker = (*source)(nil)
)

// Source opens db for export. Its pool uses db as default database, so SHOW CREATE prints
// names relative to it and the DDL can be replayed under another name.
func (a *Adapter) Source(ctx context.Context, db string, snap engine.AccessSnapshot) (engine.Source, error) {
	if err := ValidIdentifier(db); err != nil {
		return nil, err
	}
	if snap.Object != "" && snap.Object != db {
		return nil, fmt.Errorf("snapshot is for database %q, not %q: %w", snap.Object, db, engine.ErrRefused)
	}
	data := db
	if snap.Strategy == engine.StrategyRename {
		snap.Object = db
		q, err := checkQuarantine(snap)
		if err != nil {
			return nil, err
		}
		data = q
	}
	pool, err := a.openIn(db)
	if err != nil {
		return nil, err
	}
	s, err := a.newSource(ctx, pool, db, data, snap)
	if err != nil {
		pool.Close()
		if mysqlErrno(err) == errBadDB {
			return nil, fmt.Errorf("database %q does not exist on this connection: %w", db, engine.ErrRefused)
		}
		return nil, err
	}
	return s, nil
}

func (a *Adapter) newSource(ctx context.Context, pool *sql.DB, db, data string, snap engine.AccessSnapshot) (*source, error) {
	si, err := a.serverInfo(ctx, pool)
	if err != nil {
		return nil, err
	}
	ok, charset, _, err := a.schemaExists(ctx, pool, db)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, a.mustExist(ctx, pool, db)
	}
	tables, err := a.baseTables(ctx, pool, data)
	if err != nil {
		return nil, err
	}
	return &source{
		a: a, pool: pool, object: db, data: data, snap: snap, tables: tableNames(tables),
		info: engine.SourceInfo{Engine: si.engine, Version: si.version, Charset: charset, TimeZone: scanTimeZone},
	}, nil
}

func (s *source) Info() engine.SourceInfo { return s.info }

func (s *source) Tables() []string { return slices.Clone(s.tables) }

func (s *source) Close() error { return s.pool.Close() }

// known refuses tables that are not in the list: the name goes into SQL.
func (s *source) known(table string) error {
	if !slices.Contains(s.tables, table) {
		return fmt.Errorf("table %q is not a table of %s: %w", table, s.object, engine.ErrRefused)
	}
	return nil
}

func (s *source) qualified(table string) string {
	return quoteIdent(s.data) + "." + quoteIdent(table)
}

// TableDDL is CREATE TABLE as the server prints it.
func (s *source) TableDDL(ctx context.Context, table string) (string, error) {
	if err := s.known(table); err != nil {
		return "", err
	}
	row, err := s.a.firstRow(ctx, s.pool, "SHOW CREATE TABLE "+s.qualified(table))
	if err != nil {
		return "", fmt.Errorf("show create table %s: %w", table, err)
	}
	if len(row) < 2 || !row[1].Valid {
		return "", fmt.Errorf("show create table %s: no definition returned", table)
	}
	return row[1].String, nil
}

// ObjectDDL returns views.sql, routines.sql, triggers.sql, events.sql and grants.sql.
func (s *source) ObjectDDL(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range []struct {
		file string
		fn   func(context.Context) (string, error)
	}{
		{"views.sql", s.viewsSQL}, {"routines.sql", s.routinesSQL}, {"triggers.sql", s.triggersSQL},
		{"events.sql", s.eventsSQL}, {"grants.sql", s.grantsSQL},
	} {
		text, err := f.fn(ctx)
		if err != nil {
			return nil, err
		}
		out[f.file] = text
	}
	return out, nil
}

func (s *source) header(what string) string {
	return fmt.Sprintf("-- %s of %s, as the server printed them; replay with the mysql or mariadb client\n", what, quoteIdent(s.object))
}

// viewsSQL orders views so that a view comes after the views it selects from.
func (s *source) viewsSQL(ctx context.Context) (string, error) {
	names, err := s.a.names(ctx, s.pool, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'VIEW' AND "+nameIs("TABLE_SCHEMA"), s.object)
	if err != nil {
		return "", fmt.Errorf("list views: %w", err)
	}
	ddl := map[string]string{}
	for _, v := range names {
		row, err := s.a.firstRow(ctx, s.pool, "SHOW CREATE VIEW "+quoteIdent(s.object)+"."+quoteIdent(v))
		if err != nil {
			return "", fmt.Errorf("show create view %s: %w", v, err)
		}
		if len(row) < 2 || !row[1].Valid {
			return "", fmt.Errorf("show create view %s: no definition returned", v)
		}
		ddl[v] = row[1].String
	}
	var b strings.Builder
	b.WriteString(s.header("views"))
	for _, v := range orderViews(names, ddl) {
		b.WriteString(ddl[v])
		b.WriteString(";\n\n")
	}
	return b.String(), nil
}

// orderViews puts each view after the views its body names (depth first, ties by name).
func orderViews(names []string, ddl map[string]string) []string {
	state := map[string]int{} // 1 visiting, 2 done
	out := make([]string, 0, len(names))
	var visit func(v string)
	visit = func(v string) {
		if state[v] != 0 {
			return
		}
		state[v] = 1
		body := ddl[v]
		if i := indexTop(body, " AS "); i >= 0 {
			body = body[i:]
		}
		for _, w := range names {
			if w != v && strings.Contains(body, quoteIdent(w)) {
				visit(w)
			}
		}
		state[v] = 2
		out = append(out, v)
	}
	for _, v := range names {
		visit(v)
	}
	return out
}

var (
	sqlModeText  = regexp.MustCompile(`^[A-Za-z0-9_,]*$`)
	timeZoneText = regexp.MustCompile(`^[A-Za-z0-9_/+:.-]+$`)
	routineTypes = map[string]bool{"PROCEDURE": true, "FUNCTION": true, "PACKAGE": true, "PACKAGE BODY": true}
)

// delimited writes compound statements the way mysqldump does, so the client does not split
// them at the semicolons inside BEGIN ... END; each runs under the sql_mode it was made with.
type delimited struct {
	b strings.Builder
	n int
}

func (d *delimited) add(sqlMode, timeZone, stmt string) {
	if d.n == 0 {
		d.b.WriteString("DELIMITER ;;\nSET @retire_sql_mode = @@sql_mode, @retire_time_zone = @@time_zone ;;\n")
	}
	d.n++
	if sqlModeText.MatchString(sqlMode) {
		fmt.Fprintf(&d.b, "SET sql_mode = '%s' ;;\n", sqlMode)
	}
	if timeZone != "" && timeZoneText.MatchString(timeZone) {
		fmt.Fprintf(&d.b, "SET time_zone = '%s' ;;\n", timeZone)
	}
	d.b.WriteString(stmt)
	d.b.WriteString(" ;;\n")
}

func (d *delimited) String(header string) string {
	if d.n == 0 {
		return header
	}
	return header + d.b.String() + "SET sql_mode = @retire_sql_mode, time_zone = @retire_time_zone ;;\nDELIMITER ;\n"
}

func (s *source) routinesSQL(ctx context.Context) (string, error) {
	routines, err := s.a.routines(ctx, s.pool, s.object)
	if err != nil {
		return "", err
	}
	var d delimited
	for _, r := range routines {
		if !routineTypes[r.Type] {
			return "", fmt.Errorf("routine %s has unknown type %q", r.Name, r.Type)
		}
		row, err := s.a.firstRow(ctx, s.pool, "SHOW CREATE "+r.Type+" "+quoteIdent(s.object)+"."+quoteIdent(r.Name))
		if err != nil {
			return "", fmt.Errorf("show create %s %s: %w", strings.ToLower(r.Type), r.Name, err)
		}
		if len(row) < 3 || !row[2].Valid {
			return "", fmt.Errorf("cannot read the body of %s %s: the connection user needs the privilege to see routine bodies", strings.ToLower(r.Type), r.Name)
		}
		d.add(row[1].String, "", row[2].String)
	}
	return d.String(s.header("routines")), nil
}

func (s *source) triggersSQL(ctx context.Context) (string, error) {
	// Creation order matters for triggers on the same table and event (ACTION_ORDER).
	names, err := s.a.strings1(ctx, s.pool, triggersOf+
		" ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER, TRIGGER_NAME", s.object, s.object)
	if err != nil {
		return "", fmt.Errorf("list triggers: %w", err)
	}
	var d delimited
	for _, t := range names {
		row, err := s.a.firstRow(ctx, s.pool, "SHOW CREATE TRIGGER "+quoteIdent(s.object)+"."+quoteIdent(t))
		if err != nil {
			return "", fmt.Errorf("show create trigger %s: %w", t, err)
		}
		if len(row) < 3 || !row[2].Valid {
			return "", fmt.Errorf("show create trigger %s: no definition returned", t)
		}
		d.add(row[1].String, "", row[2].String)
	}
	return d.String(s.header("triggers")), nil
}

func (s *source) eventsSQL(ctx context.Context) (string, error) {
	names, err := s.a.names(ctx, s.pool, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE "+nameIs("EVENT_SCHEMA"), s.object)
	if err != nil {
		return "", fmt.Errorf("list events: %w", err)
	}
	var d delimited
	for _, e := range names {
		row, err := s.a.firstRow(ctx, s.pool, "SHOW CREATE EVENT "+quoteIdent(s.object)+"."+quoteIdent(e))
		if err != nil {
			return "", fmt.Errorf("show create event %s: %w", e, err)
		}
		if len(row) < 4 || !row[3].Valid {
			return "", fmt.Errorf("show create event %s: no definition returned", e)
		}
		d.add(row[1].String, row[2].String, row[3].String)
	}
	return d.String(s.header("events")), nil
}

// grantsSQL lists the grants that reached the database. After a revoke cut the server no
// longer has them, so they come from the snapshot; accounts and passwords are not included.
func (s *source) grantsSQL(ctx context.Context) (string, error) {
	grants := s.snap.Grants
	if s.snap.Strategy != engine.StrategyRevoke {
		r, err := s.a.access(ctx, s.pool, s.object)
		if err != nil {
			return "", err
		}
		grants = nil
		for _, acct := range r.accounts {
			grants = append(grants, r.grants[accountKey{acct.User, acct.Host}]...)
		}
	}
	stmts, err := s.a.accessStatements(engine.AccessSnapshot{Object: s.object, Grants: grants}, false)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "-- grants that reached %s, rebuilt from SHOW GRANTS; the accounts themselves are not\n", quoteIdent(s.object))
	b.WriteString("-- created here: their passwords never leave the server\n")
	for _, st := range stmts {
		b.WriteString(st.main)
		b.WriteString(";\n")
	}
	return b.String(), nil
}

// kindOf maps a column type to the kind of its values. Unsigned BIGINT is the only integer
// that does not fit int64; FLOAT is a float32 (read exactly, see selectExpr); DECIMAL up to
// 38 digits is a decimal the archive stores as a Parquet DECIMAL, wider ones and ZEROFILL
// ones (printed with leading zeros) stay text; everything else exact but not numeric
// (dates, times, JSON) stays text so nothing is rounded.
func kindOf(dataType, columnType string) engine.Kind {
	dt, ct := strings.ToLower(dataType), strings.ToLower(columnType)
	switch dt {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		if dt == "bigint" && strings.Contains(ct, "unsigned") {
			return engine.KindUint64
		}
		return engine.KindInt64
	case "float":
		return engine.KindFloat32
	case "double", "real", "double precision":
		return engine.KindFloat64
	case "decimal", "numeric":
		if p, _, ok := decimalDigits(ct); ok && p <= 38 && !strings.Contains(ct, "zerofill") {
			return engine.KindDecimal
		}
		return engine.KindText
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit",
		"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection", "geomcollection":
		return engine.KindBytes
	}
	return engine.KindText
}

// decimalDigits reads precision and scale from "decimal(p,s)..." (or "decimal(p)").
func decimalDigits(columnType string) (precision, scale int, ok bool) {
	m := decimalType.FindStringSubmatch(columnType)
	if m == nil {
		return 0, 0, false
	}
	precision, _ = strconv.Atoi(m[1])
	if m[2] != "" {
		scale, _ = strconv.Atoi(m[2])
	}
	return precision, scale, precision >= 1 && scale <= precision
}

var (
	decimalType = regexp.MustCompile(`^(?:decimal|numeric)\((\d+)(?:,(\d+))?\)`)
	// generatedExtra is how information_schema.COLUMNS.EXTRA marks a generated column
	// (MySQL's DEFAULT_GENERATED is a default expression, not a generated column).
	generatedExtra = regexp.MustCompile(`(?i)\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b`)
)
