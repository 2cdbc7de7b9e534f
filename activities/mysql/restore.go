package mysql

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	driver "github.com/go-sql-driver/mysql"

	"github.com/dataretire/retire/activities/engine"
)

var _ engine.Loader = (*Adapter)(nil)

// restoreSession makes a restore exact: strict (a value that does not fit is an error, not
// a silent truncation), zero dates allowed as the source had them, an id of 0 kept as 0,
// and no checks that an unordered load of related tables would trip.
var restoreSession = []string{
	"SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
	"SET SESSION foreign_key_checks = 0",
	"SET SESSION unique_checks = 0",
	"SET NAMES utf8mb4",
	// The source prints TIMESTAMP values in UTC (SourceInfo.TimeZone); read them back in UTC.
	"SET SESSION time_zone = '+00:00'",
}

// CreateTarget creates the database to restore into, refusing one that exists.
func (a *Adapter) CreateTarget(ctx context.Context, db string, info engine.SourceInfo) error {
	if err := ValidIdentifier(db); err != nil {
		return err
	}
	pool, err := a.open()
	if err != nil {
		return err
	}
	defer pool.Close()
	ok, _, _, err := a.schemaExists(ctx, pool, db)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("database %q already exists; restore into a new name (--into) or drop it first: %w", db, engine.ErrRefused)
	}
	charset := "utf8mb4"
	if info.Charset != "" && charsetName.MatchString(info.Charset) {
		charset = info.Charset
	}
	return a.exec(ctx, pool, "CREATE DATABASE "+quoteIdent(db)+" CHARACTER SET "+charset)
}

// RunScript runs a DDL script in db. DELIMITER lines are honoured the way the mariadb
// client does, since routines and triggers contain semicolons.
func (a *Adapter) RunScript(ctx context.Context, db, script string) error {
	if err := ValidIdentifier(db); err != nil {
		return err
	}
	pool, err := a.openIn(db)
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := pool.Conn(ctx)
	if err != nil {
		return classify(err)
	}
	defer conn.Close()
	if err := a.exec(ctx, conn, "SET SESSION foreign_key_checks = 0"); err != nil {
		return err
	}
	for _, stmt := range splitScript(script) {
		if err := a.exec(ctx, conn, stmt); err != nil {
			return fmt.Errorf("restore DDL in %s: %w\n%s", db, err, firstLine(stmt))
		}
	}
	return nil
}

// LoadTable streams rows through LOAD DATA LOCAL INFILE (the fastest safe path: one
// statement, no SQL text per row). Binary columns travel as hex and are decoded by the
// server; generated columns are computed again, not loaded.
func (a *Adapter) LoadTable(ctx context.Context, db, table string, cols []engine.Column, rows func(yield func(row [][]byte) error) error) (int64, error) {
	if err := ValidIdentifier(db); err != nil {
		return 0, err
	}
	pool, err := a.openIn(db)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	conn, err := pool.Conn(ctx)
	if err != nil {
		return 0, classify(err)
	}
	defer conn.Close()
	for _, s := range restoreSession {
		if err := a.exec(ctx, conn, s); err != nil {
			return 0, err
		}
	}
	var targets, sets []string
	for i, c := range cols {
		v := fmt.Sprintf("@v%d", i)
		switch {
		case c.Generated:
			targets = append(targets, v) // read and thrown away
		case c.Kind == engine.KindBytes:
			targets = append(targets, v)
			sets = append(sets, quoteIdent(c.Name)+" = UNHEX("+v+")")
		case strings.HasPrefix(strings.ToLower(c.Type), "year"):
			// LOAD DATA reads the text '0000' as the year 2000; the number 0 is year 0000.
			targets = append(targets, v)
			sets = append(sets, quoteIdent(c.Name)+" = CAST("+v+" AS UNSIGNED)")
		default:
			targets = append(targets, quoteIdent(c.Name))
		}
	}
	name := "retire-" + randomToken()
	pr, pw := io.Pipe()
	driver.RegisterReaderHandler(name, func() io.Reader { return pr })
	defer driver.DeregisterReaderHandler(name)
	go func() { pw.CloseWithError(writeTSV(pw, cols, rows)) }()
	defer pr.Close()

	stmt := fmt.Sprintf("LOAD DATA LOCAL INFILE 'Reader::%s' INTO TABLE %s CHARACTER SET utf8mb4 "+
		`FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' (%s)`,
		name, quoteIdent(table), strings.Join(targets, ", "))
	if len(sets) > 0 {
		stmt += " SET " + strings.Join(sets, ", ")
	}
	// A load runs as long as the table is big: only the caller's context bounds it.
	res, err := conn.ExecContext(ctx, stmt)
	if err != nil {
		return 0, fmt.Errorf("load %s.%s: %w", db, table, classify(err))
	}
	// With LOCAL the server turns errors into warnings (it cannot stop the client's file
	// mid-way), so any warning means a value did not go in as it was archived.
	var warnings int64
	if err := a.row(ctx, conn, "SHOW COUNT(*) WARNINGS", nil, &warnings); err != nil {
		return 0, err
	}
	if warnings > 0 {
		var level, msg string
		var code int
		_ = a.row(ctx, conn, "SHOW WARNINGS LIMIT 1", nil, &level, &code, &msg)
		return 0, fmt.Errorf("load %s.%s: %d warning(s), first: %s; the restore is not exact", db, table, warnings, msg)
	}
	n, err := res.RowsAffected()
	return n, err
}

