package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// Server error numbers this package tolerates, because they mean "already done".
const (
	errNoSuchGrant        = 1141 // ER_NONEXISTING_GRANT
	errNoSuchTableGrant   = 1147 // ER_NONEXISTING_TABLE_GRANT
	errNoSuchRoutineGrant = 1403 // ER_NONEXISTING_PROC_GRANT
	errNoSuchThread       = 1094 // ER_NO_SUCH_THREAD
	errCannotUser         = 1396 // ER_CANNOT_USER: the account does not exist
	errBadDB              = 1049 // ER_BAD_DB_ERROR
)

func noSuchGrant(err error) bool {
	switch mysqlErrno(err) {
	case errNoSuchGrant, errNoSuchTableGrant, errNoSuchRoutineGrant:
		return true
	}
	return false
}

// SnapshotAccess records what Cut would change, and changes nothing.
func (a *Adapter) SnapshotAccess(ctx context.Context, db string, strategy engine.Strategy) (engine.AccessSnapshot, error) {
	if err := ValidIdentifier(db); err != nil {
		return engine.AccessSnapshot{}, err
	}
	pool, err := a.open()
	if err != nil {
		return engine.AccessSnapshot{}, err
	}
	defer pool.Close()
	if _, err := a.serverInfo(ctx, pool); err != nil {
		return engine.AccessSnapshot{}, err
	}
	if err := a.mustExist(ctx, pool, db); err != nil {
		return engine.AccessSnapshot{}, err
	}
	snap := engine.AccessSnapshot{Object: db, Strategy: strategy}
	switch strategy {
	case engine.StrategyRevoke:
		err = a.snapshotRevoke(ctx, pool, &snap)
	case engine.StrategyRename:
		err = a.snapshotRename(ctx, pool, &snap)
	default:
		err = fmt.Errorf("strategy %q is not known (use %s or %s): %w", strategy, engine.StrategyRevoke, engine.StrategyRename, engine.ErrRefused)
	}
	if err != nil {
		return engine.AccessSnapshot{}, err
	}
	snap.TakenAt = time.Now().UTC()
	return snap, nil
}

func (a *Adapter) snapshotRevoke(ctx context.Context, q querier, snap *engine.AccessSnapshot) error {
	r, err := a.access(ctx, q, snap.Object)
	if err != nil {
		return err
	}
	for _, acct := range r.accounts {
		k := accountKey{acct.User, acct.Host}
		for _, g := range r.grants[k] {
			if holdsSecret(g) {
				return fmt.Errorf("grant of %s on %s looks like it holds authentication data; refusing to record it: %w", k.name(), g.On, engine.ErrRefused)
			}
			snap.Grants = append(snap.Grants, g)
		}
		// MariaDB roles (empty host) cannot log in or be locked; revoking cuts them.
		if !acct.OnlyThisObject || (acct.Host == "" && a.isMariaDB()) {
			continue
		}
		locked, err := a.isLocked(ctx, q, acct.User, acct.Host)
		if err != nil {
			return err
		}
		snap.Lock = append(snap.Lock, engine.AccountLock{User: acct.User, Host: acct.Host, WasLocked: locked})
	}
	return nil
}

func (a *Adapter) snapshotRename(ctx context.Context, q querier, snap *engine.AccessSnapshot) error {
	db := snap.Object
	triggers, err := a.names(ctx, q, triggersOf, db)
	if err != nil {
		return fmt.Errorf("list triggers of %q: %w", db, err)
	}
	if len(triggers) > 0 {
		return fmt.Errorf("database %q has %d trigger(s) (%s): tables with triggers cannot be renamed into another schema; use the revoke strategy: %w",
			db, len(triggers), strings.Join(triggers, ", "), engine.ErrRefused)
	}
	quarantine := quarantineName(db)
	held, err := a.baseTables(ctx, q, quarantine)
	if err != nil {
		return err
	}
	// The snapshot is taken before any table moves, so tables already there are not ours.
	if len(held) > 0 {
		return fmt.Errorf("quarantine schema %q already exists and holds %d table(s) that this retirement did not put there; move or drop them by hand: %w",
			quarantine, len(held), engine.ErrRefused)
	}
	tables, err := a.baseTables(ctx, q, db)
	if err != nil {
		return err
	}
	snap.Quarantine = quarantine
	snap.Tables = tableNames(tables)
	return nil
}

