package oracle

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sijms/go-ora/v2/network"
)

// call is one statement the adapter sent through the seam.
type call struct {
	SQL      string
	Args     []any
	Exec     bool
	Deadline bool
	// Sess is the session the statement ran on, numbered from 1 in dial order.
	Sess int
}

type queryFunc func(args []any) ([][]any, error)

// fakeDB scripts the server: queries are answered by exact text (or by prefix for the
// statements built at run time), every statement is recorded, and exec may change state.
type fakeDB struct {
	mu       sync.Mutex
	calls    []call
	queries  map[string]queryFunc
	prefixes map[string]queryFunc
	execHook func(stmt string, args []any) error
	dials    []connOptions
	open     int
}

func newFake() *fakeDB {
	return &fakeDB{queries: map[string]queryFunc{}, prefixes: map[string]queryFunc{}}
}

func (f *fakeDB) on(query string, rows ...[]any) {
	f.queries[query] = func([]any) ([][]any, error) { return rows, nil }
}

func (f *fakeDB) onFunc(query string, fn queryFunc) { f.queries[query] = fn }

func (f *fakeDB) onPrefix(prefix string, fn queryFunc) { f.prefixes[prefix] = fn }

func (f *fakeDB) dialer() dialer {
	return func(ctx context.Context, opts connOptions) (conn, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.dials = append(f.dials, opts)
		f.open++
		return &fakeConn{f: f, id: len(f.dials)}, nil
	}
}

// execs are the statements executed (not queries), in order.
func (f *fakeDB) execs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if c.Exec {
			out = append(out, c.SQL)
		}
	}
	return out
}

// changes are the executed statements that change something (session settings aside).
func (f *fakeDB) changes() []string {
	var out []string
	for _, s := range f.execs() {
		if !strings.HasPrefix(s, "ALTER SESSION") && !strings.HasPrefix(s, "BEGIN\n  DBMS_METADATA") {
			out = append(out, s)
		}
	}
	return out
}

func (f *fakeDB) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
	f.dials = nil
}

func (f *fakeDB) record(c call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeDB) handler(query string) (queryFunc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h, ok := f.queries[query]; ok {
		return h, nil
	}
	best := ""
	for p := range f.prefixes {
		if strings.HasPrefix(query, p) && len(p) > len(best) {
			best = p
		}
	}
	if best != "" {
		return f.prefixes[best], nil
	}
	return nil, fmt.Errorf("fake: unscripted query:\n%s", query)
}

type fakeConn struct {
	f      *fakeDB
	id     int
	closed bool
}

func hasDeadline(ctx context.Context) bool {
	_, ok := ctx.Deadline()
	return ok
}

func (c *fakeConn) Exec(ctx context.Context, query string, args ...any) error {
	if c.closed {
		return fmt.Errorf("fake: exec on a closed session")
	}
	c.f.record(call{SQL: query, Args: args, Exec: true, Deadline: hasDeadline(ctx), Sess: c.id})
	if c.f.execHook != nil {
		return c.f.execHook(query, args)
	}
	return nil
}

func (c *fakeConn) Query(ctx context.Context, query string, args []any, scan func(row []any) error) error {
	if c.closed {
		return fmt.Errorf("fake: query on a closed session")
	}
	c.f.record(call{SQL: query, Args: args, Deadline: hasDeadline(ctx), Sess: c.id})
	h, err := c.f.handler(query)
	if err != nil {
		return err
	}
	rows, err := h(args)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := scan(slices.Clone(r)); err != nil {
			return err
		}
	}
	return nil
}

func (c *fakeConn) Cursor(ctx context.Context, query string, args []any) (cursor, error) {
	c.f.record(call{SQL: query, Args: args, Deadline: hasDeadline(ctx), Sess: c.id})
	h, err := c.f.handler(query)
	if err != nil {
		return nil, err
	}
	rows, err := h(args)
	if err != nil {
		return nil, err
	}
	return &fakeCursor{rows: rows}, nil
}

func (c *fakeConn) Close() error {
	if !c.closed {
		c.closed = true
		c.f.mu.Lock()
		c.f.open--
		c.f.mu.Unlock()
	}
	return nil
}

type fakeCursor struct {
	rows [][]any
	i    int
}

func (c *fakeCursor) Next(dst []any) bool {
	if c.i >= len(c.rows) {
		return false
	}
	copy(dst, c.rows[c.i])
	c.i++
	return true
}

