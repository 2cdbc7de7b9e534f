package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"

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
}

var _ engine.Source = (*source)(nil)

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
		info: engine.SourceInfo{Engine: si.engine, Version: si.version, Charset: charset},
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
	names, err := s.a.strings1(ctx, s.pool, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE "+nameIs("TRIGGER_SCHEMA")+
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

// Columns of a table in SELECT order, with how the archive stores each.
func (s *source) columns(ctx context.Context, table string) ([]engine.Column, error) {
	var cols []engine.Column
	err := s.a.each(ctx, s.pool, "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE FROM information_schema.COLUMNS WHERE "+
		nameIs("TABLE_SCHEMA")+" AND "+nameIs("TABLE_NAME")+" ORDER BY ORDINAL_POSITION",
		[]any{s.data, s.data, table, table}, func(r *sql.Rows) error {
			var name, colType, dataType, nullable string
			if err := r.Scan(&name, &colType, &dataType, &nullable); err != nil {
				return err
			}
			cols = append(cols, engine.Column{Name: name, Type: colType, Kind: kindOf(dataType, colType), Nullable: nullable == "YES"})
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list columns of %s: %w", table, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("table %s has no columns visible to this connection", table)
	}
	return cols, nil
}

// kindOf maps a column type to its archive encoding. Unsigned BIGINT is the only integer
// that does not fit int64; everything exact but not integral (DECIMAL, dates, JSON) stays
// text so nothing is rounded.
func kindOf(dataType, columnType string) engine.Kind {
	switch strings.ToLower(dataType) {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		if strings.ToLower(dataType) == "bigint" && strings.Contains(strings.ToLower(columnType), "unsigned") {
			return engine.KindUint64
		}
		return engine.KindInt64
	case "float", "double", "real", "double precision":
		return engine.KindFloat64
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit",
		"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection", "geomcollection":
		return engine.KindBytes
	}
	return engine.KindText
}

// Scan streams a table on a connection of its own, under the caller's deadline or a day.
// Columns are named from information_schema rather than *, so invisible columns are kept.
func (s *source) Scan(ctx context.Context, table string) (engine.Rows, error) {
	if err := s.known(table); err != nil {
		return nil, err
	}
	cols, err := s.columns(ctx, table)
	if err != nil {
		return nil, err
	}
	var sctx context.Context
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); ok {
		sctx, cancel = context.WithCancel(ctx)
	} else {
		sctx, cancel = context.WithTimeout(ctx, scanTimeout)
	}
	rows, conn, err := s.startScan(sctx, table, cols)
	if err != nil {
		cancel()
		return nil, err
	}
	return newTableRows(cols, conn, rows, cancel), nil
}

func (s *source) startScan(ctx context.Context, table string, cols []engine.Column) (*sql.Rows, *sql.Conn, error) {
	cctx, cancel := s.a.timeout(ctx)
	conn, err := s.pool.Conn(cctx)
	cancel()
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	// A reader that pauses (uploading a part) must not be cut off by the server's
	// 60-second write timeout, nor the scan by a statement time limit.
	_ = s.a.exec(ctx, conn, "SET SESSION net_write_timeout = 3600")
	if s.info.Engine == "mariadb" {
		_ = s.a.exec(ctx, conn, "SET SESSION max_statement_time = 0")
	} else {
		_ = s.a.exec(ctx, conn, "SET SESSION max_execution_time = 0")
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c.Name)
	}
	rows, err := conn.QueryContext(ctx, "SELECT "+strings.Join(names, ", ")+" FROM "+s.qualified(table))
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("scan %s: %w", table, err)
	}
	return rows, conn, nil
}

// tableRows copies each value into a buffer of its own, reused from row to row, so that
// values stay valid until the next Next and a large table costs no allocation per row.
type tableRows struct {
	cols   []engine.Column
	conn   *sql.Conn
	rows   *sql.Rows
	cancel context.CancelFunc
	raw    []sql.RawBytes
	ptrs   []any
	bufs   [][]byte
	err    error
	done   bool
}

func newTableRows(cols []engine.Column, conn *sql.Conn, rows *sql.Rows, cancel context.CancelFunc) *tableRows {
	r := &tableRows{cols: cols, conn: conn, rows: rows, cancel: cancel,
		raw: make([]sql.RawBytes, len(cols)), ptrs: make([]any, len(cols)), bufs: make([][]byte, len(cols))}
	for i := range r.raw {
		r.ptrs[i] = &r.raw[i]
		// Non-nil from the start: an empty string must not read as NULL.
		r.bufs[i] = make([]byte, 0, 64)
	}
	return r
}

func (r *tableRows) Columns() []engine.Column { return r.cols }

func (r *tableRows) Next(dst [][]byte) bool {
	if r.done || r.err != nil {
		return false
	}
	if len(dst) != len(r.cols) {
		r.err = fmt.Errorf("scan: got %d destination values for %d columns", len(dst), len(r.cols))
		return false
	}
	if !r.rows.Next() {
		r.done = true
		r.err = r.rows.Err()
		return false
	}
	if err := r.rows.Scan(r.ptrs...); err != nil {
		r.err = err
		return false
	}
	for i, v := range r.raw {
		if v == nil {
			dst[i] = nil
			continue
		}
		r.bufs[i] = append(r.bufs[i][:0], v...)
		dst[i] = r.bufs[i]
	}
	return true
}

func (r *tableRows) Err() error { return r.err }

// Close ends the scan. Stopping early (or after an error) cancels first: the driver would
// otherwise read the rest of the table just to discard it. Err reports any scan error.
func (r *tableRows) Close() error {
	early := !r.done
	if early {
		r.cancel()
	}
	err := r.rows.Close()
	r.conn.Close()
	r.cancel()
	if early {
		return nil
	}
	return err
}
