package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/dataretire/retire/activities/engine"
)

// CheckPrivileges reads the privileges a new session of the connection's account has (its
// grants, and those of the roles a new session enables), and reports each one a phase of
// the retirement of db under strategy needs and the account lacks. It changes nothing.
//
// What each phase needs is what its statements need (see the comments in needs); an
// account without these does not always fail loudly: without PROCESS sampling sees only
// its own sessions, without SELECT on mysql.* the inventory sees only its own grants (and
// the cut would revoke nothing), without TRIGGER or EVENT the archive silently leaves the
// triggers or events out.
func (a *Adapter) CheckPrivileges(ctx context.Context, db string, strategy engine.Strategy) (engine.PrivilegeReport, error) {
	if err := ValidIdentifier(db); err != nil {
		return engine.PrivilegeReport{}, err
	}
	switch strategy {
	case engine.StrategyRevoke, engine.StrategyRename:
	default:
		return engine.PrivilegeReport{}, fmt.Errorf("strategy %q is not known (use %s or %s): %w", strategy, engine.StrategyRevoke, engine.StrategyRename, engine.ErrRefused)
	}
	pool, err := a.open()
	if err != nil {
		return engine.PrivilegeReport{}, err
	}
	defer pool.Close()
	// One new session: the roles it enables are those every later call's sessions enable.
	conn, err := a.conn(ctx, pool)
	if err != nil {
		return engine.PrivilegeReport{}, err
	}
	defer conn.Close()
	si, err := a.serverInfo(ctx, conn)
	if err != nil {
		return engine.PrivilegeReport{}, err
	}
	var current string
	if err := a.row(ctx, conn, "SELECT CURRENT_USER()", nil, &current); err != nil {
		return engine.PrivilegeReport{}, fmt.Errorf("read the current account: %w", err)
	}
	user, host := current, ""
	if i := strings.LastIndexByte(current, '@'); i >= 0 {
		user, host = current[:i], current[i+1:]
	}
	lines, err := a.ownGrants(ctx, conn, si)
	if err != nil {
		return engine.PrivilegeReport{}, err
	}
	h := readHoldings(lines)
	missing, err := a.needs(ctx, conn, si, h, accountKey{user, host}, db, strategy)
	if err != nil {
		return engine.PrivilegeReport{}, err
	}
	return engine.PrivilegeReport{Account: "'" + user + "'@'" + host + "'", Missing: missing}, nil
}

// ownGrants are the SHOW GRANTS lines of this session: the account's own and its enabled
// roles'. MariaDB's SHOW GRANTS already adds the current role and the roles granted to it;
// MySQL's needs the enabled roles named in USING. The lines may hold a password hash: they
// stay in memory and are only parsed.
func (a *Adapter) ownGrants(ctx context.Context, q querier, si serverInfo) ([]string, error) {
	query := "SHOW GRANTS"
	if si.engine == "mysql" {
		var roles []string
		err := a.each(ctx, q, "SELECT ROLE_NAME, ROLE_HOST FROM information_schema.ENABLED_ROLES", nil, func(r *sql.Rows) error {
			var name, host string
			if err := r.Scan(&name, &host); err != nil {
				return err
			}
			role, err := a.accountSQL(name, host)
			if err != nil {
				return err
			}
			roles = append(roles, role)
			return nil
		})
		const errUnknownTable = 1109 // before MySQL 8.0.19 there is no ENABLED_ROLES
		if err != nil && mysqlErrno(err) != errUnknownTable {
			return nil, fmt.Errorf("read the enabled roles: %w", err)
		}
		if len(roles) > 0 {
			query = "SHOW GRANTS FOR CURRENT_USER() USING " + strings.Join(roles, ", ")
		}
	}
	lines, err := a.strings1(ctx, q, query)
	if err != nil {
		return nil, fmt.Errorf("read the retire account's own grants: %w", err)
	}
	return lines, nil
}

// holdings are the privileges of a session, by level, as its SHOW GRANTS lines give them.
// Privilege names are upper case, without column lists: a column privilege of the account
// itself is not counted (the retirement needs none).
type holdings struct {
	global      map[string]bool
	globalAll   bool
	globalGrant bool
	dbs         []dbHolding
	tables      map[[2]string]privLine // db (as stored), table
	routines    map[[3]string]privLine // kind, db, name
	// partial are MySQL partial revokes: privileges taken back from the global ones on one
	// database ("REVOKE DROP ON `shop`.* FROM ..." with partial_revokes on).
	partial map[string]map[string]bool
}

