package mysql

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/dataretire/retire/activities/engine"
)

// Validate refuses system schemas and odd names and checks that the database exists.
func (a *Adapter) Validate(ctx context.Context, db string) error {
	if err := ValidIdentifier(db); err != nil {
		return err
	}
	pool, err := a.open()
	if err != nil {
		return err
	}
	defer pool.Close()
	return a.mustExist(ctx, pool, db)
}

// mustExist refuses a database that is not there, naming a case-only near miss.
func (a *Adapter) mustExist(ctx context.Context, q querier, db string) error {
	ok, _, _, err := a.schemaExists(ctx, q, db)
	if err != nil || ok {
		return err
	}
	names, err := a.strings1(ctx, q, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LOWER(SCHEMA_NAME) = LOWER(?)", db)
	if err == nil && len(names) > 0 {
		return fmt.Errorf("database %q does not exist on this connection (did you mean %q?): %w", db, names[0], engine.ErrRefused)
	}
	return fmt.Errorf("database %q does not exist on this connection: %w", db, engine.ErrRefused)
}

// Inventory lists what the database holds and who can reach it. It changes nothing.
func (a *Adapter) Inventory(ctx context.Context, db string) (engine.Inventory, error) {
	if err := ValidIdentifier(db); err != nil {
		return engine.Inventory{}, err
	}
	pool, err := a.open()
	if err != nil {
		return engine.Inventory{}, err
	}
	defer pool.Close()
	// One connection, so that the session setting below applies to every query.
	conn, err := a.conn(ctx, pool)
	if err != nil {
		return engine.Inventory{}, err
	}
	defer conn.Close()

	si, err := a.serverInfo(ctx, conn)
	if err != nil {
		return engine.Inventory{}, err
	}
	ok, charset, collation, err := a.schemaExists(ctx, conn, db)
	if err != nil {
		return engine.Inventory{}, err
	}
	if !ok {
		return engine.Inventory{}, a.mustExist(ctx, conn, db)
	}
	if si.engine == "mysql" {
		// MySQL 8 caches table sizes for a day by default; a plan wants today's numbers.
		_ = a.exec(ctx, conn, "SET SESSION information_schema_stats_expiry = 0")
	}
	inv := engine.Inventory{Engine: si.engine, Version: si.version, Object: db, Charset: charset, Collation: collation}
	if err := a.fillObjects(ctx, conn, db, &inv); err != nil {
		return engine.Inventory{}, err
	}
	acc, err := a.access(ctx, conn, db)
	if err != nil {
		return engine.Inventory{}, err
	}
	inv.Accounts, inv.GlobalHolders = acc.accounts, acc.global
	inv.Warnings = append(inv.Warnings, acc.warnings(db)...)
	fk, err := a.foreignReferences(ctx, conn, si, db)
	if err != nil {
		return engine.Inventory{}, err
	}
	inv.Warnings = append(inv.Warnings, fk...)
	inv.TakenAt = time.Now().UTC()
	return inv, nil
}

// fillObjects lists tables (with exact row counts), views, routines, triggers and events.
func (a *Adapter) fillObjects(ctx context.Context, q querier, db string, inv *engine.Inventory) error {
	tables, err := a.baseTables(ctx, q, db)
	if err != nil {
		return err
	}
	for _, t := range tables {
		n, err := a.countRows(ctx, q, db, t.name)
		if err != nil {
			return err
		}
		inv.Tables = append(inv.Tables, engine.Table{Name: t.name, Engine: t.engine, Rows: n})
		inv.TotalRows += n
		if t.kind == "SYSTEM VERSIONED" {
			inv.Warnings = append(inv.Warnings, fmt.Sprintf("table %s is system-versioned: only its current rows are exported, not its history", t.name))
		}
	}
	// Sizes after the counts: counting opened every table, so MariaDB knows its tablespace.
	fp, err := a.footprint(ctx, q, map[string][]tableRow{db: tables})
	if err != nil {
		return err
	}
	for i := range inv.Tables {
		inv.Tables[i].Bytes = fp.bytes[tableKey{db, inv.Tables[i].Name}]
	}
	inv.TotalBytes = fp.total
	inv.Extra = append(inv.Extra, engine.KeyValue{Key: "bytes counted", Value: fp.method()})
	if inv.Views, err = a.names(ctx, q, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'VIEW' AND "+nameIs("TABLE_SCHEMA"), db); err != nil {
		return fmt.Errorf("list views of %q: %w", db, err)
	}
	if inv.Routines, err = a.routines(ctx, q, db); err != nil {
		return err
	}
	if inv.Triggers, err = a.names(ctx, q, triggersOf, db); err != nil {
		return fmt.Errorf("list triggers of %q: %w", db, err)
	}
	if inv.Events, err = a.names(ctx, q, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE "+nameIs("EVENT_SCHEMA"), db); err != nil {
		return fmt.Errorf("list events of %q: %w", db, err)
	}
	return nil
}

// tableRow is a base table as information_schema describes it. bytes is DATA_LENGTH +
// INDEX_LENGTH: statistics for InnoDB, the file lengths for MyISAM and Aria.
type tableRow struct {
	name, engine, kind string
	bytes              int64
}

// baseTables lists the tables holding data, sorted by name. MariaDB reports
// system-versioned tables and sequences with their own TABLE_TYPE.
func (a *Adapter) baseTables(ctx context.Context, q querier, schema string) ([]tableRow, error) {
	var out []tableRow
	err := a.each(ctx, q, `SELECT TABLE_NAME, COALESCE(ENGINE, ''), TABLE_TYPE,
		COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0)
		FROM information_schema.TABLES
		WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'SEQUENCE') AND `+nameIs("TABLE_SCHEMA"),
		[]any{schema, schema}, func(r *sql.Rows) error {
			var t tableRow
			if err := r.Scan(&t.name, &t.engine, &t.kind, &t.bytes); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list tables of %q: %w", schema, err)
	}
	slices.SortFunc(out, func(x, y tableRow) int { return cmp.Compare(x.name, y.name) })
	return out, nil
}

func tableNames(ts []tableRow) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.name
	}
	return out
}

