package oracle

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	go_ora "github.com/sijms/go-ora/v2"
	"github.com/sijms/go-ora/v2/configurations"
	"github.com/sijms/go-ora/v2/network"

	"github.com/dataretire/retire/activities/engine"
)

// conn is the narrow seam between the adapter and the server: one session, used by one
// call and closed before the call returns. Tests replace it with a scripted fake that
// records every statement, so statements, their order and their quoting are asserted
// without a server.
type conn interface {
	Exec(ctx context.Context, query string, args ...any) error
	// Query calls scan for every row; the row's values are valid during the call only.
	Query(ctx context.Context, query string, args []any, scan func(row []any) error) error
	// Cursor streams a result that is too large to walk inside one callback (table scans).
	Cursor(ctx context.Context, query string, args []any) (cursor, error)
	Close() error
}

// cursor is a result read row by row.
type cursor interface {
	// Next fills dst (one value per column) and reports false at the end or on error.
	Next(dst []any) bool
	Err() error
	Close() error
}

// connOptions change how one session is opened.
type connOptions struct {
	// PrefetchRows is how many rows go-ora fetches per round trip; 0 lets go-ora size it.
	// go-ora holds whole LOB values in memory, so scans of LOB tables fetch few rows at a time.
	PrefetchRows int
}

// dialer opens one session.
type dialer func(ctx context.Context, opts connOptions) (conn, error)

// goraDialer opens sessions with go-ora. The password is set on the parsed configuration,
// never written into a URL, so no parse or connect error can echo it.
func goraDialer(cfg Config) (dialer, error) {
	// A placeholder keeps go-ora's own validation from switching to OS authentication; with
	// no password at all (wallet, OS authentication) go-ora decides from the parameters.
	placeholder := "placeholder"
	if cfg.Password == "" {
		placeholder = ""
	}
	base, err := go_ora.ParseConfig(go_ora.BuildUrl(cfg.Host, cfg.Port, cfg.Service, cfg.User, placeholder, cfg.Params))
	if err != nil {
		return nil, fmt.Errorf("oracle connection %s:%d/%s: bad parameters: %v: %w", cfg.Host, cfg.Port, cfg.Service, redact(err, cfg.Password), engine.ErrRefused)
	}
	base.Password = cfg.Password
	return func(ctx context.Context, opts connOptions) (conn, error) {
		c := *base
		if opts.PrefetchRows > 0 {
			c.PrefetchRows = opts.PrefetchRows
		}
		db := sql.OpenDB(&connector{cfg: &c})
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		sc, err := db.Conn(ctx)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("connect to %s:%d/%s as %s: %w", cfg.Host, cfg.Port, cfg.Service, cfg.User, redact(err, cfg.Password))
		}
		return &sqlConn{db: db, c: sc}, nil
	}, nil
}

// connector opens go-ora connections from a parsed configuration (go-ora's own connector
// wants a URL, which would carry the password).
type connector struct {
	cfg *configurations.ConnectionConfig
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	oc, err := go_ora.NewConnection("", c.cfg)
	if err != nil {
		return nil, err
	}
	if err := oc.OpenWithContext(ctx); err != nil {
		return nil, err
	}
	return oc, nil
}

func (c *connector) Driver() driver.Driver { return go_ora.GetDefaultDriver() }

// redact removes the password from an error's text, in case a driver ever prints it.
func redact(err error, password string) error {
	if err == nil || len(password) < 3 || !strings.Contains(err.Error(), password) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), password, "***"), code: oraCode(err)}
}

type redacted struct {
	msg  string
	code int
}

func (r *redacted) Error() string { return r.msg }

// sqlConn is one go-ora session through database/sql.
type sqlConn struct {
	db *sql.DB
	c  *sql.Conn
}

func (s *sqlConn) Exec(ctx context.Context, query string, args ...any) error {
	_, err := s.c.ExecContext(ctx, query, args...)
	return err
}

