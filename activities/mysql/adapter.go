// Package mysql is the MySQL/MariaDB adapter of the retirement engine: it inventories a
// database, watches who connects, cuts and restores access, exports and drops it.
//
// Every method opens its own pool and closes it before returning, and every statement runs
// under its own deadline (Config.QueryTimeout), so nothing is held across the long waits of
// the workflow (idle connections die silently behind firewalls).
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/dataretire/retire/activities/engine"
)

// Config says how to reach the server. Params are driver DSN parameters (tls, timeout,
// session variables...).
type Config struct {
	Host     string
	Port     int
	User     string
	Password string
	Params   map[string]string
	// QueryTimeout bounds every single statement (default 30s).
	QueryTimeout time.Duration
	// PollInterval is the pause between two looks at the processlist (default 500ms).
	PollInterval time.Duration
	// AuditLogPath is the server's audit log (MariaDB server_audit, output to a file) as the
	// worker can read it; empty: the audit log is not used (see AuditEvents).
	AuditLogPath string
}

const (
	defaultQueryTimeout = 30 * time.Second
	defaultPollInterval = 500 * time.Millisecond
	dialTimeout         = 10 * time.Second
	// idleTimeout closes pooled connections well before a firewall forgets them.
	idleTimeout = 10 * time.Second
	maxOpen     = 4
	// scanTimeout bounds a table scan when the caller's context has no deadline.
	scanTimeout = 24 * time.Hour
)

// Adapter implements engine.Adapter for MySQL 8 and MariaDB 10.6+.
type Adapter struct {
	cfg       Config
	connector *driver.Config

	mu     sync.Mutex
	server *serverInfo // learnt on first use: the flavour changes how some SQL is written
	caps   *lookCaps   // what LookServer can join and how names compare, learnt again now and then
	// looks is LookServer's own connection, kept between looks: a poller that logged in
	// twice a second waited for the server's privilege lock behind every GRANT and REVOKE of
	// its neighbours' cuts (a 6 s gap in sampling with a thousand retirements). Close ends it.
	looks *sql.DB
}

// Close closes what the adapter keeps open between calls (LookServer's connection).
func (a *Adapter) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.looks == nil {
		return nil
	}
	err := a.looks.Close()
	a.looks = nil
	return err
}

// lookPool is LookServer's connection, opened on first use.
func (a *Adapter) lookPool() (*sql.DB, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.looks != nil {
		return a.looks, nil
	}
	pool, err := a.open()
	if err != nil {
		return nil, err
	}
	pool.SetMaxOpenConns(1)
	pool.SetMaxIdleConns(1)
	pool.SetConnMaxLifetime(10 * time.Minute)
	a.looks = pool
	return pool, nil
}

var _ engine.Adapter = (*Adapter)(nil)

type serverInfo struct {
	engine  string // mariadb or mysql
	version string
}

// New checks the configuration; it does not connect.
func New(cfg Config) (*Adapter, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = 3306
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = defaultQueryTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPollInterval
	}
	dc, err := driverConfig(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := driver.NewConnector(dc); err != nil {
		return nil, fmt.Errorf("mysql connection %s: %v: %w", dc.Addr, err, engine.ErrRefused)
	}
	return &Adapter{cfg: cfg, connector: dc}, nil
}