// countRows counts exactly, each table under its own deadline.
func (a *Adapter) countRows(ctx context.Context, q querier, db, table string) (int64, error) {
	var n int64
	if err := a.row(ctx, q, "SELECT COUNT(*) FROM "+quoteIdent(db)+"."+quoteIdent(table), nil, &n); err != nil {
		return 0, fmt.Errorf("count rows of %s.%s: %w", db, table, err)
	}
	return n, nil
}

// names runs a one-column query filtered by nameIs and returns the values sorted.
func (a *Adapter) names(ctx context.Context, q querier, query, db string) ([]string, error) {
	out, err := a.strings1(ctx, q, query, db, db)
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return nonNil(out), nil
}

func (a *Adapter) routines(ctx context.Context, q querier, db string) ([]engine.Routine, error) {
	out := []engine.Routine{}
	err := a.each(ctx, q, "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE "+nameIs("ROUTINE_SCHEMA"),
		[]any{db, db}, func(r *sql.Rows) error {
			var rt engine.Routine
			if err := r.Scan(&rt.Name, &rt.Type); err != nil {
				return err
			}
			out = append(out, rt)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list routines of %q: %w", db, err)
	}
	slices.SortFunc(out, func(x, y engine.Routine) int {
		return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.Type, y.Type))
	})
	return out, nil
}

