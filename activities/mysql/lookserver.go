package mysql

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

var _ engine.EvidenceProber = (*Adapter)(nil)

// infoLimit is how much of a session's statement a look keeps (characters): enough to see
// the qualified names of an ordinary statement, little enough to look often.
const infoLimit = 2048

// capsTTL is how long what a server offers the looks (the metadata-lock table, how names
// compare, its time zone) is trusted before it is read again: a plugin installed during a
// window is used from the next refresh on.
const capsTTL = 5 * time.Minute

// lookCaps is what the looks and the audit log need to know of the server.
type lookCaps struct {
	at time.Time
	// lctn is @@lower_case_table_names: 0 compares database names exactly, 1 and 2 without case.
	lctn int
	// locks: the metadata locks can be joined to the sessions (MariaDB: the
	// metadata_lock_info plugin is active; MySQL: performance_schema is on and readable).
	locks bool
	// tzOffset is the server's system time zone (which server_audit writes its times in),
	// in seconds east of UTC.
	tzOffset int
}

// The statements of one look, one round trip each: every session, the schema objects every
// session holds a metadata lock on, and one row of what the server says of its table
// counters (whether they count now), in one result whose first column says which.
const (
	lookProcesslist = "SELECT 'session', ID, USER, HOST, DB, COMMAND, LEFT(INFO, 2048), NULL, NULL, NULL " +
		"FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"
	// lookCountersMariaDB is MariaDB's server row: userstat (1 on, 0 off) in the id column.
	lookCountersMariaDB = "SELECT 'server', @@global.userstat, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
	// lookProcesslistMariaDB is MariaDB's look without the lock table.
	lookProcesslistMariaDB = lookProcesslist + " UNION ALL " + lookCountersMariaDB
	lookMariaDB            = lookProcesslistMariaDB + " UNION ALL " +
		"SELECT 'lock', THREAD_ID, NULL, NULL, NULL, NULL, NULL, LOCK_TYPE, TABLE_SCHEMA, TABLE_NAME " +
		"FROM information_schema.METADATA_LOCK_INFO WHERE THREAD_ID <> CONNECTION_ID() AND TABLE_SCHEMA <> ''"
	// MySQL's server row: whether the table I/O instrument that Counters reads is enabled
	// (1 or 0), as Counters reads it. The processlist alone (performance_schema not
	// readable) cannot tell, and reports nothing.
	lookMySQL = "SELECT 'session', t.PROCESSLIST_ID, t.PROCESSLIST_USER, t.PROCESSLIST_HOST, t.PROCESSLIST_DB, t.PROCESSLIST_COMMAND, LEFT(t.PROCESSLIST_INFO, 2048), NULL, NULL, NULL " +
		"FROM performance_schema.threads t WHERE t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID()" +
		" UNION ALL " +
		"SELECT 'lock', t.PROCESSLIST_ID, NULL, NULL, NULL, NULL, NULL, m.OBJECT_TYPE, m.OBJECT_SCHEMA, m.OBJECT_NAME " +
		"FROM performance_schema.metadata_locks m JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID " +
		"WHERE t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID() AND m.OBJECT_SCHEMA <> ''" +
		" UNION ALL " +
		"SELECT 'lock', t.PROCESSLIST_ID, NULL, NULL, NULL, NULL, NULL, 'TABLE', h.OBJECT_SCHEMA, h.OBJECT_NAME " +
		"FROM performance_schema.table_handles h JOIN performance_schema.threads t ON t.THREAD_ID = h.OWNER_THREAD_ID " +
		"WHERE t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID() AND h.OBJECT_TYPE = 'TABLE'" +
		" UNION ALL " +
		"SELECT 'server', (SELECT COUNT(*) FROM performance_schema.setup_instruments WHERE NAME = 'wait/io/table/sql/handler' AND ENABLED = 'YES'), " +
		"NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"

	capsMariaDB = "SELECT @@lower_case_table_names, " +
		"(SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'), " +
		"TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', 'SYSTEM'))"
	capsMySQL = "SELECT @@lower_case_table_names, @@performance_schema, " +
		"TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', 'SYSTEM'))"
)

