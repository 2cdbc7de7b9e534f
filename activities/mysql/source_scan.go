package mysql

import (
	"bufio"
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/dataretire/retire/activities/engine"
)

// scanTimeZone is the session time zone of every scan: TIMESTAMP values are printed in UTC,
// where no two instants print alike (a zone with daylight saving time prints two instants
// of the autumn hour the same). engine.SourceInfo.TimeZone tells restore.
const scanTimeZone = "+00:00"

// scanSession makes a scan connection print exact values: text converted to UTF-8 (a
// latin1 'é' arrives as U+00E9), TIMESTAMP in UTC, CHAR without pad-to-full-length, and no
// time limits on a reader that pauses while a part uploads (net_write_timeout is the
// server waiting for us). The statement limit is set per engine after these.
var scanSession = []string{
	"SET NAMES utf8mb4",
	"SET SESSION time_zone = '" + scanTimeZone + "'",
	"SET SESSION sql_mode = ''",
	"SET SESSION net_write_timeout = 3600",
}

// colInfo is a column with what a scan needs to read it exactly.
type colInfo struct {
	engine.Column
	dataType  string
	charset   string // "" for binary and non-text columns
	collation string
	year      bool // YEAR: the driver parses it to a number; printed back as 4 digits
}

// tableMeta is what a source reads once per table.
type tableMeta struct {
	cols []colInfo
	key  []colInfo // the chunking key (see chunkKey), empty when the table has none
	rows int64     // the server's row estimate
}

// meta returns the table's columns and chunking key, read once per source.
func (s *source) meta(ctx context.Context, table string) (*tableMeta, error) {
	if err := s.known(table); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.metas[table]; m != nil {
		return m, nil
	}
	m := &tableMeta{}
	var err error
	if m.cols, err = s.columns(ctx, table); err != nil {
		return nil, err
	}
	if m.key, err = s.chunkKey(ctx, table, m.cols); err != nil {
		return nil, err
	}
	var est sql.NullInt64
	if err := s.a.row(ctx, s.pool, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE "+nameIs("TABLE_SCHEMA")+" AND "+nameIs("TABLE_NAME"),
		[]any{s.data, s.data, table, table}, &est); err != nil {
		return nil, fmt.Errorf("row estimate of %s: %w", table, err)
	}
	m.rows = est.Int64
	if s.metas == nil {
		s.metas = map[string]*tableMeta{}
	}
	s.metas[table] = m
	return m, nil
}

// columns of a table in SELECT order, with how to read each and what kind it is.
func (s *source) columns(ctx context.Context, table string) ([]colInfo, error) {
	var cols []colInfo
	err := s.a.each(ctx, s.pool, "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0), "+
		"COALESCE(EXTRA, ''), COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, '') FROM information_schema.COLUMNS WHERE "+
		nameIs("TABLE_SCHEMA")+" AND "+nameIs("TABLE_NAME")+" ORDER BY ORDINAL_POSITION",
		[]any{s.data, s.data, table, table}, func(r *sql.Rows) error {
			var c colInfo
			var nullable, extra string
			var precision, scale int64
			if err := r.Scan(&c.Name, &c.Type, &c.dataType, &nullable, &precision, &scale, &extra, &c.charset, &c.collation); err != nil {
				return err
			}
			c.dataType = strings.ToLower(c.dataType)
			c.Kind = kindOf(c.dataType, c.Type)
			c.Nullable = nullable == "YES"
			c.Generated = generatedExtra.MatchString(extra)
			c.year = c.dataType == "year"
			if c.charset == "binary" {
				c.charset = ""
			}
			if c.Kind == engine.KindDecimal {
				c.Precision, c.Scale = int(precision), int(scale)
			}
			cols = append(cols, c)
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

// selectExpr reads a column exactly. FLOAT goes through DOUBLE: the server prints a FLOAT
// with 6 significant digits (1.2345678 as "1.23457", 16777216 as "16777200"), which
// would not load back as the same float32; widening to DOUBLE is exact, and the scan prints
// the float32 again as its shortest exact text.
func selectExpr(c colInfo) string {
	if c.Kind == engine.KindFloat32 {
		return "CAST(" + quoteIdent(c.Name) + " AS DOUBLE)"
	}
	return quoteIdent(c.Name)
}

// Scan streams a whole table (one chunk without bounds).
func (s *source) Scan(ctx context.Context, table string) (engine.Rows, error) {
	return s.ScanChunk(ctx, table, engine.Chunk{})
}

// ScanChunk streams the rows of a chunk on a connection of its own, under the caller's
// deadline or a day. Columns are named from information_schema rather than *, so
// invisible columns are kept.
func (s *source) ScanChunk(ctx context.Context, table string, c engine.Chunk) (engine.Rows, error) {
	m, err := s.meta(ctx, table)
	if err != nil {
		return nil, err
	}
	where, err := chunkWhere(m.key, c)
	if err != nil {
		return nil, fmt.Errorf("table %s chunk %d: %w", table, c.Index, err)
	}
	exprs := make([]string, len(m.cols))
	for i, col := range m.cols {
		exprs[i] = selectExpr(col)
	}
	query := "SELECT " + strings.Join(exprs, ", ") + " FROM " + s.qualified(table) + where

	var sctx context.Context
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); ok {
		sctx, cancel = context.WithCancel(ctx)
	} else {
		sctx, cancel = context.WithTimeout(ctx, scanTimeout)
	}
	conn, rows, err := s.startScan(sctx, query)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("scan %s: %w", table, err)
	}
	return newChunkRows(m.cols, conn, rows, cancel), nil
}

// startScan runs the query on a driver connection of its own, bypassing database/sql: its
// rows hand out the driver's values as they are (no copy, no conversion to strings and
// back), which is most of the cost of reading a table.
func (s *source) startScan(ctx context.Context, query string) (sqldriver.Conn, sqldriver.Rows, error) {
	dc := s.a.connector.Clone()
	dc.DBName = ""
	if dc.Net == "tcp" {
		registerScanDialer()
		dc.Net = scanNet
	}
	connector, err := driver.NewConnector(dc)
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := s.a.timeout(ctx)
	conn, err := connector.Connect(cctx)
	cancel()
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", classify(err))
	}
	exec := func(stmt string) error {
		cctx, cancel := s.a.timeout(ctx)
		defer cancel()
		_, err := conn.(sqldriver.ExecerContext).ExecContext(cctx, stmt, nil)
		return classify(err)
	}
	for _, stmt := range scanSession {
		if err := exec(stmt); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	if s.info.Engine == "mariadb" {
		_ = exec("SET SESSION max_statement_time = 0")
	} else {
		_ = exec("SET SESSION max_execution_time = 0")
	}
	rows, err := conn.(sqldriver.QueryerContext).QueryContext(ctx, query, nil)
	if err != nil {
		conn.Close()
		return nil, nil, classify(err)
	}
	return conn, rows, nil
}

// scanNet is a TCP dialer whose connections read through a large buffer: the driver reads
// the socket 4 KiB at a time, a system call for every ~20 rows of a sysbench table, which
// was a tenth of an export's CPU.
const scanNet = "retire-scan-tcp"

var registerScanDialer = sync.OnceFunc(func() {
	driver.RegisterDialContext(scanNet, func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{KeepAlive: 30 * time.Second}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, scanReadBuffer)}, nil
	})
})