func (c *fakeCursor) Err() error   { return nil }
func (c *fakeCursor) Close() error { return nil }

func ora(code int) error {
	return &network.OracleError{ErrCode: code, ErrMsg: fmt.Sprintf("ORA-%05d: scripted", code)}
}

// world is a small model of the dictionary that the fake answers from and that executed
// statements change, so that running a cut twice or a restore after a cut is tested by its
// effect on the model, not only by the statements sent.
type world struct {
	t        *testing.T
	f        *fakeDB
	me, con  string
	users    map[string]*wUser
	grants   []wGrant
	ts       map[string]*wTS
	segments []wSeg // who has data in which tablespace
	sessions []wSession
	defaults []string
	pdbs     map[string]*wPDB
	audit    bool
	// afterExec runs after each executed statement (to make something happen in between).
	afterExec func(stmt string)
}

type wUser struct {
	status, defaultTS string
	maintained        bool
}

type wGrant struct {
	grantee, owner, object, privilege, column string
	grantable                                 bool
}

type wTS struct {
	status, contents string
	files            []string
}

type wSeg struct{ owner, tablespace string }

type wSession struct {
	inst, sid, serial int64
	user, schema      string
	machine, program  string
	conID             int64
	// objects are what it holds, as OWNER.NAME (gv$locked_object, gv$access), and sqlID
	// the statement it runs.
	objects []string
	sqlID   string
}

type wPDB struct {
	conID      int64
	openMode   string
	restricted bool
	saved      bool
	files      []string
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, f: newFake(), me: "RETIRE", con: "FREEPDB1",
		users:    map[string]*wUser{"RETIRE": {status: "OPEN", defaultTS: "USERS"}, "SYS": {status: "OPEN", defaultTS: "SYSTEM", maintained: true}},
		ts:       map[string]*wTS{"USERS": {status: "ONLINE", contents: "PERMANENT", files: []string{"/u02/users01.dbf"}}, "SYSTEM": {status: "ONLINE", contents: "PERMANENT"}},
		defaults: []string{"USERS", "TEMP"},
		pdbs:     map[string]*wPDB{},
	}
	w.script()
	w.f.execHook = w.exec
	return w
}

func (w *world) adapter(cfg Config) *Adapter { return NewWithDialer(cfg, w.f.dialer()) }

func (w *world) user(name, status, defaultTS string) {
	w.users[name] = &wUser{status: status, defaultTS: defaultTS}
}

func (w *world) tablespace(name, status string, files ...string) {
	w.ts[name] = &wTS{status: status, contents: "PERMANENT", files: files}
}

func rowsOf(rows ...[]any) [][]any { return rows }