// Errors after which a look falls back to the processlist alone: the lock table went away
// (plugin uninstalled) or may not be read.
const (
	errUnknownTableInSchema = 1109 // ER_UNKNOWN_TABLE: Unknown table 'METADATA_LOCK_INFO' in information_schema
	errNoSuchTable          = 1146 // ER_NO_SUCH_TABLE
)

// lookCaps returns what the server offers the looks, reading it again when it is older than
// capsTTL.
func (a *Adapter) lookCaps(ctx context.Context, q querier) (lookCaps, error) {
	a.mu.Lock()
	if a.caps != nil && time.Since(a.caps.at) < capsTTL {
		c := *a.caps
		a.mu.Unlock()
		return c, nil
	}
	a.mu.Unlock()
	si, err := a.serverInfo(ctx, q)
	if err != nil {
		return lookCaps{}, err
	}
	query := capsMariaDB
	if si.engine == "mysql" {
		query = capsMySQL
	}
	var lctn, locks int
	var tz sql.NullInt64
	if err := a.row(ctx, q, query, nil, &lctn, &locks, &tz); err != nil {
		return lookCaps{}, fmt.Errorf("read what the server offers for sampling: %w", err)
	}
	c := lookCaps{at: time.Now(), lctn: lctn, locks: locks > 0, tzOffset: int(tz.Int64)}
	a.mu.Lock()
	a.caps = &c
	a.mu.Unlock()
	return c, nil
}

// forgetLocks records that the lock table cannot be read until the next refresh.
func (a *Adapter) forgetLocks() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.caps != nil {
		a.caps.locks = false
	}
}

// LookServer is one look at every session of the server in one statement: the processlist
// joined to the metadata locks each session holds (MariaDB's METADATA_LOCK_INFO when the
// metadata_lock_info plugin is active, MySQL's performance_schema metadata_locks and
// table_handles), or the processlist alone when they are not there. Its own connection
// and the server's own threads are left out. The look also says how the server compares
// names (NameCase: lower_case_table_names, which cannot change while it runs) and, in the
// same statement, whether its table counters are switched off now (CountersOff: MariaDB's
// userstat, MySQL's table I/O instrument), so that a sampler sees the counters switched
// off and on again between two readings of Counters.
//
// It keeps its connection open between looks (see Adapter.looks); Close closes it.
func (a *Adapter) LookServer(ctx context.Context) (engine.ServerLook, error) {
	pool, err := a.lookPool()
	if err != nil {
		return engine.ServerLook{}, err
	}
	return a.lookServer(ctx, pool)
}

func (a *Adapter) lookServer(ctx context.Context, q querier) (engine.ServerLook, error) {
	si, err := a.serverInfo(ctx, q)
	if err != nil {
		return engine.ServerLook{}, err
	}
	caps, err := a.lookCaps(ctx, q)
	if err != nil {
		return engine.ServerLook{}, err
	}
	alone, query := lookProcesslistMariaDB, lookMariaDB
	if si.engine == "mysql" {
		alone, query = lookProcesslist, lookMySQL
	}
	if !caps.locks {
		query = alone
	}
	look, err := a.lookWith(ctx, q, query)
	if err != nil && caps.locks {
		switch mysqlErrno(err) {
		case errUnknownTableInSchema, errNoSuchTable, 1142:
			a.forgetLocks()
			look, err = a.lookWith(ctx, q, alone)
		}
	}
	if err != nil {
		return engine.ServerLook{}, fmt.Errorf("look at the server's sessions: %w", err)
	}
	look.NameCase = caps.lctn
	return look, nil
}

// lockedTypes are the metadata-lock kinds that show a session reaching a schema: its tables
// (with their names) and its schema, routines, triggers and events (without a table name).
// Server-wide locks, user locks (GET_LOCK names) and backup locks say nothing of a schema.
var lockedTypes = map[string]bool{
	"Table metadata lock": true, "TABLE": true,
	"Schema metadata lock": true, "SCHEMA": true,
	"Stored function metadata lock": true, "FUNCTION": true,
	"Stored procedure metadata lock": true, "PROCEDURE": true,
	"Stored package body metadata lock": true,
	"Trigger metadata lock":             true, "TRIGGER": true,
	"Event metadata lock": true, "EVENT": true,
}

func isTableLock(kind string) bool { return kind == "Table metadata lock" || kind == "TABLE" }