type privLine struct {
	privs       map[string]bool
	all         bool
	grantOption bool
}

func (l privLine) has(p string) bool { return l.all || l.privs[p] }

type dbHolding struct {
	pattern string // as stored: may hold wildcards, or escaped ones
	privLine
}

func readHoldings(lines []string) holdings {
	h := holdings{global: map[string]bool{}, tables: map[[2]string]privLine{}, routines: map[[3]string]privLine{}, partial: map[string]map[string]bool{}}
	for _, line := range lines {
		if obj, privs, ok := parseRevoke(line); ok {
			if !obj.global && obj.name == "" && obj.kind == "" {
				m := h.partial[unescapeWildcards(obj.db)]
				if m == nil {
					m = map[string]bool{}
					h.partial[unescapeWildcards(obj.db)] = m
				}
				for _, p := range privs {
					m[p] = true
				}
			}
			continue
		}
		g, ok := parseGrant(line)
		if !ok {
			continue // role grants, PROXY, SET DEFAULT ROLE
		}
		names := privilegeNames(g.privs)
		l := privLine{privs: map[string]bool{}, grantOption: g.grantOption}
		for _, p := range names {
			switch p {
			case "ALL", "ALL PRIVILEGES":
				l.all = true
			case "USAGE":
			default:
				l.privs[p] = true
			}
		}
		switch {
		case g.obj.global:
			h.globalAll = h.globalAll || l.all
			h.globalGrant = h.globalGrant || l.grantOption
			for p := range l.privs {
				h.global[p] = true
			}
		case g.obj.kind != "":
			k := [3]string{g.obj.kind, g.obj.db, g.obj.name}
			h.routines[k] = mergePrivLine(h.routines[k], l)
		case g.obj.name != "":
			k := [2]string{g.obj.db, g.obj.name}
			h.tables[k] = mergePrivLine(h.tables[k], l)
		default:
			h.dbs = append(h.dbs, dbHolding{pattern: g.obj.db, privLine: l})
		}
	}
	return h
}

func mergePrivLine(a, b privLine) privLine {
	if a.privs == nil {
		return b
	}
	for p := range b.privs {
		a.privs[p] = true
	}
	a.all = a.all || b.all
	a.grantOption = a.grantOption || b.grantOption
	return a
}

// parseRevoke reads a partial-revoke line of MySQL's SHOW GRANTS: REVOKE privs ON obj FROM acct.
func parseRevoke(line string) (object, []string, bool) {
	const kw = "REVOKE "
	if len(line) < len(kw) || !strings.EqualFold(line[:len(kw)], kw) {
		return object{}, nil, false
	}
	rest := line[len(kw):]
	i := indexTop(rest, " ON ")
	if i < 0 {
		return object{}, nil, false
	}
	j := indexTop(rest[i+4:], " FROM ")
	if j < 0 {
		return object{}, nil, false
	}
	privs, err := parsePrivileges(rest[:i])
	if err != nil {
		return object{}, nil, false
	}
	obj, err := parseObject(rest[i+4 : i+4+j])
	if err != nil {
		return object{}, nil, false
	}
	return obj, privilegeNames(privs), true
}

// privilegeNames are the privilege words of a canonical list (parsePrivileges), without
// column lists.
func privilegeNames(privs string) []string {
	var out []string
	for _, item := range splitTop(privs, ',') {
		name := strings.TrimSpace(item)
		if p := strings.IndexByte(name, '('); p >= 0 {
			name = strings.TrimSpace(name[:p])
		}
		if name != "" {
			out = append(out, strings.ToUpper(name))
		}
	}
	return out
}

// onDB says whether the session holds priv on every table of db: globally (unless partially
// revoked there) or through a database-level grant whose name or pattern matches db.
func (h holdings) onDB(db, priv string) bool {
	if (h.globalAll || h.global[priv]) && !h.partial[db][priv] {
		return true
	}
	for _, d := range h.dbs {
		if d.has(priv) && dbMatches(d.pattern, db) {
			return true
		}
	}
	return false
}

// grantOptionOn says whether the session may grant and revoke, at database level, on db.
func (h holdings) grantOptionOn(db string) bool {
	if h.globalGrant {
		return true
	}
	for _, d := range h.dbs {
		if d.grantOption && dbMatches(d.pattern, db) {
			return true
		}
	}
	return false
}

// onTable says whether the session holds priv on one table (or wider).
func (h holdings) onTable(db, table, priv string) bool {
	if h.onDB(db, priv) {
		return true
	}
	for k, l := range h.tables {
		if sameSchema(k[0], db) && k[1] == table && l.has(priv) {
			return true
		}
	}
	return false
}