// driverConfig builds the driver configuration without ever writing the password into a
// DSN string, so no parse error can echo it.
func driverConfig(cfg Config) (*driver.Config, error) {
	v := url.Values{}
	for k, val := range cfg.Params {
		v.Set(k, val)
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	dc, err := driver.ParseDSN("tcp(" + addr + ")/?" + v.Encode())
	if err != nil {
		return nil, fmt.Errorf("mysql connection %s: bad parameters: %v: %w", addr, err, engine.ErrRefused)
	}
	dc.User = cfg.User
	dc.Passwd = cfg.Password
	if dc.Timeout == 0 {
		dc.Timeout = dialTimeout
	}
	// Exports need the server's exact text, and nothing here may run two statements at once.
	dc.ParseTime = false
	dc.InterpolateParams = false
	dc.MultiStatements = false
	return dc, nil
}

// open makes a small pool for one call; the caller closes it before returning.
func (a *Adapter) open() (*sql.DB, error) {
	return a.openIn("")
}

// openIn opens a pool whose connections use dbName as default database: SHOW CREATE then
// prints names relative to it, which makes the DDL portable to another name.
func (a *Adapter) openIn(dbName string) (*sql.DB, error) {
	dc := a.connector.Clone()
	dc.DBName = dbName
	c, err := driver.NewConnector(dc)
	if err != nil {
		return nil, fmt.Errorf("mysql connection %s: %v: %w", dc.Addr, err, engine.ErrRefused)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(2)
	db.SetConnMaxIdleTime(idleTimeout)
	db.SetConnMaxLifetime(10 * time.Minute)
	return db, nil
}

// timeout gives one statement its own deadline, whatever the caller's context carries.
func (a *Adapter) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.cfg.QueryTimeout)
}

// querier is a pool or a single connection.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (a *Adapter) exec(ctx context.Context, q querier, query string, args ...any) error {
	ctx, cancel := a.timeout(ctx)
	defer cancel()
	_, err := q.ExecContext(ctx, query, args...)
	return classify(err)
}

// each runs a query under its own deadline and calls fn for every row.
func (a *Adapter) each(ctx context.Context, q querier, query string, args []any, fn func(*sql.Rows) error) error {
	ctx, cancel := a.timeout(ctx)
	defer cancel()
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return classify(rows.Err())
}

// strings1 returns the first column of every row.
func (a *Adapter) strings1(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	var out []string
	err := a.each(ctx, q, query, args, func(r *sql.Rows) error {
		var s string
		if err := r.Scan(&s); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

func (a *Adapter) row(ctx context.Context, q querier, query string, args []any, dest ...any) error {
	ctx, cancel := a.timeout(ctx)
	defer cancel()
	return classify(q.QueryRowContext(ctx, query, args...).Scan(dest...))
}

// firstRow returns every column of the first row, whatever their number: SHOW CREATE
// prints different columns on different versions.
func (a *Adapter) firstRow(ctx context.Context, q querier, query string) ([]sql.NullString, error) {
	var out []sql.NullString
	err := a.each(ctx, q, query, nil, func(r *sql.Rows) error {
		if out != nil {
			return nil
		}
		cols, err := r.Columns()
		if err != nil {
			return err
		}
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return err
		}
		out = vals
		return nil
	})
	if err == nil && out == nil {
		err = sql.ErrNoRows
	}
	return out, err
}

// serverInfo learns once whether this is MariaDB or MySQL.
func (a *Adapter) serverInfo(ctx context.Context, q querier) (serverInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.server != nil {
		return *a.server, nil
	}
	var version, comment sql.NullString
	if err := a.row(ctx, q, "SELECT VERSION(), @@version_comment", nil, &version, &comment); err != nil {
		return serverInfo{}, fmt.Errorf("read server version: %w", err)
	}
	s := serverInfo{engine: "mysql", version: version.String}
	if strings.Contains(strings.ToLower(version.String+" "+comment.String), "mariadb") {
		s.engine = "mariadb"
	}
	a.server = &s
	return s, nil
}

func (a *Adapter) isMariaDB() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.server != nil && a.server.engine == "mariadb"
}

// schemaExists checks SCHEMATA for the exact name and returns its charset and collation.
func (a *Adapter) schemaExists(ctx context.Context, q querier, db string) (ok bool, charset, collation string, err error) {
	err = a.row(ctx, q, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE "+schemaIs("SCHEMA_NAME"),
		[]any{db, db}, &charset, &collation)
	if errors.Is(err, sql.ErrNoRows) {
		return false, "", "", nil
	}
	if err != nil {
		return false, "", "", fmt.Errorf("look up database %q: %w", db, err)
	}
	return true, charset, collation, nil
}

// mysqlErrno returns the server error number, or 0.
func mysqlErrno(err error) uint16 {
	var me *driver.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// PollInterval is how often sampling looks at the processlist.
func (a *Adapter) PollInterval() time.Duration { return a.cfg.PollInterval }