// foreignReferences warns about foreign keys from other databases: they make DROP fail and
// show that something outside still depends on this data.
//
// On MariaDB they are read from InnoDB's own dictionary (the only engine with foreign
// keys): information_schema.REFERENTIAL_CONSTRAINTS filtered on the referenced schema
// opens every table of every database ("Open_full_table; Scanned all databases"), which on
// a server with a thousand databases costs a fifth of a second per plan, and holds each
// table's metadata lock while it does, so that every retirement sampling on the server saw
// the plan of its neighbour as a client of its tables (found by make bench-fleet N=1000).
// Without PROCESS (which InnoDB's tables need) it falls back to the scan. MySQL 8 reads
// REFERENTIAL_CONSTRAINTS from its data dictionary, opening nothing.
func (a *Adapter) foreignReferences(ctx context.Context, q querier, si serverInfo, db string) ([]string, error) {
	var out []string
	add := func(schema, table, ref string) {
		out = append(out, fmt.Sprintf("table %s.%s has a foreign key to %s.%s: the drop will fail until it is removed", schema, table, db, ref))
	}
	if si.engine == "mariadb" {
		prefix := innodbName(db) + "/"
		err := a.each(ctx, q, foreignKeysMariaDB, []any{prefix, prefix}, func(r *sql.Rows) error {
			var from, to string
			if err := r.Scan(&from, &to); err != nil {
				return err
			}
			schema, table, _ := strings.Cut(from, "/")
			_, ref, _ := strings.Cut(to, "/")
			if schema != innodbName(db) {
				add(fromInnodbName(schema), fromInnodbName(table), fromInnodbName(ref))
			}
			return nil
		})
		if err == nil {
			slices.Sort(out)
			return slices.Compact(out), nil
		}
		if !errors.Is(err, engine.ErrRefused) {
			return nil, fmt.Errorf("list foreign keys into %q: %w", db, err)
		}
		out = nil
	}
	err := a.each(ctx, q, `SELECT DISTINCT CONSTRAINT_SCHEMA, TABLE_NAME, REFERENCED_TABLE_NAME
		FROM information_schema.REFERENTIAL_CONSTRAINTS
		WHERE `+nameIs("UNIQUE_CONSTRAINT_SCHEMA")+` AND CONSTRAINT_SCHEMA <> UNIQUE_CONSTRAINT_SCHEMA`,
		[]any{db, db}, func(r *sql.Rows) error {
			var schema, table, ref string
			if err := r.Scan(&schema, &table, &ref); err != nil {
				return err
			}
			add(schema, table, ref)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list foreign keys into %q: %w", db, err)
	}
	slices.Sort(out)
	return out, nil
}

// triggersOf lists the triggers of a database (given twice). It names the triggers' tables
// schema, EVENT_OBJECT_SCHEMA, which is theirs too (a trigger lives in its table's schema):
// MariaDB looks up only that column, and filtered on TRIGGER_SCHEMA it opens every table
// of every database ("Open_frm_only; Scanned all databases"), holding each one's metadata
// lock, so that neighbours' sampling saw the plan as a client (make bench-fleet N=1000).
var triggersOf = "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE " + nameIs("EVENT_OBJECT_SCHEMA")

// foreignKeysMariaDB lists InnoDB's foreign keys that reference a table of the database
// whose InnoDB name prefix ("db/") is given twice; names compare in binary, as the files.
const foreignKeysMariaDB = "SELECT FOR_NAME, REF_NAME FROM information_schema.INNODB_SYS_FOREIGN " +
	"WHERE CAST(LEFT(REF_NAME, CHAR_LENGTH(?)) AS BINARY) = CAST(? AS BINARY)"

// innodbName is a name as InnoDB writes it in "db/table": letters, digits and _ as they
// are, any other character as @ and its code in four hex digits (MariaDB's file names).
func innodbName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 128 && (r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "@%04x", r)
		}
	}
	return b.String()
}

// fromInnodbName undoes innodbName for the @XXXX codes it writes.
func fromInnodbName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '@' && i+5 <= len(name) {
			if n, err := strconv.ParseUint(name[i+1:i+5], 16, 32); err == nil {
				b.WriteRune(rune(n))
				i += 4
				continue
			}
		}
		b.WriteByte(name[i])
	}
	return b.String()
}