// onGrantObject says whether the session holds priv at the level of obj or wider, which is
// what REVOKE (and GRANT) of priv on obj asks of the grantor.
func (h holdings) onGrantObject(obj object, db, priv string) bool {
	if h.onDB(db, priv) {
		return true
	}
	switch {
	case obj.kind != "":
		for k, l := range h.routines {
			if k[0] == obj.kind && sameSchema(k[1], db) && strings.EqualFold(k[2], obj.name) && l.has(priv) {
				return true
			}
		}
	case obj.name != "":
		return h.onTable(db, obj.name, priv)
	}
	return false
}

// withoutGrantsOn is the session after a revoke cut: the cut revokes every grant that names
// db, the retire account's own among them, so only global and pattern grants are left.
func (h holdings) withoutGrantsOn(db string) holdings {
	out := h
	out.dbs = slices.DeleteFunc(slices.Clone(h.dbs), func(d dbHolding) bool { return sameSchema(d.pattern, db) })
	out.tables = map[[2]string]privLine{}
	for k, l := range h.tables {
		if !sameSchema(k[0], db) {
			out.tables[k] = l
		}
	}
	out.routines = map[[3]string]privLine{}
	for k, l := range h.routines {
		if !sameSchema(k[1], db) {
			out.routines[k] = l
		}
	}
	return out
}

// dbMatches says whether a database-level grant's name or pattern covers db, as the server
// matches them: % and _ are wildcards unless escaped. Case matters, as on the servers whose
// names it does (lower_case_table_names = 0).
func dbMatches(pattern, db string) bool {
	if sameSchema(pattern, db) {
		return true
	}
	return strings.ContainsAny(pattern, "%_") && like(pattern, db, false)
}

// missingList collects missing privileges in the order the phases need them, one entry per
// privilege and place, the reasons of a repeated one joined.
type missingList struct {
	items []engine.MissingPrivilege
}

func (m *missingList) add(priv, on, reason string) {
	for i, it := range m.items {
		if it.Privilege == priv && it.On == on {
			if !strings.Contains(it.NeededFor, reason) {
				m.items[i].NeededFor += "; " + reason
			}
			return
		}
	}
	m.items = append(m.items, engine.MissingPrivilege{Privilege: priv, On: on, NeededFor: reason})
}

func dbLevel(db string) string { return quoteIdent(db) + ".*" }

