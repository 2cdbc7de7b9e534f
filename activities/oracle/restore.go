package oracle

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

const (
	// qIdentity: an identity column GENERATED ALWAYS refuses the archived values, so it is
	// switched to BY DEFAULT for the load and back afterwards.
	qIdentity = `SELECT i.column_name, i.generation_type, c.default_on_null FROM dba_tab_identity_cols i
JOIN dba_tab_cols c ON c.owner = i.owner AND c.table_name = i.table_name AND c.column_name = i.column_name
WHERE i.owner = :1 AND i.table_name = :2 ORDER BY i.column_name`
	// restoreNLS makes TO_BINARY_DOUBLE read "1.5" the same whatever the server's territory.
	restoreNLS = `ALTER SESSION SET NLS_NUMERIC_CHARACTERS = '.,'`
	// qCompileSchema recompiles what DDL replayed in dependency-blind order left invalid.
	qCompileSchema = `BEGIN DBMS_UTILITY.COMPILE_SCHEMA(schema => :1, compile_all => FALSE); END;`

	defaultBatch = 500
	// batchBytes flushes a batch early: LOB values travel inside the INSERT call, which has
	// one statement deadline.
	batchBytes = 8 << 20
	// ddlTimeout bounds one replayed DDL statement (CREATE INDEX runs as long as the table
	// is big) when the caller's context has no deadline.
	ddlTimeout = 6 * time.Hour
	// oraCompiledWithErrors is ORA-24344: the PL/SQL object was created, invalid for now.
	oraCompiledWithErrors = 24344
)

// validOwner checks a schema named by a restore: the same rules as a retirement target.
func validOwner(owner string) (string, error) {
	t, err := parseTarget(owner)
	if err != nil {
		return "", err
	}
	if t.isPDB {
		return "", fmt.Errorf("restore goes into a schema, not a pluggable database: %w", engine.ErrRefused)
	}
	return t.name, nil
}

// RestoreTable inserts archived rows into an existing table "OWNER"."TABLE", batch rows per
// INSERT with array binding (go-ora binds one slice per column), and returns how many went in.
func (a *Adapter) RestoreTable(ctx context.Context, owner, table string, cols []engine.Column, rows func(yield func(row [][]byte) error) error, batch int) (int64, error) {
	o, err := validOwner(owner)
	if err != nil {
		return 0, err
	}
	c, err := a.open(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return a.restoreTable(ctx, c, o, table, cols, rows, batch)
}

// ApplyDDL replays DBMS_METADATA output (schema/<table>.sql, views.sql...) inside owner.
// Statements after a schema marker (-- retire: schema "SCOTT") that name that schema are
// rewritten to name owner instead (see retarget), so that a restore under another name
// creates nothing against the source.
func (a *Adapter) ApplyDDL(ctx context.Context, owner, ddl string) error {
	o, err := validOwner(owner)
	if err != nil {
		return err
	}
	c, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	// Unqualified names (EMIT_SCHEMA false) land in the current schema.
	if err := a.exec(ctx, c, "ALTER SESSION SET CURRENT_SCHEMA = "+q(o)); err != nil {
		return fmt.Errorf("switch to schema %s: %w", o, err)
	}
	return a.applyDDL(ctx, c, o, ddl)
}

// classOf recovers how a column is bound from the archive's column: its original type text
// and, for NUMBER, its kind.
func classOf(col engine.Column) (column, error) {
	t := strings.ToUpper(col.Type)
	base := t
	if i := strings.IndexByte(base, '('); i >= 0 {
		base = base[:i]
	}
	d := colDef{name: col.Name, dataType: strings.TrimSpace(base), nullable: col.Nullable}
	switch {
	case strings.HasPrefix(t, "TIMESTAMP"), strings.HasPrefix(t, "INTERVAL"):
		d.dataType = t // the class is in the suffix
	case base == "NUMBER" && col.Kind == engine.KindInt64:
		p, s := int64(18), int64(0)
		d.precision, d.scale = &p, &s
	}
	c, err := describe(d)
	if err != nil {
		return column{}, err
	}
	if c.Kind != col.Kind {
		return column{}, fmt.Errorf("column %s: type %s is archived as %s here, not %s", col.Name, col.Type, c.Kind, col.Kind)
	}
	c.Column = col
	return c, nil
}

func (a *Adapter) restoreTable(ctx context.Context, c conn, owner, table string, cols []engine.Column, rows func(yield func(row [][]byte) error) error, batch int) (int64, error) {
	qt, err := qualified(owner, table)
	if err != nil {
		return 0, err
	}
	if len(cols) == 0 {
		return 0, fmt.Errorf("table %s has no columns to restore", qt)
	}
	classes := make([]column, len(cols))
	names := make([]string, len(cols))
	for i, col := range cols {
		if classes[i], err = classOf(col); err != nil {
			return 0, fmt.Errorf("restore %s: %w: %w", qt, err, engine.ErrRefused)
		}
		if names[i], err = quoteIdent(col.Name); err != nil {
			return 0, err
		}
		// go-ora types each element of an array bind on its own and switches long strings
		// to LONG binds: one LONG row per INSERT keeps every array homogeneous.
		if classes[i].class == tLong || classes[i].class == tLongRaw {
			batch = 1
		}
	}
	if batch <= 0 {
		batch = defaultBatch
	}
	if err := a.exec(ctx, c, restoreNLS); err != nil {
		return 0, fmt.Errorf("set session for restore: %w", err)
	}
	ids, err := a.identityColumns(ctx, c, owner, table)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if id.always {
			if err := a.exec(ctx, c, "ALTER TABLE "+qt+" MODIFY ("+q(id.name)+" GENERATED BY DEFAULT AS IDENTITY)"); err != nil {
				return 0, fmt.Errorf("let %s.%s take archived values: %w", qt, id.name, err)
			}
		}
	}
	w := &batchWriter{a: a, c: c, ctx: ctx, qt: qt, names: names, cols: classes, batch: batch}
	err = rows(w.add)
	if err == nil {
		err = w.flush(ctx)
	}
	if err != nil {
		return w.rows, fmt.Errorf("restore %s: %w", qt, err)
	}
	for _, id := range ids {
		gen := "GENERATED BY DEFAULT"
		switch {
		case id.always:
			gen = "GENERATED ALWAYS"
		case id.onNull:
			gen = "GENERATED BY DEFAULT ON NULL"
		}
		// START WITH LIMIT VALUE: the next generated value follows the highest restored one.
		if err := a.exec(ctx, c, "ALTER TABLE "+qt+" MODIFY ("+q(id.name)+" "+gen+" AS IDENTITY (START WITH LIMIT VALUE))"); err != nil {
			return w.rows, fmt.Errorf("reset identity %s.%s: %w", qt, id.name, err)
		}
	}
	return w.rows, nil
}