// script answers every dictionary query from the model; tests add or override answers.
func (w *world) script() {
	f := w.f
	f.onFunc(qSessionInfo, func([]any) ([][]any, error) { return rowsOf([]any{w.me, w.con}), nil })
	f.on(qVersion, []any{"19.0.0.0.0"})
	f.on(qCharset, []any{"AL32UTF8"})
	f.onFunc(qUser, func(a []any) ([][]any, error) {
		u, ok := w.users[a[0].(string)]
		if !ok {
			return nil, nil
		}
		m := "N"
		if u.maintained {
			m = "Y"
		}
		return rowsOf([]any{a[0], u.status, u.defaultTS, m}), nil
	})
	f.onFunc(qUserLike, func(a []any) ([][]any, error) {
		var out [][]any
		for n := range w.users {
			if strings.ToUpper(n) == a[0] && n != a[0] {
				out = append(out, []any{n})
			}
		}
		return out, nil
	})
	f.onFunc(qUserExists, func(a []any) ([][]any, error) {
		if _, ok := w.users[a[0].(string)]; ok {
			return rowsOf([]any{int64(1)}), nil
		}
		return rowsOf([]any{int64(0)}), nil
	})
	f.onFunc(qObjectsLeft, func(a []any) ([][]any, error) {
		n := 0
		for _, s := range w.segments {
			if s.owner == a[0] {
				n++
			}
		}
		return rowsOf([]any{int64(n)}), nil
	})
	f.onFunc(qObjectGrants, func(a []any) ([][]any, error) {
		var out [][]any
		for _, g := range w.grants {
			if g.owner == a[0] && g.column == "" {
				out = append(out, []any{g.grantee, g.object, g.privilege, yesNo(g.grantable)})
			}
		}
		return out, nil
	})
	f.onFunc(qColumnGrants, func(a []any) ([][]any, error) {
		var out [][]any
		for _, g := range w.grants {
			if g.owner == a[0] && g.column != "" {
				out = append(out, []any{g.grantee, g.object, g.privilege, yesNo(g.grantable), g.column})
			}
		}
		return out, nil
	})
	f.onFunc(qOwnerTablespaces, func(a []any) ([][]any, error) {
		set := map[string]bool{}
		for _, s := range w.segments {
			if s.owner == a[0] {
				set[s.tablespace] = true
			}
		}
		if u, ok := w.users[a[0].(string)]; ok {
			set[u.defaultTS] = true
		}
		var out [][]any
		for _, n := range slices.Sorted(mapsKeys(set)) {
			out = append(out, []any{n})
		}
		return out, nil
	})
	f.onFunc(qDatabaseDefaults, func([]any) ([][]any, error) {
		var out [][]any
		for _, d := range w.defaults {
			out = append(out, []any{d})
		}
		return out, nil
	})
	f.onFunc(qTablespace, func(a []any) ([][]any, error) {
		ts, ok := w.ts[a[0].(string)]
		if !ok {
			return nil, nil
		}
		return rowsOf([]any{w.status(a[0].(string)), ts.contents}), nil
	})
	f.onFunc(qTablespaceExists, func(a []any) ([][]any, error) {
		if _, ok := w.ts[a[0].(string)]; ok {
			return rowsOf([]any{int64(1)}), nil
		}
		return rowsOf([]any{int64(0)}), nil
	})
	f.onFunc(qDatafileExists, func(a []any) ([][]any, error) {
		for _, ts := range w.ts {
			if slices.Contains(ts.files, a[0].(string)) {
				return rowsOf([]any{int64(1)}), nil
			}
		}
		for _, p := range w.pdbs {
			if slices.Contains(p.files, a[0].(string)) {
				return rowsOf([]any{int64(1)}), nil
			}
		}
		return rowsOf([]any{int64(0)}), nil
	})
	f.onFunc(qTablespaceUsers, func(a []any) ([][]any, error) {
		name, owner := a[0].(string), a[3].(string)
		set := map[[2]string]bool{}
		for _, s := range w.segments {
			if s.tablespace == name && s.owner != owner {
				set[[2]string{s.owner, "segments"}] = true
			}
		}
		for n, u := range w.users {
			if u.defaultTS == name && n != owner {
				set[[2]string{n, "default tablespace"}] = true
			}
		}
		var out [][]any
		for _, k := range slices.SortedFunc(mapsKeys(set), func(x, y [2]string) int { return strings.Compare(x[0]+x[1], y[0]+y[1]) }) {
			out = append(out, []any{k[0], k[1]})
		}
		return out, nil
	})
	f.onFunc(qDatafiles, func(a []any) ([][]any, error) {
		ts, ok := w.ts[a[0].(string)]
		if !ok {
			return nil, nil
		}
		var out [][]any
		for _, file := range ts.files {
			out = append(out, []any{file, "104857600"})
		}
		return out, nil
	})
	f.onFunc(qSessions, func(a []any) ([][]any, error) {
		var out [][]any
		for _, s := range w.sessions {
			if s.conID == 0 && (s.user == a[0] || s.schema == a[1]) {
				out = append(out, []any{s.inst, s.sid, s.serial, nilIfEmpty(s.user), s.schema, s.machine, s.program, "os", nil})
			}
		}
		return out, nil
	})
	f.onFunc(qPDBSessions, func(a []any) ([][]any, error) {
		var out [][]any
		for _, s := range w.sessions {
			if s.conID == a[0].(int64) {
				out = append(out, []any{s.inst, s.sid, s.serial, s.user, s.schema, s.machine, s.program, "os", nil})
			}
		}
		return out, nil
	})
	w.scriptLook()
	f.onFunc(qUnifiedAuditing, func([]any) ([][]any, error) {
		return rowsOf([]any{map[bool]string{true: "TRUE", false: "FALSE"}[w.audit]}), nil
	})
	f.onFunc(qPDB, func(a []any) ([][]any, error) {
		p, ok := w.pdbs[a[0].(string)]
		if !ok {
			return nil, nil
		}
		return rowsOf([]any{p.conID, p.openMode, "2147483648"}), nil
	})
	f.onFunc(qPDBExists, func(a []any) ([][]any, error) {
		if _, ok := w.pdbs[a[0].(string)]; ok {
			return rowsOf([]any{int64(1)}), nil
		}
		return rowsOf([]any{int64(0)}), nil
	})
	f.onFunc(qPDBSavedState, func(a []any) ([][]any, error) {
		if p, ok := w.pdbs[a[0].(string)]; ok && p.saved {
			return rowsOf([]any{int64(1)}), nil
		}
		return rowsOf([]any{int64(0)}), nil
	})
	pdbFiles := func(a []any) ([][]any, error) {
		var out [][]any
		for _, p := range w.pdbs {
			if p.conID == a[0].(int64) {
				for _, file := range p.files {
					out = append(out, []any{file, "1073741824"})
				}
			}
		}
		return out, nil
	}
	f.onFunc(qPDBDatafiles, pdbFiles)
	f.onFunc(qPDBFiles, pdbFiles)
	f.onFunc(qPDBMode, func(a []any) ([][]any, error) {
		p, ok := w.pdbs[a[0].(string)]
		if !ok {
			return nil, nil
		}
		var restricted any = map[bool]string{true: "YES", false: "NO"}[p.restricted]
		if p.openMode == "MOUNTED" {
			restricted = nil
		}
		return rowsOf([]any{p.openMode, restricted}), nil
	})
	f.onFunc(qDefaultPermanent, func([]any) ([][]any, error) { return rowsOf([]any{w.defaults[0]}), nil })
	f.on(qPDBSchemas)
	f.on(qTableExists, []any{int64(0)})
	f.on(qPDBStatus, []any{"NORMAL"})
	f.on(qPDBUsers, []any{"APP"}, []any{"HR"})
	// The rest of the plan's queries answer nothing unless a test says otherwise.
	for _, query := range []string{qTables, qViews, qRoutines, qTriggers, qJobs, qObjectCount, qGlobalHolders,
		qSynonyms, qDependencies, qForeignKeys, qForeignTriggers, qOddColumns, qIdentity} {
		f.on(query)
	}
	f.on(qOwnerBytes, []any{"0"})
}