// nameIs is schemaIs for any name column.
func nameIs(col string) string { return schemaIs(col) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// accountKey is user@host as the grant tables store it.
type accountKey struct{ user, host string }

func (k accountKey) name() string { return k.user + "@" + k.host }

// reach is every account that reaches a database and how.
type reach struct {
	accounts []engine.Account
	global   []engine.Account
	wildcard []string // user@host (pattern) of database-pattern grants that match
	// grants holds, per account, the GRANT lines that target the database.
	grants map[accountKey][]engine.Grant
}

// levelOrder is how Account.Levels are sorted.
var levelOrder = map[string]int{"database": 0, "table": 1, "column": 2, "routine": 3, "global": 4}

// access finds the accounts that reach db through the grant tables, and decides for each
// whether db is all it can reach (then locking it cuts nobody off from anything else).
func (a *Adapter) access(ctx context.Context, q querier, db string) (reach, error) {
	levels := map[accountKey]map[string]bool{}
	other := map[accountKey]bool{}
	note := func(k accountKey, schema, level string) {
		if !sameSchema(schema, db) {
			other[k] = true
			return
		}
		if levels[k] == nil {
			levels[k] = map[string]bool{}
		}
		levels[k][level] = true
	}
	for _, src := range []struct{ table, level string }{
		{"SCHEMA_PRIVILEGES", "database"}, {"TABLE_PRIVILEGES", "table"}, {"COLUMN_PRIVILEGES", "column"},
	} {
		err := a.each(ctx, q, "SELECT DISTINCT GRANTEE, TABLE_SCHEMA FROM information_schema."+src.table, nil, func(r *sql.Rows) error {
			var grantee, schema string
			if err := r.Scan(&grantee, &schema); err != nil {
				return err
			}
			note(parseGrantee(grantee), schema, src.level)
			return nil
		})
		if err != nil {
			return reach{}, fmt.Errorf("read information_schema.%s: %w", src.table, err)
		}
	}
	err := a.each(ctx, q, "SELECT DISTINCT User, Host, Db FROM mysql.procs_priv", nil, func(r *sql.Rows) error {
		var k accountKey
		var schema string
		if err := r.Scan(&k.user, &k.host, &schema); err != nil {
			return err
		}
		note(k, schema, "routine")
		return nil
	})
	if err != nil {
		return reach{}, fmt.Errorf("read mysql.procs_priv: %w", err)
	}
	global, err := a.globalHolders(ctx, q)
	if err != nil {
		return reach{}, err
	}
	wild, err := a.wildcardGrants(ctx, q, db)
	if err != nil {
		return reach{}, err
	}
	res := reach{wildcard: wild, grants: map[accountKey][]engine.Grant{}, accounts: []engine.Account{}, global: []engine.Account{}}
	for k, lv := range levels {
		acct, grants, err := a.account(ctx, q, db, k, lv, !other[k] && !global[k], global[k])
		if err != nil {
			return reach{}, err
		}
		res.accounts = append(res.accounts, acct)
		res.grants[k] = grants
	}
	for k := range global {
		res.global = append(res.global, engine.Account{User: k.user, Host: k.host, Levels: []string{"global"}})
	}
	sortAccounts(res.accounts)
	sortAccounts(res.global)
	return res, nil
}

// account reads SHOW GRANTS of one account: the lines on db become its grants, and any line
// elsewhere (a role, PROXY, another database) means db is not all it can reach.
func (a *Adapter) account(ctx context.Context, q querier, db string, k accountKey, lv map[string]bool, only, global bool) (engine.Account, []engine.Grant, error) {
	acct := engine.Account{User: k.user, Host: k.host}
	for l := range lv {
		acct.Levels = append(acct.Levels, l)
	}
	if global {
		acct.Levels = append(acct.Levels, "global")
	}
	slices.SortFunc(acct.Levels, func(x, y string) int { return cmp.Compare(levelOrder[x], levelOrder[y]) })
	lines, err := a.showGrants(ctx, q, k.user, k.host)
	if mysqlErrno(err) == errNoSuchGrant {
		// Grant rows left behind by an account deleted from mysql.user: nobody can use them.
		return acct, nil, nil
	}
	if err != nil {
		return engine.Account{}, nil, err
	}
	var grants []engine.Grant
	for _, line := range lines {
		g, ok := parseGrant(line)
		switch {
		case ok && g.obj.on(db):
			grants = append(grants, g.grant(k.user, k.host))
		case ok && g.usageOnly():
		case !ok && !strings.HasPrefix(strings.ToUpper(line), "GRANT "):
			// SET DEFAULT ROLE and partial-revoke lines add no access of their own.
		default:
			only = false
		}
	}
	acct.OnlyThisObject = only && len(grants) > 0
	return acct, grants, nil
}

func (a *Adapter) globalHolders(ctx context.Context, q querier) (map[accountKey]bool, error) {
	out := map[accountKey]bool{}
	grantees, err := a.strings1(ctx, q, "SELECT DISTINCT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE <> 'USAGE'")
	if err != nil {
		return nil, fmt.Errorf("read information_schema.USER_PRIVILEGES: %w", err)
	}
	for _, g := range grantees {
		out[parseGrantee(g)] = true
	}
	return out, nil
}

// wildcardGrants finds database-level grants whose pattern (`app\_%`, `%`) matches db
// without naming it: revoking them would also cut the other databases they match.
func (a *Adapter) wildcardGrants(ctx context.Context, q querier, db string) ([]string, error) {
	var out []string
	err := a.each(ctx, q, "SELECT User, Host, Db FROM mysql.db WHERE ? LIKE Db", []any{db}, func(r *sql.Rows) error {
		var user, host, pattern string
		if err := r.Scan(&user, &host, &pattern); err != nil {
			return err
		}
		if !sameSchema(pattern, db) {
			out = append(out, fmt.Sprintf("%s@%s (on `%s`.*)", user, host, pattern))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read mysql.db: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

func (r reach) warnings(db string) []string {
	var w []string
	if len(r.global) > 0 {
		names := make([]string, len(r.global))
		for i, g := range r.global {
			names[i] = g.Name()
		}
		w = append(w, fmt.Sprintf("%d account(s) hold global privileges and reach every database; revoking cannot cut them off: %s",
			len(names), strings.Join(names, ", ")))
	}
	if len(r.wildcard) > 0 {
		w = append(w, fmt.Sprintf("grants on database patterns that match %q keep their access after the cut (revoking them would cut the other databases they match): %s",
			db, strings.Join(r.wildcard, ", ")))
	}
	return w
}

// parseGrantee splits 'user'@'host' as information_schema prints it. The server does not
// escape quotes inside, so the split is at the last '@' between quotes.
func parseGrantee(g string) accountKey {
	g = strings.TrimSpace(g)
	if i := strings.LastIndex(g, "'@'"); i > 0 && strings.HasPrefix(g, "'") && strings.HasSuffix(g, "'") {
		return accountKey{user: g[1:i], host: g[i+3 : len(g)-1]}
	}
	if i := strings.LastIndex(g, "@"); i >= 0 {
		return accountKey{user: strings.Trim(g[:i], "'`"), host: strings.Trim(g[i+1:], "'`")}
	}
	return accountKey{user: strings.Trim(g, "'`")}
}

func sortAccounts(as []engine.Account) {
	slices.SortFunc(as, func(x, y engine.Account) int {
		return cmp.Or(cmp.Compare(x.User, y.User), cmp.Compare(x.Host, y.Host))
	})
}

// What a drop frees. In information_schema.TABLES, DATA_LENGTH and INDEX_LENGTH of an
// InnoDB table are statistics: estimated from sampled pages and refreshed in the
// background only after a tenth of the rows changed, so right after a load they can be a
// fraction of what the files hold. DROP DATABASE frees files: the size of a file-per-table
// tablespace is exact, and the server reports it. Tables without a tablespace of their own
// (InnoDB in the system tablespace, MyISAM, Aria, ...) are counted from TABLES, and the
// count says so.

// tableKey names a table of a schema.
type tableKey struct{ schema, table string }

// footprint is what tables occupy on disk, and how that was counted.
type footprint struct {
	bytes map[tableKey]int64
	total int64
	// spaces is how many InnoDB tablespaces' file sizes were read, from spacesFrom.
	spaces     int
	spacesFrom string
	// estimated counts by engine the tables counted from information_schema.TABLES;
	// shared is how many of them are InnoDB tables without a tablespace of their own.
	estimated map[string]int
	shared    int
	// unreadable says why no tablespace file sizes could be read (PROCESS not granted...).
	unreadable string
}

// method says how the footprint was counted, for the plan and the record, e.g. "file sizes
// of 4 InnoDB tablespaces (information_schema.INNODB_SYS_TABLESPACES)".
func (f footprint) method() string {
	var parts []string
	if f.spaces > 0 {
		parts = append(parts, fmt.Sprintf("file sizes of %s (%s.FILE_SIZE)", plural(f.spaces, "InnoDB tablespace"), f.spacesFrom))
	}
	n := 0
	var engines []string
	for e, k := range f.estimated {
		n += k
		engines = append(engines, fmt.Sprintf("%s %d", e, k))
	}
	slices.Sort(engines)
	if n > 0 {
		est := fmt.Sprintf("estimate for %s (%s) from information_schema.TABLES (DATA_LENGTH + INDEX_LENGTH)", plural(n, "table"), strings.Join(engines, ", "))
		if f.shared > 0 {
			est += fmt.Sprintf(", %s in a shared InnoDB tablespace, which stays as large as it is (the drop frees space inside it)", plural(f.shared, "InnoDB table"))
		}
		if f.unreadable != "" {
			est += "; tablespace file sizes could not be read: " + f.unreadable
		}
		parts = append(parts, est)
	}
	if len(parts) == 0 {
		return "no tables"
	}
	return strings.Join(parts, "; ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Footprint measures what dropping db frees on disk (and its quarantine schema's tables,
// under strategy rename), and says how it was counted. The Archive activity calls it after
// the export: access is cut by then, so nothing grows or shrinks before the drop.
func (a *Adapter) Footprint(ctx context.Context, db string, snap engine.AccessSnapshot) (int64, string, error) {
	schemas, err := schemasOf(db, snap)
	if err != nil {
		return 0, "", err
	}
	pool, err := a.open()
	if err != nil {
		return 0, "", err
	}
	defer pool.Close()
	tables := map[string][]tableRow{}
	for _, s := range schemas {
		if tables[s], err = a.baseTables(ctx, pool, s); err != nil {
			return 0, "", err
		}
	}
	fp, err := a.footprint(ctx, pool, tables)
	if err != nil {
		return 0, "", err
	}
	return fp.total, fp.method(), nil
}

// footprint sizes the tables of each schema: the file sizes of their InnoDB tablespaces
// (all partitions of a partitioned table), else TABLES' DATA_LENGTH + INDEX_LENGTH. Only a
// failure to reach the server is an error; tablespaces it will not list (no PROCESS
// privilege) leave every table an estimate, and the method says why.
func (a *Adapter) footprint(ctx context.Context, q querier, tables map[string][]tableRow) (footprint, error) {
	si, err := a.serverInfo(ctx, q)
	if err != nil {
		return footprint{}, err
	}
	from, query := tablespaceQuery(si)
	fp := footprint{bytes: map[tableKey]int64{}, spacesFrom: from, estimated: map[string]int{}}
	for _, schema := range slices.Sorted(maps.Keys(tables)) {
		ts := tables[schema]
		spaces, err := a.tablespaces(ctx, q, query, schema)
		if err == nil && a.isMariaDB() {
			// MariaDB lists only the tablespaces it opened since it started: open the InnoDB
			// tables it does not list (reading one row), then ask again.
			opened := false
			for _, t := range ts {
				if strings.EqualFold(t.engine, "InnoDB") && spaces[a.spaceName(ctx, q, schema, t.name)].files == 0 {
					_ = a.each(ctx, q, "SELECT 1 FROM "+quoteIdent(schema)+"."+quoteIdent(t.name)+" LIMIT 1", nil, func(*sql.Rows) error { return nil })
					opened = true
				}
			}
			if opened {
				spaces, err = a.tablespaces(ctx, q, query, schema)
			}
		}
		listed := err == nil
		if !listed {
			if ctx.Err() != nil {
				return footprint{}, err
			}
			fp.unreadable = fmt.Sprintf("%s: %v", from, err)
		}
		for _, t := range ts {
			sp := spaces[a.spaceName(ctx, q, schema, t.name)]
			n := sp.bytes
			if sp.files == 0 {
				n = t.bytes
				fp.estimated[cmp.Or(t.engine, "no engine")]++
				if listed && strings.EqualFold(t.engine, "InnoDB") {
					fp.shared++
				}
			}
			fp.spaces += sp.files
			fp.bytes[tableKey{schema, t.name}] = n
			fp.total += n
		}
	}
	return fp, nil
}

// tablespaceQuery lists the file-per-table tablespaces whose names match a LIKE pattern
// (ESCAPE '!') with their file sizes. MySQL 8 renamed the table and added SPACE_TYPE (a
// general tablespace, shared by tables of any schema, is not freed by a drop); MariaDB
// 10.6+ has no shared tablespaces besides the system one, which no schema/table name
// matches.
func tablespaceQuery(si serverInfo) (from, query string) {
	if si.engine == "mysql" && majorVersion(si.version) >= 8 {
		from = "information_schema.INNODB_TABLESPACES"
		return from, "SELECT NAME, FILE_SIZE FROM " + from + " WHERE SPACE_TYPE = 'Single' AND NAME LIKE ? ESCAPE '!'"
	}
	from = "information_schema.INNODB_SYS_TABLESPACES"
	return from, "SELECT NAME, FILE_SIZE FROM " + from + " WHERE NAME LIKE ? ESCAPE '!'"
}

// majorVersion is the leading number of a version string ("8.0.36-log": 8), 0 if none.
func majorVersion(v string) int {
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// space is the tablespaces of one table: its own, or one per partition.
type space struct {
	bytes int64
	files int
}

// tablespaces returns the file sizes of schema's tablespaces by table, keyed by
// "<schema>/<table>" in the server's file-name encoding (see spaceName). A partition's
// tablespace is "<schema>/<table>#P#<partition>" (MySQL 8: #p#), and a # in a table name
// is encoded, so the first # ends the table's part of the name.
func (a *Adapter) tablespaces(ctx context.Context, q querier, query, schema string) (map[string]space, error) {
	enc, ok := fileNameASCII(schema)
	if !ok {
		return nil, fmt.Errorf("schema name %q is not plain ASCII", schema) // ValidIdentifier stops this earlier
	}
	out := map[string]space{}
	err := a.each(ctx, q, query, []any{likeEscape(enc) + "/%"}, func(r *sql.Rows) error {
		var name string
		var size int64
		if err := r.Scan(&name, &size); err != nil {
			return err
		}
		// NAME compares case-insensitively; the files are named exactly. A size of 0 is a
		// file the server has not looked at: not a measurement.
		if !strings.HasPrefix(name, enc+"/") || size <= 0 {
			return nil
		}
		table, _, _ := strings.Cut(name, "#")
		sp := out[table]
		sp.bytes += size
		sp.files++
		out[table] = sp
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// spaceName is "<schema>/<table>" in the server's file-name encoding, "" if it cannot be
// told. Names in plain ASCII are encoded here; for others the server is asked (its
// "filename" character set has a table of its own for letters beyond ASCII).
func (a *Adapter) spaceName(ctx context.Context, q querier, schema, table string) string {
	s, ok := fileNameASCII(schema)
	if !ok {
		return ""
	}
	t, ok := fileNameASCII(table)
	if !ok {
		var b []byte
		if err := a.row(ctx, q, "SELECT CAST(CONVERT(? USING filename) AS BINARY)", []any{table}, &b); err != nil || len(b) == 0 {
			return ""
		}
		t = string(b)
	}
	return s + "/" + t
}

// fileNameASCII encodes a name as the server names its files: letters, digits and _ as
// they are, any other ASCII character as @ and four hex digits ("a-b" is "a@002db"). ok is
// false when the name holds anything beyond ASCII.
func fileNameASCII(name string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 0x80:
			return "", false
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "@%04x", c)
		}
	}
	return b.String(), true
}

// likeEscape escapes a LIKE pattern's wildcards for ESCAPE '!'.
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}