func (s *sqlConn) Query(ctx context.Context, query string, args []any, scan func(row []any) error) error {
	cur, err := s.Cursor(ctx, query, args)
	if err != nil {
		return err
	}
	defer cur.Close()
	sc := cur.(*sqlCursor)
	row := make([]any, sc.n)
	for cur.Next(row) {
		if err := scan(row); err != nil {
			return err
		}
	}
	return cur.Err()
}

func (s *sqlConn) Cursor(ctx context.Context, query string, args []any) (cursor, error) {
	rows, err := s.c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	cols, err := rows.Columns()
	if err != nil {
		rows.Close()
		return nil, err
	}
	c := &sqlCursor{rows: rows, n: len(cols), vals: make([]any, len(cols)), ptrs: make([]any, len(cols))}
	for i := range c.vals {
		c.ptrs[i] = &c.vals[i]
	}
	return c, nil
}

func (s *sqlConn) Close() error {
	err := s.c.Close()
	if e := s.db.Close(); err == nil {
		err = e
	}
	return err
}

// sqlCursor scans into *any: database/sql then hands over go-ora's own values (NUMBER as
// exact decimal text, DATE as time.Time, RAW as []byte...) without converting them.
type sqlCursor struct {
	rows *sql.Rows
	n    int
	vals []any
	ptrs []any
	err  error
}

func (c *sqlCursor) Next(dst []any) bool {
	if c.err != nil || !c.rows.Next() {
		return false
	}
	if err := c.rows.Scan(c.ptrs...); err != nil {
		c.err = err
		return false
	}
	copy(dst, c.vals)
	return true
}

func (c *sqlCursor) Err() error {
	if c.err != nil {
		return c.err
	}
	return c.rows.Err()
}

func (c *sqlCursor) Close() error { return c.rows.Close() }

var oraPattern = regexp.MustCompile(`ORA-(\d{5})`)

// oraCode is the ORA- error number of err, or 0.
func oraCode(err error) int {
	if err == nil {
		return 0
	}
	var oe *network.OracleError
	if errors.As(err, &oe) {
		return oe.ErrCode
	}
	var r *redacted
	if errors.As(err, &r) {
		return r.code
	}
	if m := oraPattern.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// Server errors this package tolerates because they mean "already done".
const (
	oraSessionGone     = 30    // ORA-00030: user session ID does not exist
	oraSessionMarked   = 31    // ORA-00031: session marked for kill
	oraNoTable         = 942   // ORA-00942: table or view does not exist
	oraNoTablespace    = 959   // ORA-00959: tablespace does not exist
	oraNoRole          = 1917  // ORA-01917: user or role does not exist
	oraNoUser          = 1918  // ORA-01918: user does not exist
	oraNotGranted      = 1927  // ORA-01927: cannot REVOKE privileges you did not grant
	oraAlreadyReadOnly = 1644  // ORA-01644: tablespace is already read only
	oraNotReadOnly     = 1646  // ORA-01646: tablespace is not read only
	oraNoObject        = 4043  // ORA-04043: object does not exist
	oraNoPDB           = 65011 // ORA-65011: pluggable database does not exist
	oraPDBOpen         = 65019 // ORA-65019: pluggable database already open
	oraPDBClosed       = 65020 // ORA-65020: pluggable database already closed
)

// isCode reports whether err is one of the given ORA- errors.
func isCode(err error, codes ...int) bool {
	c := oraCode(err)
	for _, x := range codes {
		if c == x && c != 0 {
			return true
		}
	}
	return false
}

// Value helpers: go-ora returns NUMBER as decimal text, the fake returns Go numbers.

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Sprint(x)
	}
}

func num(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case float64:
		return int64(x), nil
	case string:
		if i := strings.IndexByte(x, '.'); i >= 0 {
			x = x[:i] // sizes and counts are integral; a scale would only be zeros
		}
		return strconv.ParseInt(strings.TrimSpace(x), 10, 64)
	case go_ora.Number:
		return x.Int64()
	case *go_ora.Number:
		return x.Int64()
	}
	return 0, fmt.Errorf("unexpected numeric value %T", v)
}