func yesNo(b bool) string {
	if b {
		return "YES"
	}
	return "NO"
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func mapsKeys[K comparable, V any](m map[K]V) func(yield func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var (
	reLock       = regexp.MustCompile(`^ALTER USER "([^"]+)" ACCOUNT (LOCK|UNLOCK)$`)
	reRevoke     = regexp.MustCompile(`^REVOKE ([A-Z ]+) ON "([^"]+)"\."([^"]+)" FROM "?([^"]+)"?$`)
	reGrant      = regexp.MustCompile(`^GRANT ([A-Z ]+?)(?: \(([^)]*)\))? ON "([^"]+)"\."([^"]+)" TO "?([^" ]+)"?( WITH GRANT OPTION)?$`)
	reTablespace = regexp.MustCompile(`^ALTER TABLESPACE "([^"]+)" (READ ONLY|READ WRITE|OFFLINE NORMAL|ONLINE)$`)
	reKill       = regexp.MustCompile(`^ALTER SYSTEM KILL SESSION '(\d+),(\d+),@(\d+)' IMMEDIATE$`)
	reDropUser   = regexp.MustCompile(`^DROP USER "([^"]+)" CASCADE$`)
	reDropTS     = regexp.MustCompile(`^DROP TABLESPACE "([^"]+)" INCLUDING CONTENTS AND DATAFILES$`)
	rePDB        = regexp.MustCompile(`^ALTER PLUGGABLE DATABASE "([^"]+)" (CLOSE IMMEDIATE|OPEN READ WRITE|OPEN READ ONLY|SAVE STATE|DISCARD STATE)( RESTRICTED)? INSTANCES=ALL$`)
	reCreateUser = regexp.MustCompile(`^CREATE USER "([^"]+)" (?:NO AUTHENTICATION|IDENTIFIED BY "[^"]+") DEFAULT TABLESPACE "([^"]+)" QUOTA UNLIMITED ON "([^"]+)"( PASSWORD EXPIRE ACCOUNT LOCK)?$`)
	reDropPDB    = regexp.MustCompile(`^DROP PLUGGABLE DATABASE "([^"]+)" INCLUDING DATAFILES$`)
)

// exec applies a statement to the model, failing as Oracle would.
func (w *world) exec(stmt string, args []any) error {
	err := w.apply(stmt)
	if w.afterExec != nil {
		w.afterExec(stmt)
	}
	return err
}

func (w *world) apply(stmt string) error {
	if m := reLock.FindStringSubmatch(stmt); m != nil {
		u, ok := w.users[m[1]]
		if !ok {
			return ora(oraNoUser)
		}
		locked := strings.Contains(u.status, "LOCKED")
		switch {
		case m[2] == "LOCK" && !locked:
			u.status = map[bool]string{true: "EXPIRED & LOCKED", false: "LOCKED"}[u.status == "EXPIRED"]
		case m[2] == "UNLOCK" && locked:
			u.status = strings.TrimSuffix(strings.TrimSuffix(u.status, " & LOCKED"), "LOCKED")
			if u.status == "" {
				u.status = "OPEN"
			}
		}
		return nil
	}
	if m := reRevoke.FindStringSubmatch(stmt); m != nil {
		if _, ok := w.users[m[4]]; !ok && m[4] != "PUBLIC" {
			return ora(oraNoRole)
		}
		n := len(w.grants)
		w.grants = slices.DeleteFunc(w.grants, func(g wGrant) bool {
			return g.privilege == m[1] && g.owner == m[2] && g.object == m[3] && g.grantee == m[4]
		})
		if len(w.grants) == n {
			return ora(oraNotGranted)
		}
		return nil
	}
	if m := reGrant.FindStringSubmatch(stmt); m != nil {
		if _, ok := w.users[m[5]]; !ok && m[5] != "PUBLIC" {
			return ora(oraNoRole)
		}
		cols := []string{""}
		if m[2] != "" {
			cols = nil
			for _, c := range strings.Split(m[2], ", ") {
				cols = append(cols, strings.Trim(c, `"`))
			}
		}
		for _, c := range cols {
			g := wGrant{grantee: m[5], owner: m[3], object: m[4], privilege: m[1], column: c, grantable: m[6] != ""}
			i := slices.IndexFunc(w.grants, func(x wGrant) bool {
				return x.grantee == g.grantee && x.owner == g.owner && x.object == g.object && x.privilege == g.privilege && x.column == g.column
			})
			if i < 0 {
				w.grants = append(w.grants, g)
			} else {
				w.grants[i].grantable = w.grants[i].grantable || g.grantable
			}
		}
		return nil
	}
	if m := reTablespace.FindStringSubmatch(stmt); m != nil {
		ts, ok := w.ts[m[1]]
		if !ok {
			return ora(oraNoTablespace)
		}
		switch m[2] {
		case "READ ONLY":
			if ts.status == statusReadOnly {
				return ora(oraAlreadyReadOnly)
			}
			ts.status = statusReadOnly
		case "READ WRITE":
			if ts.status != statusReadOnly {
				return ora(oraNotReadOnly)
			}
			ts.status = statusOnline
		case "OFFLINE NORMAL":
			if !strings.HasPrefix(ts.status, statusOffline) {
				// Remembers whether it was read-only, as Oracle does.
				ts.status = statusOffline + "|" + ts.status
			}
		case "ONLINE":
			prev, ok := strings.CutPrefix(ts.status, statusOffline+"|")
			if !ok {
				prev = statusOnline
			}
			ts.status = prev
		}
		return nil
	}
	if m := reKill.FindStringSubmatch(stmt); m != nil {
		n := len(w.sessions)
		w.sessions = slices.DeleteFunc(w.sessions, func(s wSession) bool {
			return fmt.Sprint(s.sid) == m[1] && fmt.Sprint(s.serial) == m[2] && fmt.Sprint(s.inst) == m[3]
		})
		if len(w.sessions) == n {
			return ora(oraSessionGone)
		}
		return nil
	}
	if m := reCreateUser.FindStringSubmatch(stmt); m != nil {
		if _, ok := w.users[m[1]]; ok {
			return ora(oraUserConflict)
		}
		if _, ok := w.ts[m[2]]; !ok || m[2] != m[3] {
			return ora(oraNoTablespace)
		}
		status := "OPEN"
		if m[4] != "" {
			status = "EXPIRED & LOCKED"
		}
		w.users[m[1]] = &wUser{status: status, defaultTS: m[2]}
		return nil
	}
	if m := reDropUser.FindStringSubmatch(stmt); m != nil {
		if _, ok := w.users[m[1]]; !ok {
			return ora(oraNoUser)
		}
		delete(w.users, m[1])
		w.segments = slices.DeleteFunc(w.segments, func(s wSeg) bool { return s.owner == m[1] })
		w.grants = slices.DeleteFunc(w.grants, func(g wGrant) bool { return g.owner == m[1] })
		return nil
	}
	if m := reDropTS.FindStringSubmatch(stmt); m != nil {
		if _, ok := w.ts[m[1]]; !ok {
			return ora(oraNoTablespace)
		}
		delete(w.ts, m[1])
		return nil
	}
	if m := rePDB.FindStringSubmatch(stmt); m != nil {
		p, ok := w.pdbs[m[1]]
		if !ok {
			return ora(oraNoPDB)
		}
		switch m[2] {
		case "CLOSE IMMEDIATE":
			if p.openMode == "MOUNTED" {
				return ora(oraPDBClosed)
			}
			p.openMode, p.restricted = "MOUNTED", false
			w.sessions = slices.DeleteFunc(w.sessions, func(s wSession) bool { return s.conID == p.conID })
		case "OPEN READ WRITE", "OPEN READ ONLY":
			if p.openMode != "MOUNTED" {
				return ora(oraPDBOpen)
			}
			p.openMode, p.restricted = strings.TrimPrefix(m[2], "OPEN "), m[3] != ""
		case "SAVE STATE":
			p.saved = true
		case "DISCARD STATE":
			p.saved = false
		}
		return nil
	}
	if m := reDropPDB.FindStringSubmatch(stmt); m != nil {
		if _, ok := w.pdbs[m[1]]; !ok {
			return ora(oraNoPDB)
		}
		delete(w.pdbs, m[1])
		return nil
	}
	return nil
}

// status is a tablespace status as the dictionary shows it (the model remembers whether an
// offline tablespace was read-only).
func (w *world) status(name string) string {
	s := w.ts[name].status
	if strings.HasPrefix(s, statusOffline) {
		return statusOffline
	}
	return s
}

// scott is the usual target: SCOTT with two tablespaces of its own (one read-only already),
// a share of USERS, grants to others and two sessions on two RAC instances.
func scott(t *testing.T) *world {
	w := newWorld(t)
	w.user("SCOTT", "OPEN", "SCOTT_DATA")
	w.user("APP", "OPEN", "USERS")
	w.user("REPORTS", "OPEN", "USERS")
	w.user("HR", "OPEN", "USERS")
	w.tablespace("SCOTT_DATA", statusOnline, "/u02/scott_data01.dbf", "/u02/scott_data02.dbf")
	w.tablespace("SCOTT_HIST", statusReadOnly, "/u02/scott_hist01.dbf")
	w.segments = []wSeg{{"SCOTT", "SCOTT_DATA"}, {"SCOTT", "SCOTT_HIST"}, {"SCOTT", "USERS"}, {"HR", "USERS"}}
	w.grants = []wGrant{
		{grantee: "APP", owner: "SCOTT", object: "EMP", privilege: "SELECT", grantable: true},
		{grantee: "APP", owner: "SCOTT", object: "EMP", privilege: "UPDATE"},
		{grantee: "PUBLIC", owner: "SCOTT", object: "DEPT", privilege: "SELECT"},
		{grantee: "REPORTS", owner: "SCOTT", object: "EMP", privilege: "UPDATE", column: "SAL"},
		{grantee: "REPORTS", owner: "SCOTT", object: "EMP", privilege: "UPDATE", column: "COMM"},
		{grantee: "HR", owner: "SCOTT", object: "DEPT", privilege: "REFERENCES"},
	}
	w.sessions = []wSession{
		{inst: 1, sid: 101, serial: 5001, user: "SCOTT", schema: "SCOTT", machine: "app01", program: "java"},
		{inst: 2, sid: 77, serial: 9, user: "APP", schema: "SCOTT", machine: "batch02", program: "sqlplus"},
	}
	return w
}

// state prints the parts of the model that a cut and a restore change.
func (w *world) state() string {
	var b strings.Builder
	for _, n := range slices.Sorted(mapsKeys(w.users)) {
		fmt.Fprintf(&b, "user %s %s\n", n, w.users[n].status)
	}
	var grants []string
	for _, g := range w.grants {
		grants = append(grants, fmt.Sprintf("grant %+v", g))
	}
	slices.Sort(grants)
	b.WriteString(strings.Join(grants, "\n") + "\n")
	for _, n := range slices.Sorted(mapsKeys(w.ts)) {
		fmt.Fprintf(&b, "tablespace %s %s\n", n, w.ts[n].status)
	}
	return b.String()
}