// needs lists what the phases need that h lacks, each derived from the statements the phase
// sends (the files named hold them).
func (a *Adapter) needs(ctx context.Context, q querier, si serverInfo, h holdings, self accountKey, db string, strategy engine.Strategy) ([]engine.MissingPrivilege, error) {
	var m missingList
	mariadb := si.engine == "mariadb"
	on := dbLevel(db)

	// Plan and snapshot (inventory.go, grants.go, access.go): information_schema's
	// *_PRIVILEGES views show other accounts' grants, SHOW GRANTS FOR and SHOW CREATE USER
	// work for other accounts, and mysql.db / mysql.procs_priv / mysql.user can be read, only
	// with SELECT on the mysql schema; without it the inventory silently finds only the
	// account's own grants, and the cut revokes nothing.
	seesGrants := h.onDB("mysql", "SELECT")
	if !seesGrants {
		m.add("SELECT", "`mysql`.*", "needed to see every account that reaches "+quoteIdent(db)+" through SHOW GRANTS FOR and the grant tables")
	}
	// Sampling (sessions.go): information_schema.PROCESSLIST shows only the account's own
	// sessions without PROCESS.
	if !h.globalAll && !h.global["PROCESS"] {
		m.add("PROCESS", "", "needed to see every client that connects during sampling, not only its own sessions")
	}

	// After a revoke cut the account's own grants on db are gone too (the cut revokes every
	// grant that names db): what the cut, the archive and the drop need must come from
	// elsewhere (global or pattern grants).
	after := h
	ownGone := ""
	if strategy == engine.StrategyRevoke {
		after = h.withoutGrantsOn(db)
		ownGone = "; the cut revokes the grants on " + on + " of every account, the retire account's own too, so hold it globally"
	}
	reason := func(r, priv, where string) string {
		if ownGone != "" && h.onDB(where, priv) && !after.onDB(where, priv) {
			return r + ownGone
		}
		return r
	}

	// The cut (access.go).
	kill, super := "CONNECTION_ADMIN", "SUPER"
	if mariadb {
		kill = "CONNECTION ADMIN"
	}
	switch strategy {
	case engine.StrategyRevoke:
		// REVOKE (and GRANT, to give access back) needs the grant option and every privilege
		// revoked, at the grant's level or wider.
		if !after.grantOptionOn(db) {
			r := "needed to revoke the grants that reach " + quoteIdent(db) + " during the cut and give them back"
			if h.grantOptionOn(db) {
				r += ownGone
			}
			m.add("GRANT OPTION", on, r)
		}
		if seesGrants {
			if err := a.revokeNeeds(ctx, q, si, after, self, db, &m); err != nil {
				return nil, err
			}
		}
		// ALTER USER ... ACCOUNT LOCK / UNLOCK: CREATE USER, or UPDATE on the mysql schema.
		if !h.globalAll && !h.global["CREATE USER"] && !h.onDB("mysql", "UPDATE") {
			m.add("CREATE USER", "", "needed to lock the accounts whose only access is "+quoteIdent(db)+" during the cut and unlock them when access is given back (ALTER USER)")
		}
	case engine.StrategyRename:
		// RENAME TABLE needs ALTER and DROP on the table it moves and CREATE and INSERT where it
		// moves it; the quarantine schema is created (CREATE DATABASE), emptied back and dropped.
		quarantine := quarantineName(db)
		for _, p := range []string{"ALTER", "CREATE", "DROP", "INSERT"} {
			if !h.onDB(db, p) {
				m.add(p, on, "needed to move its tables into the quarantine schema and back with RENAME TABLE")
			}
		}
		for _, p := range []string{"CREATE", "ALTER", "DROP", "INSERT"} {
			if !h.onDB(quarantine, p) {
				m.add(p, dbLevel(quarantine), "needed to create the quarantine schema, move the tables in and out, and drop it")
			}
		}
	}
	// KILL CONNECTION of the sessions left (both strategies).
	if !h.globalAll && !h.global[kill] && !h.global[super] {
		m.add(kill+" or "+super, "", "needed to kill the sessions still connected when access is cut")
	}

	// The archive (source.go, source_scan.go): rows are read with SELECT; views need SHOW
	// VIEW (SHOW CREATE VIEW); information_schema shows triggers only to TRIGGER and events
	// only to EVENT holders, so without them the archive would leave them out unnoticed.
	for _, need := range []struct{ priv, what string }{
		{"SELECT", "needed to count and export its rows"},
		{"SHOW VIEW", "needed to export its views with SHOW CREATE VIEW"},
		{"TRIGGER", "needed to see and export its triggers"},
		{"EVENT", "needed to see and export its events"},
	} {
		if !after.onDB(db, need.priv) {
			m.add(need.priv, on, reason(need.what, need.priv, db))
		}
	}
	// Under strategy rename the tables are exported from the quarantine schema.
	if strategy == engine.StrategyRename && !h.onDB(quarantineName(db), "SELECT") {
		m.add("SELECT", dbLevel(quarantineName(db)), "needed to export the tables from the quarantine schema")
	}
	// Routine bodies (SHOW CREATE PROCEDURE/FUNCTION): MySQL shows them with SHOW_ROUTINE or
	// global SELECT; MariaDB reads them from mysql.proc (SELECT on it), or from 11.3 with
	// SHOW CREATE ROUTINE on the database.
	if mariadb {
		if !h.onDB("mysql", "SELECT") && !h.onTable("mysql", "proc", "SELECT") &&
			!(versionAtLeast(si.version, 11, 3) && after.onDB(db, "SHOW CREATE ROUTINE")) {
			m.add("SELECT", "`mysql`.*", "needed to read the bodies of its routines in mysql.proc for the archive")
		}
	} else if !h.globalAll && !h.global["SELECT"] && !h.global["SHOW_ROUTINE"] {
		m.add("SHOW_ROUTINE or global SELECT", "", "needed to read the bodies of its routines for the archive")
	}

	// The drop (drop.go): DROP DATABASE, of the quarantine schema too under strategy rename.
	if !after.onDB(db, "DROP") {
		m.add("DROP", on, reason("needed to drop it", "DROP", db))
	}
	if strategy == engine.StrategyRename && !h.onDB(quarantineName(db), "DROP") {
		m.add("DROP", dbLevel(quarantineName(db)), "needed to drop the quarantine schema with it")
	}
	return m.items, nil
}