type identityColumn struct {
	name           string
	always, onNull bool
}

func (a *Adapter) identityColumns(ctx context.Context, c conn, owner, table string) ([]identityColumn, error) {
	var out []identityColumn
	err := a.each(ctx, c, qIdentity, []any{owner, table}, func(r []any) error {
		n := str(r[0])
		if _, err := quoteIdent(n); err != nil {
			return err
		}
		out = append(out, identityColumn{name: n, always: str(r[1]) == "ALWAYS", onNull: str(r[2]) == "YES"})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read identity columns of %s.%s: %w", owner, table, err)
	}
	return out, nil
}

// batchWriter gathers rows into one slice per column and inserts them with one array-bound
// INSERT per batch. A row holding an empty LOB goes alone with EMPTY_CLOB()/EMPTY_BLOB():
// go-ora binds an empty LOB as NULL.
type batchWriter struct {
	a     *Adapter
	c     conn
	qt    string
	names []string
	cols  []column
	batch int

	ctx   context.Context // the restore's: rows() gives its yield function none
	args  [][]any
	n     int
	bytes int
	rows  int64
}

func (w *batchWriter) add(row [][]byte) error {
	ctx := w.ctx
	if len(row) != len(w.cols) {
		return fmt.Errorf("row has %d values for %d columns", len(row), len(w.cols))
	}
	var empty []bool
	for i, v := range row {
		if v != nil && len(v) == 0 && w.cols[i].isLOB() {
			if empty == nil {
				empty = make([]bool, len(row))
			}
			empty[i] = true
		}
	}
	if empty != nil {
		if err := w.flush(ctx); err != nil {
			return err
		}
		return w.insertOne(ctx, row, empty)
	}
	if w.args == nil {
		w.args = make([][]any, len(w.cols))
	}
	for i, v := range row {
		b, err := bindValue(w.cols[i].class, v)
		if err != nil {
			return fmt.Errorf("column %s (%s): %w", w.cols[i].Name, w.cols[i].Type, err)
		}
		w.args[i] = append(w.args[i], b)
		w.bytes += len(v)
	}
	w.n++
	if w.n >= w.batch || w.bytes >= batchBytes {
		return w.flush(ctx)
	}
	return nil
}

func (w *batchWriter) insertSQL(empty []bool) string {
	vals := make([]string, len(w.cols))
	n := 0
	for i, c := range w.cols {
		if empty != nil && empty[i] {
			vals[i] = emptyLOBExpr(c)
			continue
		}
		n++
		vals[i] = bindExpr(c, fmt.Sprintf(":%d", n))
	}
	return "INSERT INTO " + w.qt + " (" + strings.Join(w.names, ", ") + ") VALUES (" + strings.Join(vals, ", ") + ")"
}

func (w *batchWriter) flush(ctx context.Context) error {
	if w.n == 0 {
		return nil
	}
	args := make([]any, len(w.args))
	for i := range w.args {
		args[i] = w.args[i]
	}
	if err := w.a.exec(ctx, w.c, w.insertSQL(nil), args...); err != nil {
		return fmt.Errorf("insert %d row(s) after row %d: %w", w.n, w.rows, err)
	}
	w.rows += int64(w.n)
	// Fresh slices: the driver may still hold the ones it was given.
	w.n, w.bytes, w.args = 0, 0, nil
	return nil
}

func (w *batchWriter) insertOne(ctx context.Context, row [][]byte, empty []bool) error {
	var args []any
	for i, v := range row {
		if empty[i] {
			continue
		}
		b, err := bindValue(w.cols[i].class, v)
		if err != nil {
			return fmt.Errorf("column %s (%s): %w", w.cols[i].Name, w.cols[i].Type, err)
		}
		args = append(args, b)
	}
	if err := w.a.exec(ctx, w.c, w.insertSQL(empty), args...); err != nil {
		return fmt.Errorf("insert row %d: %w", w.rows+1, err)
	}
	w.rows++
	return nil
}

// applyDDL runs each statement of a DDL file, rewritten from the schema it was printed for
// to owner. PL/SQL that refers to objects not created yet is created invalid (ORA-24344);
// the schema is recompiled once at the end.
func (a *Adapter) applyDDL(ctx context.Context, c conn, owner, ddl string) error {
	parts, err := splitSchemas(ddl)
	if err != nil {
		return err
	}
	var stmts []string
	for _, p := range parts {
		for _, stmt := range splitDDL(p.text) {
			stmts = append(stmts, retarget(stmt, p.owner, owner))
		}
	}
	invalid := false
	for _, stmt := range stmts {
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if _, ok := ctx.Deadline(); !ok {
			sctx, cancel = context.WithTimeout(ctx, ddlTimeout)
		}
		err := c.Exec(sctx, stmt)
		cancel()
		if isCode(err, oraCompiledWithErrors) {
			invalid = true
			continue
		}
		if err != nil {
			return fmt.Errorf("replay DDL in %s: %w\n%s", owner, classify(err), firstLine(stmt))
		}
	}
	if invalid {
		if err := a.exec(ctx, c, qCompileSchema, owner); err != nil {
			return fmt.Errorf("recompile %s: %w", owner, err)
		}
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// plsqlStart is a statement that DBMS_METADATA ends with a "/" line rather than ";".
var plsqlStart = regexp.MustCompile(`(?i)^(CREATE\s+(OR\s+REPLACE\s+)?((NON)?EDITIONABLE\s+)?(PACKAGE|PROCEDURE|FUNCTION|TRIGGER|TYPE|LIBRARY|JAVA)\b|DECLARE\b|BEGIN\b)`)

// splitDDL splits DBMS_METADATA output with SQLTERMINATOR on: SQL statements end with ";"
// at the end of a line, PL/SQL units with a line holding only "/". The ";" of SQL is
// dropped (the server refuses it), the one ending PL/SQL is part of it. Comment lines
// between statements are skipped.
func splitDDL(ddl string) []string {
	var out, cur []string
	plsql := false
	emit := func() {
		s := strings.TrimSpace(strings.Join(cur, "\n"))
		if !plsql {
			s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
		}
		if s != "" {
			out = append(out, s)
		}
		cur = nil
	}
	for _, line := range strings.Split(strings.ReplaceAll(ddl, "\r\n", "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		if len(cur) == 0 {
			if trimmed == "" || trimmed == "/" || strings.HasPrefix(trimmed, "--") {
				continue
			}
			plsql = plsqlStart.MatchString(trimmed)
		}
		if trimmed == "/" {
			emit()
			continue
		}
		cur = append(cur, strings.TrimRight(line, " \t"))
		if !plsql && strings.HasSuffix(trimmed, ";") {
			emit()
		}
	}
	if len(cur) > 0 {
		emit()
	}
	return out
}