// Checksums is CHECKSUM TABLE ... EXTENDED for each table: it reads every row, so two
// tables with the same definition and the same rows have the same checksum.
func (a *Adapter) Checksums(ctx context.Context, db string, tables []string) (map[string]string, error) {
	if err := ValidIdentifier(db); err != nil {
		return nil, err
	}
	pool, err := a.open()
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	out := map[string]string{}
	for _, t := range tables {
		var name string
		var sum sql.NullString
		// A checksum reads the whole table: only the caller's context bounds it.
		if err := pool.QueryRowContext(ctx, "CHECKSUM TABLE "+quoteIdent(db)+"."+quoteIdent(t)+" EXTENDED").Scan(&name, &sum); err != nil {
			return nil, fmt.Errorf("checksum %s.%s: %w", db, t, classify(err))
		}
		out[t] = sum.String
	}
	return out, nil
}

// DropTarget drops a database made by CreateTarget.
func (a *Adapter) DropTarget(ctx context.Context, db string) error {
	if err := ValidIdentifier(db); err != nil {
		return err
	}
	pool, err := a.open()
	if err != nil {
		return err
	}
	defer pool.Close()
	return a.exec(ctx, pool, "DROP DATABASE IF EXISTS "+quoteIdent(db))
}

// writeTSV writes rows in LOAD DATA's default format: tab-separated, backslash escapes,
// \N for NULL; binary columns as hex.
func writeTSV(w io.Writer, cols []engine.Column, rows func(yield func(row [][]byte) error) error) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	hexBuf := make([]byte, 0, 1024)
	err := rows(func(row [][]byte) error {
		if len(row) != len(cols) {
			return fmt.Errorf("row has %d values for %d columns", len(row), len(cols))
		}
		for i, v := range row {
			if i > 0 {
				bw.WriteByte('\t')
			}
			switch {
			case v == nil:
				bw.WriteString(`\N`)
			case cols[i].Kind == engine.KindBytes:
				hexBuf = hex.AppendEncode(hexBuf[:0], v)
				bw.Write(hexBuf)
			default:
				writeEscaped(bw, v)
			}
		}
		return bw.WriteByte('\n')
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

func writeEscaped(bw *bufio.Writer, v []byte) {
	start := 0
	for i, c := range v {
		var esc string
		switch c {
		case '\\':
			esc = `\\`
		case '\t':
			esc = `\t`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case 0:
			esc = `\0`
		default:
			continue
		}
		bw.Write(v[start:i])
		bw.WriteString(esc)
		start = i + 1
	}
	bw.Write(v[start:])
}

// splitScript cuts a script into statements at the current delimiter, which DELIMITER
// lines change, like the mariadb client does.
func splitScript(script string) []string {
	var out []string
	delim := ";"
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(script, "\n") {
		trimmed := strings.TrimSpace(line)
		if f := strings.Fields(trimmed); len(f) == 2 && strings.EqualFold(f[0], "DELIMITER") {
			flush()
			delim = f[1]
			continue
		}
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "--")) {
			continue
		}
		if strings.HasSuffix(trimmed, delim) {
			cur.WriteString(strings.TrimSuffix(strings.TrimRight(line, " \t\r\n"), delim))
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

func randomToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
