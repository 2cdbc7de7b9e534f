package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// What each source sees and misses, as measured on MariaDB 10.11 (activities/mysql
// evidence_test.go) and as MySQL 8's manual describes performance_schema.
const (
	seesSessionsMariaDB = "every session's user, host, default database and statement at each look (information_schema.PROCESSLIST); " +
		"misses connections that begin and end between two looks"
	seesLocksMariaDB = "sessions that hold the database's tables open at a look, whatever their default database: a running statement, " +
		"an open transaction gone idle, HANDLER, LOCK TABLES, and views, routines and ON DELETE/UPDATE CASCADE of other databases " +
		"(information_schema.METADATA_LOCK_INFO); misses what ends between two looks and foreign-key checks from other databases' tables"
	seesCountersMariaDB = "rows read and changed per table by anyone, however short the connection and whatever the way in " +
		"(qualified names, views, routines, triggers and events of other databases), from the moment userstat is on " +
		"(information_schema.TABLE_STATISTICS); misses who it was, changes by ON DELETE/UPDATE CASCADE and foreign-key checks " +
		"(done inside InnoDB), HANDLER reads, query-cache hits and any time userstat is off; restarts and FLUSH TABLE_STATISTICS start it " +
		"from zero (a new epoch, as does any other FLUSH); shows only tables the retire account holds a privilege on"
	seesAttemptsMariaDB = "per user name, not user@host (information_schema.USER_STATISTICS): ACCESS_DENIED counts statements refused " +
		"on missing grants (1142, 1044) and failed logins with a wrong password or a refused default database (1045, 1044); " +
		"DENIED_CONNECTIONS adds a session's running count of them again at every statement; a LOCKED account's logins (4151) " +
		"are counted nowhere, nor a refused USE, nor statements failing on tables strategy rename moved away (1146): only the audit log shows those"
	seesAuditMariaDB = "every connection and failed login (a locked account's 4151 too) with user, host and time, with QUERY every statement " +
		"with its error (1146 on the tables strategy rename moved away), and with TABLE every " +
		"table read or written whatever the way in (views, routines, triggers, cascading foreign keys; events as user event_scheduler) " +
		"(server_audit); misses foreign-key checks, users left out by server_audit_incl_users/excl_users, and what was written before the window"

	seesSessionsMySQL = "every session's user, host, default database and statement at each look (performance_schema.threads); " +
		"misses connections that begin and end between two looks"
	seesLocksMySQL = "sessions that hold the database's tables open or locked at a look, whatever their default database " +
		"(performance_schema.metadata_locks and table_handles); misses what ends between two looks"
	seesCountersMySQL = "table I/O per table, reads and writes, by anyone however short the connection " +
		"(performance_schema.table_io_waits_summary_by_table); misses who it was; a restart or TRUNCATE of the table starts it from zero " +
		"(a new epoch, as does any TRUNCATE)"
	seesAttemptsMySQL = "errors per account and error number (performance_schema.events_errors_summary_by_account_by_error): " +
		"refused statements (1142, 1143, 1044, 1227, 1370), statements on missing tables (1146: the old names after strategy rename, " +
		"but any other table the account names that does not exist too) and denied logins (1045, 3118 locked, 3955) counted per user name; " +
		"logins refused before the account is known are counted per client host only (performance_schema.host_cache), not read; " +
		"a restart or a TRUNCATE of the summary table starts it from zero (a new epoch, as does any TRUNCATE)"
)

// EvidenceSources probes, without changing anything, which usage-evidence sources the server
// and the retire account offer for db.
func (a *Adapter) EvidenceSources(ctx context.Context, db string) ([]engine.EvidenceSource, error) {
	if err := ValidIdentifier(db); err != nil {
		return nil, err
	}
	pool, err := a.open()
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return a.evidenceSources(ctx, pool)
}

func (a *Adapter) evidenceSources(ctx context.Context, q querier) ([]engine.EvidenceSource, error) {
	si, err := a.serverInfo(ctx, q)
	if err != nil {
		return nil, err
	}
	lines, err := a.ownGrants(ctx, q, si)
	if err != nil {
		return nil, err
	}
	h := readHoldings(lines)
	process := h.globalAll || h.global["PROCESS"]
	if si.engine == "mysql" {
		return a.sourcesMySQL(ctx, q, process)
	}
	return a.sourcesMariaDB(ctx, q, h, process)
}