// revokeNeeds adds every privilege that a grant of another account reaching db holds now
// and the session could not revoke (and give back): REVOKE needs each privilege it takes
// away, at the grant's level or wider. ALL PRIVILEGES is every privilege of its level. h is
// what the session holds once its own grants on db are revoked (the cut revokes them in no
// particular order among the others).
func (a *Adapter) revokeNeeds(ctx context.Context, q querier, si serverInfo, h holdings, self accountKey, db string, m *missingList) error {
	r, err := a.access(ctx, q, db)
	if err != nil {
		return err
	}
	who := map[string][]string{} // privilege -> accounts holding it
	var order []string
	for _, acct := range r.accounts {
		if (accountKey{acct.User, acct.Host}) == self {
			continue // its own grants: held while they are revoked
		}
		for _, g := range r.grants[accountKey{acct.User, acct.Host}] {
			obj, err := parseObject(g.On)
			if err != nil {
				continue // refused by the snapshot, with its own message
			}
			var privs []string
			for _, p := range privilegeNames(g.Privileges) {
				if p == "ALL" || p == "ALL PRIVILEGES" {
					privs = append(privs, allAt(si, obj)...)
				} else if p != "USAGE" {
					privs = append(privs, p)
				}
			}
			for _, p := range privs {
				if h.onGrantObject(obj, db, p) {
					continue
				}
				if _, seen := who[p]; !seen {
					order = append(order, p)
				}
				if !slices.Contains(who[p], acct.Name()) {
					who[p] = append(who[p], acct.Name())
				}
			}
		}
	}
	for _, p := range order {
		m.add(p, dbLevel(db), "needed to revoke it from "+strings.Join(who[p], ", ")+" during the cut and give it back")
	}
	return nil
}

// allAt is what ALL PRIVILEGES stands for at the level of obj, on this server: revoking
// it needs every one of them.
func allAt(si serverInfo, obj object) []string {
	mariadb := si.engine == "mariadb"
	showRoutine := mariadb && versionAtLeast(si.version, 11, 3)
	switch {
	case obj.kind != "":
		out := []string{"EXECUTE", "ALTER ROUTINE"}
		if showRoutine {
			out = append(out, "SHOW CREATE ROUTINE")
		}
		return out
	case obj.name != "":
		out := []string{"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "REFERENCES", "INDEX", "ALTER", "CREATE VIEW", "SHOW VIEW", "TRIGGER"}
		if mariadb {
			out = append(out, "DELETE HISTORY")
		}
		return out
	}
	out := []string{"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "REFERENCES", "INDEX", "ALTER",
		"CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE", "CREATE VIEW", "SHOW VIEW", "CREATE ROUTINE", "ALTER ROUTINE", "EVENT", "TRIGGER"}
	if mariadb {
		out = append(out, "DELETE HISTORY")
	}
	if showRoutine {
		out = append(out, "SHOW CREATE ROUTINE")
	}
	return out
}

var versionNumbers = regexp.MustCompile(`^(\d+)\.(\d+)`)

// atLeast says whether a VERSION() string is major.minor or later.
func versionAtLeast(version string, major, minor int) bool {
	m := versionNumbers.FindStringSubmatch(version)
	if m == nil {
		return false
	}
	x, _ := strconv.Atoi(m[1])
	y, _ := strconv.Atoi(m[2])
	return x > major || (x == major && y >= minor)
}

// ServerID is the server's own identity: MySQL's @@server_uuid (made once per data
// directory); MariaDB has none, so its host name, port and server_id, which two profiles
// reaching the same server read alike (while two servers behind one address do not).
func (a *Adapter) ServerID(ctx context.Context) (string, error) {
	pool, err := a.open()
	if err != nil {
		return "", err
	}
	defer pool.Close()
	si, err := a.serverInfo(ctx, pool)
	if err != nil {
		return "", err
	}
	if si.engine == "mysql" {
		var uuid sql.NullString
		if err := a.row(ctx, pool, "SELECT @@server_uuid", nil, &uuid); err != nil {
			return "", fmt.Errorf("read @@server_uuid: %w", err)
		}
		if uuid.String != "" {
			return engine.FormatServerID("mysql", uuid.String), nil
		}
	}
	var host, port, id sql.NullString
	if err := a.row(ctx, pool, "SELECT @@hostname, @@port, @@server_id", nil, &host, &port, &id); err != nil {
		return "", fmt.Errorf("read the server's host name, port and server_id: %w", err)
	}
	if host.String == "" {
		return "", fmt.Errorf("the server reports no host name (@@hostname): %w", engine.ErrRefused)
	}
	return engine.FormatServerID(si.engine, host.String, port.String, id.String), nil
}