func (a *Adapter) lookWith(ctx context.Context, q querier, query string) (engine.ServerLook, error) {
	at := time.Now().UTC()
	byID := map[int64]*engine.SessionRow{}
	var order []int64
	locks := map[int64][]engine.TableRef{}
	countersOff := false
	err := a.each(ctx, q, query, nil, func(r *sql.Rows) error {
		var kind string
		var p procRow
		var info, lockType, schema, name sql.NullString
		if err := r.Scan(&kind, &p.id, &p.user, &p.host, &p.db, &p.command, &info, &lockType, &schema, &name); err != nil {
			return err
		}
		if kind == "server" {
			countersOff = p.id == 0
			return nil
		}
		if kind == "lock" {
			if !lockedTypes[lockType.String] || schema.String == "" {
				return nil
			}
			ref := engine.TableRef{Schema: schema.String}
			if isTableLock(lockType.String) {
				ref.Table = name.String
			}
			if !slices.Contains(locks[p.id], ref) {
				locks[p.id] = append(locks[p.id], ref)
			}
			return nil
		}
		if p.system() {
			return nil
		}
		if _, dup := byID[p.id]; dup {
			return nil
		}
		byID[p.id] = &engine.SessionRow{
			ID: p.id, User: p.user.String, Host: clientHost(p.host.String),
			DB: p.db.String, Command: p.command.String, Info: info.String,
		}
		order = append(order, p.id)
		return nil
	})
	if err != nil {
		return engine.ServerLook{}, err
	}
	look := engine.ServerLook{At: at, Sessions: make([]engine.SessionRow, 0, len(order)), CountersOff: countersOff}
	slices.Sort(order)
	for _, id := range order {
		s := byID[id]
		// Locks of a session the processlist did not show (it ended in between, or is one
		// of the server's own threads) are left out: nobody to name.
		s.Locked = locks[id]
		slices.SortFunc(s.Locked, func(x, y engine.TableRef) int {
			return strings.Compare(x.Schema+"\x00"+x.Table, y.Schema+"\x00"+y.Table)
		})
		look.Sessions = append(look.Sessions, *s)
	}
	return look, nil
}

// Reaching picks the sessions of a look that reach db: its default database is db
// (ViaDefaultDB), it holds a metadata lock on one of db's tables or on db itself (ViaLock),
// or its statement names db as the qualifier of a name, `db`.t or db.t (ViaStatement).
// Names compare as the server compares them (look.NameCase, lower_case_table_names as the
// look read it: the look may come from another Adapter, so nothing of this one's is used).
// Tables are the tables of db it was seen on, when the source tells.
func (a *Adapter) Reaching(look engine.ServerLook, db string) []engine.Session {
	lctn := look.NameCase
	out := []engine.Session{}
	for _, s := range look.Sessions {
		var via, tables []string
		if s.DB != "" && sameName(s.DB, db, lctn) {
			via = append(via, engine.ViaDefaultDB)
		}
		locked := false
		for _, l := range s.Locked {
			if sameName(l.Schema, db, lctn) {
				locked = true
				if l.Table != "" {
					tables = append(tables, l.Table)
				}
			}
		}
		if locked {
			via = append(via, engine.ViaLock)
		}
		named := false
		for _, ref := range qualifiedNames(s.Info) {
			if sameName(ref.Schema, db, lctn) {
				named = true
				if ref.Table != "" {
					tables = append(tables, ref.Table)
				}
			}
		}
		if named {
			via = append(via, engine.ViaStatement)
		}
		if len(via) == 0 {
			continue
		}
		slices.Sort(via)
		slices.Sort(tables)
		out = append(out, engine.Session{
			User: s.User, Host: s.Host, Program: s.Program,
			FirstSeen: look.At, LastSeen: look.At, Count: 1, ID: s.ID,
			Via: via, Tables: slices.Compact(tables),
		})
	}
	slices.SortFunc(out, func(x, y engine.Session) int {
		if c := strings.Compare(x.Key(), y.Key()); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	return out
}

// sameName compares two database names as the server does: exactly when
// lower_case_table_names is 0, without case otherwise.
func sameName(a, b string, lctn int) bool {
	if lctn == 0 {
		return a == b
	}
	return strings.EqualFold(a, b)
}