const grantProcess = "GRANT PROCESS ON *.* to the retire account: without it the processlist shows only its own sessions"

func (a *Adapter) sourcesMariaDB(ctx context.Context, q querier, h holdings, process bool) ([]engine.EvidenceSource, error) {
	var userstat int
	var datadir sql.NullString
	if err := a.row(ctx, q, "SELECT @@global.userstat, @@datadir", nil, &userstat, &datadir); err != nil {
		return nil, fmt.Errorf("read userstat: %w", err)
	}
	plugins := map[string]string{}
	err := a.each(ctx, q, "SELECT PLUGIN_NAME, PLUGIN_STATUS FROM information_schema.ALL_PLUGINS WHERE PLUGIN_NAME IN ('METADATA_LOCK_INFO', 'SERVER_AUDIT')", nil,
		func(r *sql.Rows) error {
			var name, status string
			if err := r.Scan(&name, &status); err != nil {
				return err
			}
			plugins[name] = status
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read the server's plugins: %w", err)
	}

	sessions := engine.EvidenceSource{Name: engine.SourceSessions, State: engine.SourceAvailable, Sees: seesSessionsMariaDB}
	if !process {
		sessions.State, sessions.Detail = engine.SourceNotPermitted, grantProcess
	}

	locks := engine.EvidenceSource{Name: engine.SourceLocks, State: engine.SourceAvailable, Sees: seesLocksMariaDB,
		Detail: "information_schema.METADATA_LOCK_INFO joined to the processlist"}
	switch {
	case plugins["METADATA_LOCK_INFO"] == "":
		locks.State, locks.Detail = engine.SourceUnsupported, "the metadata_lock_info plugin is not in the server's plugin_dir (it comes with the server packages)"
	case plugins["METADATA_LOCK_INFO"] != "ACTIVE":
		locks.State, locks.Detail = engine.SourceOff, "INSTALL SONAME 'metadata_lock_info' (a DBA, once; retire does not install plugins)"
	case !process:
		locks.State, locks.Detail = engine.SourceNotPermitted, grantProcess+" (the locks show thread ids only)"
	}

	super := h.globalAll || h.global["SUPER"]
	counters := engine.EvidenceSource{Name: engine.SourceTableCounters, State: engine.SourceAvailable, Sees: seesCountersMariaDB,
		Detail: "information_schema.TABLE_STATISTICS (userstat is on)", Dynamic: true}
	// userstat counts neither a LOCKED account's logins (4151) nor statements that fail on
	// a missing table (1146), as measured on MariaDB 10.11 (TestEvidenceAttemptsAfterTheCut,
	// TestEvidenceAttemptsAfterARename).
	attempts := engine.EvidenceSource{Name: engine.SourceAttempts, State: engine.SourceAvailable, Sees: seesAttemptsMariaDB,
		Detail: "information_schema.USER_STATISTICS (userstat is on)", Dynamic: true,
		Blind: []string{engine.BlindLockedLogins, engine.BlindRenamed}}
	if userstat == 0 {
		how := "SET GLOBAL userstat=1 (retire does it for the window when the connection profile lists it under sampling.enable)"
		if !super {
			how += "; the retire account needs SUPER for that"
		}
		counters.State, counters.Detail = engine.SourceOff, how
		attempts.State, attempts.Detail = engine.SourceOff, how
	}
	if !process {
		attempts.State, attempts.Detail = engine.SourceNotPermitted, "GRANT PROCESS ON *.* to the retire account: without it USER_STATISTICS shows nothing"
	}

	audit, err := a.auditSourceMariaDB(ctx, q, plugins["SERVER_AUDIT"], datadir.String)
	if err != nil {
		return nil, err
	}
	return []engine.EvidenceSource{sessions, locks, counters, attempts, audit}, nil
}

func (a *Adapter) auditSourceMariaDB(ctx context.Context, q querier, plugin, datadir string) (engine.EvidenceSource, error) {
	src := engine.EvidenceSource{Name: engine.SourceAuditLog, State: engine.SourceOff, Sees: seesAuditMariaDB}
	switch plugin {
	case "":
		src.State, src.Detail = engine.SourceUnsupported, "the server_audit plugin is not in the server's plugin_dir (it comes with the server packages)"
		return src, nil
	case "ACTIVE":
	default:
		src.Detail = "INSTALL SONAME 'server_audit', then SET GLOBAL server_audit_events='CONNECT,TABLE', server_audit_logging=ON (and in my.cnf), and set audit_log in the connection profile"
		return src, nil
	}
	vars := map[string]string{}
	err := a.each(ctx, q, `SHOW GLOBAL VARIABLES LIKE 'server\_audit\_%'`, nil, func(r *sql.Rows) error {
		var name, value sql.NullString
		if err := r.Scan(&name, &value); err != nil {
			return err
		}
		vars[strings.ToLower(name.String)] = value.String
		return nil
	})
	if err != nil {
		return src, fmt.Errorf("read the server_audit settings: %w", err)
	}
	events := map[string]bool{}
	for _, e := range strings.Split(strings.ToUpper(vars["server_audit_events"]), ",") {
		events[strings.TrimSpace(e)] = true
	}
	src.Blind = auditBlind(events)
	serverPath := vars["server_audit_file_path"]
	if serverPath != "" && !filepath.IsAbs(serverPath) && datadir != "" {
		serverPath = filepath.Join(datadir, serverPath)
	}
	switch {
	case !strings.EqualFold(vars["server_audit_logging"], "ON"):
		src.Detail = "SET GLOBAL server_audit_logging=ON (and server_audit_logging=ON in my.cnf)"
	case events[""] && len(events) == 1:
		// An empty list logs every event: that will do.
	case !events["CONNECT"] || !(events["TABLE"] || events["QUERY"] || events["QUERY_DML"]):
		src.Detail = fmt.Sprintf("server_audit_events is %q: SET GLOBAL server_audit_events='CONNECT,TABLE' (QUERY also logs the statements)", vars["server_audit_events"])
	}
	if src.Detail != "" {
		return src, nil
	}
	if !strings.EqualFold(vars["server_audit_output_type"], "file") {
		src.Detail = "server_audit logs to " + vars["server_audit_output_type"] + ": retire reads a file (SET GLOBAL server_audit_output_type=file)"
		return src, nil
	}
	if a.cfg.AuditLogPath == "" {
		src.Detail = "the server writes " + serverPath + ": set audit_log in the connection profile to where the worker can read it"
		return src, nil
	}
	f, err := os.Open(a.cfg.AuditLogPath)
	switch {
	case errors.Is(err, os.ErrPermission):
		src.State, src.Detail = engine.SourceNotPermitted, fmt.Sprintf("the worker may not read %s (the server writes it mode 0660 as its own user): %v", a.cfg.AuditLogPath, err)
		return src, nil
	case err != nil:
		src.Detail = fmt.Sprintf("the worker cannot read %s (the server writes %s): %v", a.cfg.AuditLogPath, serverPath, err)
		return src, nil
	}
	f.Close()
	src.State, src.Detail = engine.SourceAvailable, "server_audit log "+a.cfg.AuditLogPath
	if filepath.Clean(a.cfg.AuditLogPath) != filepath.Clean(serverPath) {
		src.Detail += " (the server writes " + serverPath + ")"
	}
	if inc, exc := vars["server_audit_incl_users"], vars["server_audit_excl_users"]; inc != "" || exc != "" {
		src.Detail += fmt.Sprintf("; only users %q are logged, users %q are not", inc, exc)
	}
	return src, nil
}

// auditBlind is what server_audit, logging events, cannot show of the attempts after the
// cut: a locked account's failed logins are FAILED_CONNECT events (4151) of CONNECT, and a
// statement failing on a renamed table (1146) opens no table, so only QUERY logs it, with
// its error; QUERY_DML and QUERY_DDL log only their kind of statement. An empty list logs
// every event. As measured on MariaDB 10.11.
func auditBlind(events map[string]bool) []string {
	if events[""] && len(events) == 1 {
		return nil
	}
	var blind []string
	if !events["CONNECT"] {
		blind = append(blind, engine.BlindLockedLogins)
	}
	if !events["QUERY"] {
		blind = append(blind, engine.BlindRenamed)
	}
	return blind
}

func (a *Adapter) sourcesMySQL(ctx context.Context, q querier, process bool) ([]engine.EvidenceSource, error) {
	var ps int
	if err := a.row(ctx, q, "SELECT @@performance_schema", nil, &ps); err != nil {
		return nil, fmt.Errorf("read performance_schema: %w", err)
	}
	sessions := engine.EvidenceSource{Name: engine.SourceSessions, State: engine.SourceAvailable, Sees: seesSessionsMySQL}
	if !process {
		sessions.State, sessions.Detail = engine.SourceNotPermitted, grantProcess
	}
	locks := engine.EvidenceSource{Name: engine.SourceLocks, State: engine.SourceAvailable, Sees: seesLocksMySQL}
	counters := engine.EvidenceSource{Name: engine.SourceTableCounters, State: engine.SourceAvailable, Sees: seesCountersMySQL}
	// Not blind: a locked account's logins are error 3118, and statements on the renamed
	// tables 1146, both counted per account (accountsMySQL).
	attempts := engine.EvidenceSource{Name: engine.SourceAttempts, State: engine.SourceAvailable, Sees: seesAttemptsMySQL}
	audit := engine.EvidenceSource{Name: engine.SourceAuditLog, State: engine.SourceUnsupported,
		Sees:   "MySQL Enterprise Audit writes JSON or XML records that retire does not read",
		Detail: "retire reads MariaDB's server_audit log only"}
	psSources := []*engine.EvidenceSource{&locks, &counters, &attempts}
	if ps == 0 {
		for _, s := range psSources {
			s.State, s.Detail = engine.SourceOff, "performance_schema=ON in my.cnf, at the next restart"
		}
		return []engine.EvidenceSource{sessions, locks, counters, attempts, audit}, nil
	}
	enabled := map[string]string{}
	err := a.each(ctx, q, "SELECT NAME, ENABLED FROM performance_schema.setup_instruments WHERE NAME IN ('wait/lock/metadata/sql/mdl', 'wait/io/table/sql/handler')", nil,
		func(r *sql.Rows) error {
			var name, on string
			if err := r.Scan(&name, &on); err != nil {
				return err
			}
			enabled[name] = on
			return nil
		})
	if errors.Is(err, engine.ErrRefused) {
		for _, s := range psSources {
			s.State, s.Detail = engine.SourceNotPermitted, "GRANT SELECT ON performance_schema.* to the retire account"
		}
		return []engine.EvidenceSource{sessions, locks, counters, attempts, audit}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read performance_schema.setup_instruments: %w", err)
	}
	instrument := func(s *engine.EvidenceSource, name, table string) {
		s.Detail = "performance_schema." + table
		if enabled[name] != "YES" {
			s.State = engine.SourceOff
			s.Detail = fmt.Sprintf("UPDATE performance_schema.setup_instruments SET ENABLED='YES' WHERE NAME='%s' (and performance-schema-instrument='%s=ON' in my.cnf)", name, name)
		}
	}
	instrument(&locks, "wait/lock/metadata/sql/mdl", "metadata_locks")
	instrument(&counters, "wait/io/table/sql/handler", "table_io_waits_summary_by_table")
	attempts.Detail = "performance_schema.events_errors_summary_by_account_by_error"
	if !process {
		locks.State, locks.Detail = engine.SourceNotPermitted, grantProcess+" (performance_schema.threads likewise)"
	}
	return []engine.EvidenceSource{sessions, locks, counters, attempts, audit}, nil
}

// userstat is the one source retire may switch on: MariaDB's userstat feeds both the table
// counters and the attempts.
const userstatVar = "userstat"

// EnableSource switches a dynamic source on for the window: on MariaDB, table-counters and
// attempts are SET GLOBAL userstat=ON. Every other source is the DBA's to switch on.
func (a *Adapter) EnableSource(ctx context.Context, source string) (engine.SettingChange, error) {
	if source != engine.SourceTableCounters && source != engine.SourceAttempts {
		return engine.SettingChange{}, fmt.Errorf("%s cannot be switched on by retire (see the source's detail for how a DBA does it): %w", source, engine.ErrRefused)
	}
	pool, err := a.open()
	if err != nil {
		return engine.SettingChange{}, err
	}
	defer pool.Close()
	return a.enableSource(ctx, pool, source)
}

func (a *Adapter) enableSource(ctx context.Context, q querier, source string) (engine.SettingChange, error) {
	si, err := a.serverInfo(ctx, q)
	if err != nil {
		return engine.SettingChange{}, err
	}
	if si.engine != "mariadb" {
		return engine.SettingChange{}, fmt.Errorf("%s cannot be switched on by retire on MySQL (performance_schema is set at startup; see the source's detail): %w", source, engine.ErrRefused)
	}
	before, err := a.userstat(ctx, q)
	if err != nil {
		return engine.SettingChange{}, err
	}
	ch := engine.SettingChange{Source: source, Variable: userstatVar, Before: before, After: "ON"}
	if before != "ON" {
		if err := a.exec(ctx, q, "SET GLOBAL userstat = ON"); err != nil {
			return engine.SettingChange{}, fmt.Errorf("SET GLOBAL userstat = ON: %w", err)
		}
	}
	return ch, nil
}

// SettingOf is the server variable behind a source retire may switch on: userstat for
// both the table counters and the attempts.
func (a *Adapter) SettingOf(source string) string { return userstatVar }

// RestoreSetting puts userstat back as EnableSource found it. Idempotent.
func (a *Adapter) RestoreSetting(ctx context.Context, ch engine.SettingChange) error {
	if !ch.Changed() {
		return nil
	}
	if ch.Variable != userstatVar || (ch.Before != "ON" && ch.Before != "OFF") {
		return fmt.Errorf("setting %s=%q is not one retire changes: %w", ch.Variable, ch.Before, engine.ErrRefused)
	}
	pool, err := a.open()
	if err != nil {
		return err
	}
	defer pool.Close()
	now, err := a.userstat(ctx, pool)
	if err != nil {
		return err
	}
	if now == ch.Before {
		return nil
	}
	if err := a.exec(ctx, pool, "SET GLOBAL userstat = "+ch.Before); err != nil {
		return fmt.Errorf("SET GLOBAL userstat = %s: %w", ch.Before, err)
	}
	return nil
}

func (a *Adapter) userstat(ctx context.Context, q querier) (string, error) {
	var on int
	if err := a.row(ctx, q, "SELECT @@global.userstat", nil, &on); err != nil {
		return "", fmt.Errorf("read userstat: %w", err)
	}
	if on != 0 {
		return "ON", nil
	}
	return "OFF", nil
}

// Counter sources (Counters.Source).
const (
	countersMariaDB = "information_schema.TABLE_STATISTICS"
	countersMySQL   = "performance_schema.table_io_waits_summary_by_table"
)

// Statements of Counters. None reads the database's own tables: its counters count others.
const (
	epochMariaDB = "SELECT @@global.userstat, UNIX_TIMESTAMP() - (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'), " +
		"(SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'COM_FLUSH')"
	epochMySQL = "SELECT @@performance_schema, UNIX_TIMESTAMP() - (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Uptime'), " +
		"(SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Com_truncate'), " +
		"(SELECT ENABLED FROM performance_schema.setup_instruments WHERE NAME = 'wait/io/table/sql/handler')"
	tablesMariaDB = "SELECT TABLE_NAME, ROWS_READ, ROWS_CHANGED FROM information_schema.TABLE_STATISTICS WHERE " +
		"(TABLE_SCHEMA = ? AND CAST(TABLE_SCHEMA AS BINARY) = CAST(? AS BINARY)) ORDER BY TABLE_NAME"
	tablesMySQL = "SELECT OBJECT_NAME, COUNT_READ, COUNT_WRITE FROM performance_schema.table_io_waits_summary_by_table WHERE OBJECT_TYPE = 'TABLE' AND " +
		"(OBJECT_SCHEMA = ? AND CAST(OBJECT_SCHEMA AS BINARY) = CAST(? AS BINARY)) ORDER BY OBJECT_NAME"
	tablesManyMariaDB = "SELECT TABLE_SCHEMA, TABLE_NAME, ROWS_READ, ROWS_CHANGED FROM information_schema.TABLE_STATISTICS WHERE TABLE_SCHEMA IN "
	tablesManyMySQL   = "SELECT OBJECT_SCHEMA, OBJECT_NAME, COUNT_READ, COUNT_WRITE FROM performance_schema.table_io_waits_summary_by_table WHERE OBJECT_TYPE = 'TABLE' AND OBJECT_SCHEMA IN "
	accountsMariaDB   = "SELECT USER, DENIED_CONNECTIONS, ACCESS_DENIED FROM information_schema.USER_STATISTICS WHERE USER IN "
	accountsMySQL     = "SELECT USER, ERROR_NUMBER, SUM(SUM_ERROR_RAISED) FROM performance_schema.events_errors_summary_by_account_by_error " +
		"WHERE ERROR_NUMBER IN (1044, 1045, 1142, 1143, 1146, 1227, 1370, 3118, 3955) AND USER IN "
)

// epochReads is how many times Counters reads again when the epoch changed while it read.
const epochReads = 3

// deniedLoginErrors are MySQL's login refusals; the other errors counted are refused
// statements. 1146 (ER_NO_SUCH_TABLE) is among them so that statements on the old names
// after strategy rename count: it counts the account's statements on any missing table,
// which errs on the side of holding the drop (an account that lost access and keeps
// failing elsewhere is worth a look), never of missing an attempt.
var deniedLoginErrors = map[int64]bool{
	1045: true, // ER_ACCESS_DENIED_ERROR: wrong password
	3118: true, // ER_ACCOUNT_HAS_BEEN_LOCKED
	3955: true, // ER_USER_ACCESS_DENIED_FOR_USER_ACCOUNT_BLOCKED_BY_PASSWORD_LOCK (FAILED_LOGIN_ATTEMPTS)
}

// Counters reads the access counters of db's tables, and for accounts their refused logins
// and statements, from the server's statistics only (never db's tables, so retire's own
// reading adds nothing to them).
//
// MariaDB: TABLE_STATISTICS (Reads = ROWS_READ, Writes = ROWS_CHANGED) and USER_STATISTICS,
// which counts per user name: each account given gets its user's numbers, DeniedLogins =
// DENIED_CONNECTIONS and RefusedStatements = ACCESS_DENIED (see seesAttemptsMariaDB for
// what they count). MySQL: table_io_waits_summary_by_table (COUNT_READ, COUNT_WRITE) and
// events_errors_summary_by_account_by_error, also summed per user name.
//
// Epoch is "<engine>-started:<server start>,<restarts>:<count>", read in one statement. The
// server's start time is UNIX_TIMESTAMP() - Uptime: the server computes Uptime from the same
// statement start time, so it is exact to the second and the same for every reading until
// the server restarts. The count is what else starts the counters from zero:
//
//   - MariaDB, "flushes": Com_flush, the server's count of FLUSH statements, which FLUSH
//     TABLE_STATISTICS, FLUSH USER_STATISTICS (and mariadb-admin flush-table-statistics)
//     raise, as measured on MariaDB 10.11, and FLUSH STATUS does not reset. Every other
//     FLUSH (TABLES, LOGS, PRIVILEGES, a backup's FLUSH TABLES WITH READ LOCK) raises it
//     too: such a window is reported incomplete though the counters went on, never the
//     other way round.
//   - MySQL, "truncates": Com_truncate, the count of TRUNCATE TABLE statements, which
//     TRUNCATE of performance_schema's summary tables (and sys.ps_truncate_all_tables)
//     raises, as every statement raises its Com_ counter. The TRUNCATE of any table
//     raises it, with the same consequence. (Not measured: no MySQL 8 server runs here.)
//
// The epoch is read again after the tables and accounts: when it changed in between (a
// FLUSH while they were read, which may have reset them before or after), the reading is
// taken again, up to epochReads times, and then given an epoch of its own, which compares
// with no other reading.
func (a *Adapter) Counters(ctx context.Context, db string, accounts []engine.AccountRef) (engine.Counters, error) {
	if err := ValidIdentifier(db); err != nil {
		return engine.Counters{}, err
	}
	pool, err := a.open()
	if err != nil {
		return engine.Counters{}, err
	}
	defer pool.Close()
	return a.counters(ctx, pool, db, accounts)
}

func (a *Adapter) counters(ctx context.Context, q querier, db string, accounts []engine.AccountRef) (engine.Counters, error) {
	var c engine.Counters
	err := a.reading(ctx, q, &c, func(mysql bool) error {
		return a.countersRead(ctx, q, mysql, db, accounts, &c)
	})
	return c, err
}

// CountersOfMany is Counters for many databases in one reading: each database's tables,
// and every account given with each of them, so that a worker's watches on one server cost
// it one reading per interval whatever their number.
func (a *Adapter) CountersOfMany(ctx context.Context, dbs []string, accounts []engine.AccountRef) (map[string]engine.Counters, error) {
	for _, db := range dbs {
		if err := ValidIdentifier(db); err != nil {
			return nil, err
		}
	}
	pool, err := a.open()
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return a.countersOfMany(ctx, pool, dbs, accounts)
}

func (a *Adapter) countersOfMany(ctx context.Context, q querier, dbs []string, accounts []engine.AccountRef) (map[string]engine.Counters, error) {
	var c engine.Counters
	var tables map[string][]engine.TableCounter
	err := a.reading(ctx, q, &c, func(mysql bool) error {
		var err error
		if tables, err = a.tablesOfMany(ctx, q, mysql, dbs); err != nil {
			return err
		}
		return a.accountsRead(ctx, q, mysql, accounts, &c)
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]engine.Counters, len(dbs))
	for _, db := range dbs {
		one := c
		one.Tables = nil
		if c.On {
			one.Tables = tables[db]
		}
		out[db] = one
	}
	return out, nil
}

// reading reads the counters with read, between two readings of their epoch (see Counters),
// up to epochReads times while the epoch changes under it.
func (a *Adapter) reading(ctx context.Context, q querier, c *engine.Counters, read func(mysql bool) error) error {
	si, err := a.serverInfo(ctx, q)
	if err != nil {
		return err
	}
	for range epochReads {
		var settled bool
		settled, err = a.countersOnce(ctx, q, si, c, read)
		if err != nil || settled {
			return err
		}
	}
	c.Epoch += ",unsettled:" + strconv.FormatInt(time.Now().UnixNano(), 10)
	return nil
}

// countersEpoch reads whether the counters count and their epoch (see counters).
func (a *Adapter) countersEpoch(ctx context.Context, q querier, si serverInfo) (on bool, epoch string, err error) {
	var n int
	var start, restarts sql.NullInt64
	kind := "flushes"
	if si.engine == "mysql" {
		kind = "truncates"
		var enabled sql.NullString
		if err := a.row(ctx, q, epochMySQL, nil, &n, &start, &restarts, &enabled); err != nil {
			return false, "", fmt.Errorf("read the counters' epoch: %w", err)
		}
		n = min(n, boolInt(enabled.String == "YES"))
	} else if err := a.row(ctx, q, epochMariaDB, nil, &n, &start, &restarts); err != nil {
		return false, "", fmt.Errorf("read the counters' epoch: %w", err)
	}
	epoch = si.engine + "-started:" + strconv.FormatInt(start.Int64, 10) + "," + kind + ":" + strconv.FormatInt(restarts.Int64, 10)
	return n != 0, epoch, nil
}

// countersOnce is one reading into c; settled is false when the epoch changed while it read.
func (a *Adapter) countersOnce(ctx context.Context, q querier, si serverInfo, c *engine.Counters, read func(mysql bool) error) (settled bool, err error) {
	mysql := si.engine == "mysql"
	*c = engine.Counters{At: time.Now().UTC(), Source: countersMariaDB}
	if mysql {
		c.Source = countersMySQL
	}
	c.On, c.Epoch, err = a.countersEpoch(ctx, q, si)
	if err != nil || !c.On {
		return true, err
	}
	if err := read(mysql); err != nil {
		*c = engine.Counters{}
		return false, err
	}
	on, epoch, err := a.countersEpoch(ctx, q, si)
	if err != nil {
		*c = engine.Counters{}
		return false, err
	}
	if !on {
		// Switched off while read: what was read stands (userstat off keeps its counts),
		// but nothing counts now.
		c.On = false
	}
	return epoch == c.Epoch, nil
}

// tablesOfMany reads the table counters of every database of dbs, by database. The
// statement lists them with IN, which compares as the column's collation does; the exact
// name is compared here, as the one-database statement compares it in binary.
func (a *Adapter) tablesOfMany(ctx context.Context, q querier, mysql bool, dbs []string) (map[string][]engine.TableCounter, error) {
	out := map[string][]engine.TableCounter{}
	if len(dbs) == 0 {
		return out, nil
	}
	query := tablesManyMariaDB
	if mysql {
		query = tablesManyMySQL
	}
	args := make([]any, len(dbs))
	want := make(map[string]bool, len(dbs))
	for i, db := range dbs {
		args[i], want[db] = db, true
	}
	err := a.each(ctx, q, query+placeholders(len(dbs))+" ORDER BY 1, 2", args, func(r *sql.Rows) error {
		var db string
		var t engine.TableCounter
		if err := r.Scan(&db, &t.Table, &t.Reads, &t.Writes); err != nil {
			return err
		}
		if want[db] {
			out[db] = append(out[db], t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the table counters of %d databases: %w", len(dbs), err)
	}
	return out, nil
}

// placeholders is "(?, ?, ...)" for n values.
func placeholders(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// countersRead reads the tables' and the accounts' counters into c.
func (a *Adapter) countersRead(ctx context.Context, q querier, mysql bool, db string, accounts []engine.AccountRef, c *engine.Counters) error {
	query := tablesMariaDB
	if mysql {
		query = tablesMySQL
	}
	err := a.each(ctx, q, query, []any{db, db}, func(r *sql.Rows) error {
		var t engine.TableCounter
		if err := r.Scan(&t.Table, &t.Reads, &t.Writes); err != nil {
			return err
		}
		c.Tables = append(c.Tables, t)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the table counters of %q: %w", db, err)
	}
	return a.accountsRead(ctx, q, mysql, accounts, c)
}

// accountsRead reads the accounts' refused logins and statements into c.
func (a *Adapter) accountsRead(ctx context.Context, q querier, mysql bool, accounts []engine.AccountRef, c *engine.Counters) error {
	if len(accounts) == 0 {
		return nil
	}
	type counts struct{ denied, refused int64 }
	byUser := map[string]counts{}
	var users []any
	for _, acct := range accounts {
		if !slices.Contains(users, any(acct.User)) {
			users = append(users, acct.User)
		}
	}
	in := placeholders(len(users))
	var err error
	if mysql {
		err = a.each(ctx, q, accountsMySQL+in+" GROUP BY USER, ERROR_NUMBER", users, func(r *sql.Rows) error {
			var user string
			var errno, n int64
			if err := r.Scan(&user, &errno, &n); err != nil {
				return err
			}
			cur := byUser[user]
			if deniedLoginErrors[errno] {
				cur.denied += n
			} else {
				cur.refused += n
			}
			byUser[user] = cur
			return nil
		})
	} else {
		err = a.each(ctx, q, accountsMariaDB+in, users, func(r *sql.Rows) error {
			var user string
			var cur counts
			if err := r.Scan(&user, &cur.denied, &cur.refused); err != nil {
				return err
			}
			byUser[user] = cur
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("read the accounts' refused logins and statements: %w", err)
	}
	for _, acct := range accounts {
		n := byUser[acct.User]
		c.Accounts = append(c.Accounts, engine.AccountCounter{AccountRef: acct, DeniedLogins: n.denied, RefusedStatements: n.refused})
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