// Cut removes the access recorded in the snapshot and kills the sessions left. Running it
// again is harmless.
func (a *Adapter) Cut(ctx context.Context, snap engine.AccessSnapshot) (engine.CutResult, error) {
	if err := ValidIdentifier(snap.Object); err != nil {
		return engine.CutResult{}, err
	}
	pool, err := a.open()
	if err != nil {
		return engine.CutResult{}, err
	}
	defer pool.Close()
	if _, err := a.serverInfo(ctx, pool); err != nil {
		return engine.CutResult{}, err
	}
	switch snap.Strategy {
	case engine.StrategyRevoke:
		return a.cutRevoke(ctx, pool, snap)
	case engine.StrategyRename:
		return a.cutRename(ctx, pool, snap)
	}
	return engine.CutResult{}, fmt.Errorf("strategy %q is not known: %w", snap.Strategy, engine.ErrRefused)
}

// accessStmt is a GRANT or REVOKE rebuilt from a snapshot entry.
type accessStmt struct {
	main, option string // option is the GRANT OPTION statement, if any
}

// accessStatements checks every snapshot grant before anything runs, so a bad entry stops
// the cut before it starts rather than halfway through.
func (a *Adapter) accessStatements(snap engine.AccessSnapshot, revoke bool) ([]accessStmt, error) {
	out := make([]accessStmt, 0, len(snap.Grants))
	for _, g := range snap.Grants {
		privs, err := parsePrivileges(g.Privileges)
		if err != nil {
			return nil, fmt.Errorf("snapshot grant for %s@%s: %v: %w", g.User, g.Host, err, engine.ErrRefused)
		}
		obj, err := parseObject(g.On)
		if err != nil || !obj.on(snap.Object) {
			return nil, fmt.Errorf("snapshot grant for %s@%s is not on database %q (%q): %w", g.User, g.Host, snap.Object, g.On, engine.ErrRefused)
		}
		acct, err := a.accountSQL(g.User, g.Host)
		if err != nil {
			return nil, err
		}
		var s accessStmt
		if revoke {
			s.main = "REVOKE " + privs + " ON " + obj.sql() + " FROM " + acct
			if g.GrantOption {
				s.option = "REVOKE GRANT OPTION ON " + obj.sql() + " FROM " + acct
			}
		} else {
			s.main = "GRANT " + privs + " ON " + obj.sql() + " TO " + acct
			if g.GrantOption {
				s.main += " WITH GRANT OPTION"
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func (a *Adapter) cutRevoke(ctx context.Context, q querier, snap engine.AccessSnapshot) (engine.CutResult, error) {
	stmts, err := a.accessStatements(snap, true)
	if err != nil {
		return engine.CutResult{}, err
	}
	res := engine.CutResult{Locked: []string{}}
	for _, s := range stmts {
		for i, stmt := range []string{s.main, s.option} {
			if stmt == "" {
				continue
			}
			err := a.exec(ctx, q, stmt)
			if noSuchGrant(err) {
				continue // revoked by an earlier run
			}
			if err != nil {
				return res, fmt.Errorf("revoke: %w", err)
			}
			if i == 0 {
				res.Revoked++
			}
		}
	}
	for _, l := range snap.Lock {
		acct, err := a.accountSQL(l.User, l.Host)
		if err != nil {
			return res, err
		}
		err = a.exec(ctx, q, "ALTER USER "+acct+" ACCOUNT LOCK")
		if mysqlErrno(err) == errCannotUser {
			continue // the account was dropped meanwhile: nobody can log in as it
		}
		if err != nil {
			return res, fmt.Errorf("lock %s@%s: %w", l.User, l.Host, err)
		}
		res.Locked = append(res.Locked, l.User+"@"+l.Host)
	}
	n, err := a.killSessions(ctx, q, []string{snap.Object}, snap.Lock)
	res.KilledSessions = n
	return res, err
}

func (a *Adapter) cutRename(ctx context.Context, q *sql.DB, snap engine.AccessSnapshot) (engine.CutResult, error) {
	db := snap.Object
	quarantine, err := checkQuarantine(snap)
	if err != nil {
		return engine.CutResult{}, err
	}
	ok, charset, collation, err := a.schemaExists(ctx, q, db)
	if err != nil {
		return engine.CutResult{}, err
	}
	if !ok {
		return engine.CutResult{}, a.mustExist(ctx, q, db)
	}
	if !charsetName.MatchString(charset) || !charsetName.MatchString(collation) {
		return engine.CutResult{}, fmt.Errorf("database %q has an unexpected charset %q / collation %q: %w", db, charset, collation, engine.ErrRefused)
	}
	if err := a.exec(ctx, q, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(quarantine)+" CHARACTER SET "+charset+" COLLATE "+collation); err != nil {
		return engine.CutResult{}, fmt.Errorf("create quarantine schema %q: %w", quarantine, err)
	}
	// Sessions in the database hold metadata locks that would stall the rename.
	killed, err := a.killSessions(ctx, q, []string{db, quarantine}, nil)
	if err != nil {
		return engine.CutResult{}, err
	}
	moved, err := a.move(ctx, q, snap.Tables, db, quarantine)
	res := engine.CutResult{Locked: []string{}, Moved: moved, KilledSessions: killed}
	if err != nil {
		return res, err
	}
	n, err := a.killSessions(ctx, q, []string{db, quarantine}, nil)
	res.KilledSessions += n
	return res, err
}

// checkQuarantine refuses a snapshot whose quarantine schema is not the one this package
// derives from the object: a tampered snapshot must not move tables anywhere else.
func checkQuarantine(snap engine.AccessSnapshot) (string, error) {
	want := quarantineName(snap.Object)
	if snap.Quarantine != want {
		return "", fmt.Errorf("snapshot quarantine schema %q is not %q: %w", snap.Quarantine, want, engine.ErrRefused)
	}
	return want, nil
}

// move renames the listed tables from one schema to the other in one atomic statement,
// skipping those already moved. A table present in both places is a conflict.
func (a *Adapter) move(ctx context.Context, pool *sql.DB, tables []string, from, to string) (int, error) {
	inFrom, err := a.baseTables(ctx, pool, from)
	if err != nil {
		return 0, err
	}
	inTo, err := a.baseTables(ctx, pool, to)
	if err != nil {
		return 0, err
	}
	src, dst := nameSet(inFrom), nameSet(inTo)
	var pairs []string
	for _, t := range tables {
		if !src[t] {
			continue
		}
		if dst[t] {
			return 0, fmt.Errorf("table %s exists in both %s and %s; resolve by hand: %w", t, from, to, engine.ErrRefused)
		}
		pairs = append(pairs, quoteIdent(from)+"."+quoteIdent(t)+" TO "+quoteIdent(to)+"."+quoteIdent(t))
	}
	if len(pairs) == 0 {
		return 0, nil
	}
	conn, err := a.conn(ctx, pool)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	// Without this the rename could wait a year for a metadata lock (the MySQL default),
	// long after our deadline gave up on it.
	secs := max(1, int(a.cfg.QueryTimeout/time.Second))
	if err := a.exec(ctx, conn, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", secs)); err != nil {
		return 0, fmt.Errorf("set lock_wait_timeout: %w", err)
	}
	if err := a.exec(ctx, conn, "RENAME TABLE "+strings.Join(pairs, ", ")); err != nil {
		return 0, fmt.Errorf("move %d table(s) from %s to %s: %w", len(pairs), from, to, err)
	}
	return len(pairs), nil
}

func nameSet(ts []tableRow) map[string]bool {
	m := make(map[string]bool, len(ts))
	for _, t := range ts {
		m[t.name] = true
	}
	return m
}

// killSessions kills every client connected to one of dbs or logged in as a locked account,
// except this connection and the server's own threads.
func (a *Adapter) killSessions(ctx context.Context, q querier, dbs []string, locks []engine.AccountLock) (int, error) {
	var ids []int64
	err := a.each(ctx, q, "SELECT ID, USER, HOST, DB, COMMAND FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()", nil, func(r *sql.Rows) error {
		var p procRow
		if err := r.Scan(&p.id, &p.user, &p.host, &p.db, &p.command); err != nil {
			return err
		}
		if !p.system() && (p.inOneOf(dbs) || p.loggedInAs(locks)) {
			ids = append(ids, p.id)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read processlist: %w", err)
	}
	// Sessions that reach the tables without the database as their default (a qualified
	// name, an open transaction, a view in another database) lose their access too.
	var self int64
	if err := a.row(ctx, q, "SELECT CONNECTION_ID()", nil, &self); err != nil {
		return 0, err
	}
	look, err := a.lookServer(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("look for sessions holding the tables: %w", err)
	}
	for _, db := range dbs {
		for _, s := range a.Reaching(look, db) {
			if s.ID != self && !slices.Contains(ids, s.ID) {
				ids = append(ids, s.ID)
			}
		}
	}
	killed := 0
	for _, id := range ids {
		err := a.exec(ctx, q, fmt.Sprintf("KILL CONNECTION %d", id))
		if mysqlErrno(err) == errNoSuchThread {
			continue // it left on its own
		}
		if err != nil {
			return killed, fmt.Errorf("kill connection %d: %w", id, err)
		}
		killed++
	}
	return killed, nil
}

// procRow is one PROCESSLIST row.
type procRow struct {
	id          int64
	user, host  sql.NullString
	db, command sql.NullString
}

// system is true for the server's own threads (replication, event scheduler): they are not
// clients and killing them would break the server.
func (p procRow) system() bool {
	switch p.user.String {
	case "system user", "event_scheduler":
		return true
	}
	return p.command.String == "Daemon" || strings.HasPrefix(p.command.String, "Binlog Dump")
}

func (p procRow) inOneOf(dbs []string) bool {
	for _, d := range dbs {
		if p.db.Valid && p.db.String == d {
			return true
		}
	}
	return false
}

// loggedInAs says whether the connection may be using a locked account. PROCESSLIST shows
// the client host, not the account's host pattern, so the pattern is matched against it.
func (p procRow) loggedInAs(locks []engine.AccountLock) bool {
	for _, l := range locks {
		if p.user.String == l.User && likeMatch(l.Host, clientHost(p.host.String)) {
			return true
		}
	}
	return false
}

// Restore puts back exactly what the snapshot recorded. Running it again is harmless.
func (a *Adapter) Restore(ctx context.Context, snap engine.AccessSnapshot) error {
	if err := ValidIdentifier(snap.Object); err != nil {
		return err
	}
	pool, err := a.open()
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := a.serverInfo(ctx, pool); err != nil {
		return err
	}
	switch snap.Strategy {
	case engine.StrategyRevoke:
		return a.restoreRevoke(ctx, pool, snap)
	case engine.StrategyRename:
		return a.restoreRename(ctx, pool, snap)
	}
	return fmt.Errorf("strategy %q is not known: %w", snap.Strategy, engine.ErrRefused)
}

func (a *Adapter) restoreRevoke(ctx context.Context, q querier, snap engine.AccessSnapshot) error {
	stmts, err := a.accessStatements(snap, false)
	if err != nil {
		return err
	}
	// A GRANT to a missing account would create it without a password on some servers, so
	// missing accounts are skipped and reported once everything else is back.
	var missing []string
	exists := map[accountKey]bool{}
	check := func(user, host string) (bool, error) {
		k := accountKey{user, host}
		if _, seen := exists[k]; !seen {
			var n int
			if err := a.row(ctx, q, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?", []any{user, host}, &n); err != nil {
				return false, fmt.Errorf("look up account %s: %w", k.name(), err)
			}
			exists[k] = n > 0
			if n == 0 {
				missing = append(missing, k.name())
			}
		}
		return exists[k], nil
	}
	for i, g := range snap.Grants {
		ok, err := check(g.User, g.Host)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := a.exec(ctx, q, stmts[i].main); err != nil {
			return fmt.Errorf("grant back to %s@%s on %s: %w", g.User, g.Host, g.On, err)
		}
	}
	for _, l := range snap.Lock {
		if l.WasLocked {
			continue
		}
		ok, err := check(l.User, l.Host)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		acct, err := a.accountSQL(l.User, l.Host)
		if err != nil {
			return err
		}
		if err := a.exec(ctx, q, "ALTER USER "+acct+" ACCOUNT UNLOCK"); err != nil {
			return fmt.Errorf("unlock %s@%s: %w", l.User, l.Host, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("access restored except for account(s) dropped since the snapshot: %s: %w", strings.Join(missing, ", "), engine.ErrRefused)
	}
	return nil
}

func (a *Adapter) restoreRename(ctx context.Context, pool *sql.DB, snap engine.AccessSnapshot) error {
	db := snap.Object
	quarantine, err := checkQuarantine(snap)
	if err != nil {
		return err
	}
	if err := a.mustExist(ctx, pool, db); err != nil {
		return err
	}
	if _, err := a.move(ctx, pool, snap.Tables, quarantine, db); err != nil {
		return err
	}
	return a.dropIfEmpty(ctx, pool, quarantine)
}

// dropIfEmpty drops the quarantine schema once nothing is left in it; anything someone
// else put there keeps it alive.
func (a *Adapter) dropIfEmpty(ctx context.Context, q querier, schema string) error {
	ok, _, _, err := a.schemaExists(ctx, q, schema)
	if err != nil || !ok {
		return err
	}
	var n int
	err = a.row(ctx, q, `SELECT
		(SELECT COUNT(*) FROM information_schema.TABLES WHERE `+nameIs("TABLE_SCHEMA")+`) +
		(SELECT COUNT(*) FROM information_schema.ROUTINES WHERE `+nameIs("ROUTINE_SCHEMA")+`) +
		(SELECT COUNT(*) FROM information_schema.EVENTS WHERE `+nameIs("EVENT_SCHEMA")+`)`,
		[]any{schema, schema, schema, schema, schema, schema}, &n)
	if err != nil {
		return fmt.Errorf("look into %q: %w", schema, err)
	}
	if n > 0 {
		return nil
	}
	if err := a.exec(ctx, q, "DROP DATABASE IF EXISTS "+quoteIdent(schema)); err != nil {
		return fmt.Errorf("drop empty quarantine schema %q: %w", schema, err)
	}
	return nil
}