const scanReadBuffer = 256 << 10

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chunkRows prints each value in the notation of its column's kind. The driver hands out
// text and binary values as slices of its read buffer (valid until the next row, which is
// the engine.Rows contract, so they are not copied) and numbers already parsed, which are
// printed into a buffer per column, reused from row to row.
type chunkRows struct {
	cols   []engine.Column
	info   []colInfo
	conn   sqldriver.Conn
	rows   sqldriver.Rows
	cancel context.CancelFunc
	vals   []sqldriver.Value
	bufs   [][]byte
	err    error
	done   bool
}

func newChunkRows(cols []colInfo, conn sqldriver.Conn, rows sqldriver.Rows, cancel context.CancelFunc) *chunkRows {
	r := &chunkRows{info: cols, conn: conn, rows: rows, cancel: cancel,
		cols: make([]engine.Column, len(cols)), vals: make([]sqldriver.Value, len(cols)), bufs: make([][]byte, len(cols))}
	for i, c := range cols {
		r.cols[i] = c.Column
		r.bufs[i] = make([]byte, 0, 32)
	}
	return r
}

func (r *chunkRows) Columns() []engine.Column { return r.cols }

var emptyValue = []byte{}

func (r *chunkRows) Next(dst [][]byte) bool {
	if r.done || r.err != nil {
		return false
	}
	if len(dst) != len(r.cols) {
		r.err = fmt.Errorf("scan: got %d destination values for %d columns", len(dst), len(r.cols))
		return false
	}
	if err := r.rows.Next(r.vals); err != nil {
		r.done = true
		if err != io.EOF {
			r.err = err
		}
		return false
	}
	for i, v := range r.vals {
		switch x := v.(type) {
		case nil:
			dst[i] = nil
		case []byte:
			if x == nil {
				x = emptyValue // an empty value is not NULL
			}
			dst[i] = x
		case int64:
			if r.info[i].year && x >= 0 && x <= 9999 {
				// As the server prints YEAR: 4 digits, "0000" for the zero year.
				r.bufs[i] = append(r.bufs[i][:0], byte('0'+x/1000), byte('0'+x/100%10), byte('0'+x/10%10), byte('0'+x%10))
			} else {
				r.bufs[i] = strconv.AppendInt(r.bufs[i][:0], x, 10)
			}
			dst[i] = r.bufs[i]
		case uint64:
			r.bufs[i] = strconv.AppendUint(r.bufs[i][:0], x, 10)
			dst[i] = r.bufs[i]
		case float64:
			if r.info[i].Kind == engine.KindFloat32 {
				f := float32(x)
				if float64(f) != x && !math.IsNaN(x) {
					r.err = fmt.Errorf("column %s: %v is not a FLOAT value", r.cols[i].Name, x)
					return false
				}
				r.bufs[i] = strconv.AppendFloat(r.bufs[i][:0], float64(f), 'g', -1, 32)
			} else {
				r.bufs[i] = strconv.AppendFloat(r.bufs[i][:0], x, 'g', -1, 64)
			}
			dst[i] = r.bufs[i]
		case float32:
			r.bufs[i] = strconv.AppendFloat(r.bufs[i][:0], float64(x), 'g', -1, 32)
			dst[i] = r.bufs[i]
		default:
			r.err = fmt.Errorf("column %s: unexpected driver value %T", r.cols[i].Name, v)
			return false
		}
	}
	return true
}

func (r *chunkRows) Err() error { return r.err }

// Close ends the scan. Stopping early (or after an error) cancels first: the driver would
// otherwise read the rest of the chunk just to discard it. Err reports any scan error.
func (r *chunkRows) Close() error {
	early := !r.done || r.err != nil
	if early {
		r.cancel()
	}
	err := r.rows.Close()
	if cerr := r.conn.Close(); err == nil && !errors.Is(cerr, sqldriver.ErrBadConn) {
		err = cerr
	}
	r.cancel()
	if early {
		return nil
	}
	return err
}
