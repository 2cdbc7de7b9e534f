package mysql

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

func TestQualifiedNames(t *testing.T) {
	ref := func(s, t string) engine.TableRef { return engine.TableRef{Schema: s, Table: t} }
	for _, c := range []struct {
		stmt string
		want []engine.TableRef
	}{
		{"SELECT * FROM shop.orders", []engine.TableRef{ref("shop", "orders")}},
		{"select o.id from `shop`.`orders` o join other.t on 1", []engine.TableRef{ref("o", "id"), ref("shop", "orders"), ref("other", "t")}},
		{"SELECT shop . orders.id FROM x", []engine.TableRef{ref("shop", "orders")}},
		{"SELECT a.shop.c FROM a.shop", []engine.TableRef{ref("a", "shop"), ref("a", "shop")}},
		{`SELECT "shop"."orders" FROM t`, []engine.TableRef{ref("shop", "orders")}},
		{"SELECT 'shop.orders', \"shop.orders\", 1.5 FROM t", nil},
		{`SELECT 'it''s \' shop.x' FROM y.z`, []engine.TableRef{ref("y", "z")}},
		{"SELECT 1 -- shop.orders\nFROM y.z # shop.a\n", []engine.TableRef{ref("y", "z")}},
		{"SELECT 1 /* shop.orders */ FROM /*!50100 shop.b */ y", []engine.TableRef{ref("shop", "b")}},
		{"SELECT /*M!100000 shop.c */ 1", []engine.TableRef{ref("shop", "c")}},
		{"SELECT @shop.x, @@global.shop, @`shop`.y FROM t", nil},
		{"GRANT SELECT ON shop.* TO x", []engine.TableRef{ref("shop", "")}},
		{"SELECT * FROM `we``ird`.`t``1`", []engine.TableRef{ref("we`ird", "t`1")}},
		{"SELECT * FROM sh\u00f6p.t", []engine.TableRef{ref("sh\u00f6p", "t")}},
		{"SELECT * FROM shop.orders WHERE note = 'unterminated shop.x", []engine.TableRef{ref("shop", "orders")}},
		{"", nil},
	} {
		require.Equal(t, c.want, qualifiedNames(c.stmt), c.stmt)
	}
}

func TestReachingSaysHow(t *testing.T) {
	a := &Adapter{}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	look := engine.ServerLook{At: at, Sessions: []engine.SessionRow{
		{ID: 1, User: "app", Host: "10.0.0.1", DB: "shop", Command: "Sleep"},
		{ID: 2, User: "batch", Host: "10.0.0.2", Command: "Query", Info: "SELECT * FROM shop.orders"},
		{ID: 3, User: "etl", Host: "10.0.0.3", DB: "other", Command: "Sleep",
			Locked: []engine.TableRef{{Schema: "other", Table: "x"}, {Schema: "shop", Table: "lines"}, {Schema: "shop"}}},
		{ID: 4, User: "away", Host: "10.0.0.4", DB: "other", Info: "SELECT 'shop.orders' FROM other.t"},
		{ID: 5, User: "up", Host: "10.0.0.5", DB: "SHOP", Info: "SELECT * FROM SHOP.orders"},
	}}
	got := a.Reaching(look, "shop")
	require.Len(t, got, 3)
	require.Equal(t, engine.Session{User: "app", Host: "10.0.0.1", FirstSeen: at, LastSeen: at, Count: 1, ID: 1, Via: []string{engine.ViaDefaultDB}}, got[0])
	require.Equal(t, []string{engine.ViaStatement}, got[1].Via)
	require.Equal(t, []string{"orders"}, got[1].Tables)
	require.Equal(t, int64(2), got[1].ID)
	require.Equal(t, []string{engine.ViaLock}, got[2].Via)
	require.Equal(t, []string{"lines"}, got[2].Tables)

	// With lower_case_table_names=1 names compare without case: the look says so.
	look.NameCase = 1
	got = a.Reaching(look, "shop")
	require.Len(t, got, 4)
	require.Equal(t, "up", got[3].User)
	require.Equal(t, []string{engine.ViaDefaultDB, engine.ViaStatement}, got[3].Via)
}

// Lines as MariaDB 10.11's server_audit wrote them (TestAuditLogOfTheRealServer checks the
// parser against what the server here writes now).
const auditSample = `20261201 19:46:37,vm,root,127.0.0.1,7593,124616,QUERY,,'SET GLOBAL server_audit_logging=ON',0
20261201 19:46:37,vm,rt_ev_lk,127.0.0.1,7594,0,FAILED_CONNECT,,,4151
20261201 19:46:37,vm,rt_ev_lk,127.0.0.1,7594,0,DISCONNECT,,,0
20261201 19:46:37,vm,rt_ev_rv,127.0.0.1,7596,0,CONNECT,,,0
20261201 19:46:37,vm,rt_ev_rv,127.0.0.1,7596,124618,QUERY,,'select * from rt_ev_x.t',1142
20261201 19:46:37,vm,rt_ev_rv,127.0.0.1,7597,0,FAILED_CONNECT,,,1044
20261201 19:46:37,vm,root,127.0.0.1,7599,124620,READ,rt_ev_x,t,
20261201 19:46:37,vm,root,127.0.0.1,7599,124621,WRITE,rt_ev_x,t,
20261201 19:46:37,vm,root,127.0.0.1,7599,124622,QUERY,rt_ev_o,'select \'it\'\'s, "x"\\\\n\nnewline\' as s, v from rt_ev_x.t limit 1',0
20261201 19:47:43,vm,root,127.0.0.1,7610,124667,WRITE,rt_ev_o,par,
20261201 19:47:43,vm,odd,user,127.0.0.1,7611,124668,READ,rt_ev_x,u,
20261201 19:47:43,vm,app,10.1.2.3,7612,0,CONNECT,rt_ev_x,,0
not a line at all
`

func TestParseAuditLine(t *testing.T) {
	var recs []auditRecord
	for _, l := range splitLines(auditSample) {
		if r, ok := parseAuditLine(l); ok {
			recs = append(recs, r)
		}
	}
	require.Len(t, recs, 12)
	require.Equal(t, auditRecord{At: "20261201 19:46:37", ServerHost: "vm", User: "rt_ev_lk", Host: "127.0.0.1", ConnID: 7594, Op: "FAILED_CONNECT", Code: 4151}, recs[1])
	require.Equal(t, "select * from rt_ev_x.t", recs[4].Object)
	require.Equal(t, 1142, recs[4].Code)
	require.Equal(t, auditRecord{At: "20261201 19:46:37", ServerHost: "vm", User: "root", Host: "127.0.0.1", ConnID: 7599, QueryID: 124620, Op: "READ", DB: "rt_ev_x", Object: "t"}, recs[6])
	require.Equal(t, `select 'it''s, "x"\\n`+"\n"+`newline' as s, v from rt_ev_x.t limit 1`, recs[8].Object)
	require.Equal(t, "odd,user", recs[10].User, "a comma in a user name")
	require.Equal(t, "u", recs[10].Object)

	zone := time.FixedZone("x", 3600)
	accounts := []engine.AccountRef{{User: "rt_ev_lk", Host: "%"}, {User: "rt_ev_rv", Host: "%"}}
	var events []engine.AuditEvent
	for _, r := range recs {
		if e, ok := r.event("rt_ev_x", accounts, 0, zone); ok {
			events = append(events, e)
		}
	}
	at := time.Date(2026, 12, 1, 18, 46, 37, 0, time.UTC)
	require.Equal(t, []engine.AuditEvent{
		{At: at, User: "rt_ev_lk", Host: "127.0.0.1", Op: "FAILED_CONNECT", Code: 4151},
		{At: at, User: "rt_ev_rv", Host: "127.0.0.1", Op: "QUERY", DB: "rt_ev_x", Table: "t", Code: 1142},
		{At: at, User: "rt_ev_rv", Host: "127.0.0.1", Op: "FAILED_CONNECT", Code: 1044},
		{At: at, User: "root", Host: "127.0.0.1", Op: "READ", DB: "rt_ev_x", Table: "t"},
		{At: at, User: "root", Host: "127.0.0.1", Op: "WRITE", DB: "rt_ev_x", Table: "t"},
		{At: at, User: "root", Host: "127.0.0.1", Op: "QUERY", DB: "rt_ev_x", Table: "t"},
		{At: at.Add(66 * time.Second), User: "odd,user", Host: "127.0.0.1", Op: "READ", DB: "rt_ev_x", Table: "u"},
		{At: at.Add(66 * time.Second), User: "app", Host: "10.1.2.3", Op: "CONNECT", DB: "rt_ev_x"},
	}, events)

	// Without the accounts, their failed logins elsewhere are not the database's business.
	n := 0
	for _, r := range recs {
		if _, ok := r.event("rt_ev_x", nil, 0, zone); ok {
			n++
		}
	}
	require.Equal(t, 6, n)
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

func TestAuditCursorFollowsRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	appendTo := func(p, s string) {
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		require.NoError(t, err)
		_, err = f.WriteString(s)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}

	// Not there yet: "0:0", then everything once it appears.
	c, err := auditLogEnd(path)
	require.NoError(t, err)
	require.Equal(t, "0:0", c)
	lines, c2, gap, err := readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.Empty(t, lines)
	require.False(t, gap)
	require.Equal(t, c, c2)
	appendTo(path, "a\nb\npart")
	lines, c, gap, err = readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.False(t, gap)
	require.Equal(t, []string{"a", "b"}, lines, "only whole lines")

	// The end of the log now steps back over a line being written.
	end, err := auditLogEnd(path)
	require.NoError(t, err)
	require.Equal(t, c, end)

	appendTo(path, "ial\nc\n")
	lines, c, gap, err = readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.False(t, gap)
	require.Equal(t, []string{"partial", "c"}, lines)
	lines, c2, gap, err = readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.False(t, gap)
	require.Empty(t, lines)
	require.Equal(t, c, c2)

	// Rotation as server_audit does it: rename to .1, a new file at the path.
	appendTo(path, "d\n")
	require.NoError(t, os.Rename(path, path+".1"))
	appendTo(path, "e\n")
	lines, c, gap, err = readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.False(t, gap)
	require.Equal(t, []string{"d", "e"}, lines, "the rest of the old file, then the new one")

	// Rotated and the old file gone: lines were lost, then the new file from its start.
	appendTo(path, "f\n")
	require.NoError(t, os.Rename(path, filepath.Join(dir, "elsewhere")))
	appendTo(path, "g\n")
	lines, c, gap, err = readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.True(t, gap, "f was never read")
	require.Equal(t, []string{"g"}, lines)

	// Truncated in place (to less than was read): what came after the cursor may be lost.
	appendTo(path, "gg\n")
	lines, c, gap, err = readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.False(t, gap)
	require.Equal(t, []string{"gg"}, lines)
	require.NoError(t, os.Truncate(path, 0))
	appendTo(path, "h\n")
	lines, _, gap, err = readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.True(t, gap)
	require.Equal(t, []string{"h"}, lines)

	// A limit reads on next time from where it stopped, across a rotation too.
	appendTo(path, "i\nj\n")
	c, err = auditLogEnd(path)
	require.NoError(t, err)
	appendTo(path, "k\nl\nm\n")
	require.NoError(t, os.Rename(path, path+".1"))
	appendTo(path, "n\n")
	lines, c, gap, err = readAuditLog(path, c, 4)
	require.NoError(t, err)
	require.False(t, gap)
	require.Equal(t, []string{"k", "l"}, lines)
	lines, _, gap, err = readAuditLog(path, c, 4)
	require.NoError(t, err)
	require.False(t, gap)
	require.Equal(t, []string{"m", "n"}, lines)

	_, _, _, err = readAuditLog(path, "garbage", 10)
	require.ErrorIs(t, err, engine.ErrRefused)
}

// rotate rotates the log as server_audit does, keeping keep files: path.(keep-1) becomes
// path.keep (the oldest is removed), ..., path becomes path.1, and a new file at path.
func rotate(t *testing.T, path string, keep int) {
	t.Helper()
	name := func(k int) string {
		if k == 0 {
			return path
		}
		return path + "." + strconv.Itoa(k)
	}
	_ = os.Remove(name(keep))
	for k := keep - 1; k >= 0; k-- {
		if _, err := os.Stat(name(k)); err == nil {
			require.NoError(t, os.Rename(name(k), name(k+1)))
		}
	}
	require.NoError(t, os.WriteFile(path, nil, 0o600))
}

func appendLog(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// Two rotations between two reads: the cursor's file is path.2 now. With the files kept
// (server_audit_file_rotations >= 2) every line is read, in order; with one kept it is
// gone, and the read says lines were lost.
func TestAuditCursorFollowsTwoRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	appendLog(t, path, "a\n")
	c, err := auditLogEnd(path)
	require.NoError(t, err)
	appendLog(t, path, "b\n")
	rotate(t, path, 9)
	appendLog(t, path, "c\nd\n")
	rotate(t, path, 9)
	appendLog(t, path, "e\npart")
	lines, c, gap, err := readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.False(t, gap)
	require.Equal(t, []string{"b", "c", "d", "e"}, lines)

	// With a limit, from file to file, call after call.
	appendLog(t, path, "ial\n")
	c, err = auditLogEnd(path)
	require.NoError(t, err)
	appendLog(t, path, "f\ng\n")
	rotate(t, path, 9)
	appendLog(t, path, "h\n")
	rotate(t, path, 9)
	appendLog(t, path, "i\n")
	var all []string
	for range 5 {
		lines, c, gap, err = readAuditLog(path, c, 2)
		require.NoError(t, err)
		require.False(t, gap)
		all = append(all, lines...)
	}
	require.Equal(t, []string{"f", "g", "h", "i"}, all)

	// A file between the cursor's and the current one gone: lines were lost.
	appendLog(t, path, "j\n")
	rotate(t, path, 9)
	appendLog(t, path, "k\n")
	rotate(t, path, 9)
	require.NoError(t, os.Remove(path+".1"))
	appendLog(t, path, "l\n")
	lines, c, gap, err = readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.True(t, gap, "k was in path.1")
	require.Equal(t, []string{"j", "l"}, lines)

	// Only path.1 kept: the cursor's file rotated away.
	appendLog(t, path, "m\n")
	rotate(t, path, 1)
	appendLog(t, path, "n\n")
	rotate(t, path, 1)
	appendLog(t, path, "o\n")
	lines, c, gap, err = readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.True(t, gap, "m and n are lost")
	require.Equal(t, []string{"o"}, lines)
	lines, _, gap, err = readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.False(t, gap, "once")
	require.Empty(t, lines)

	// Rotated and nothing at the path yet: the rest of the old file now, the new one later.
	appendLog(t, path, "p\n")
	require.NoError(t, os.Rename(path, path+".1"))
	lines, c, gap, err = readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.False(t, gap)
	require.Equal(t, []string{"p"}, lines)
	appendLog(t, path, "q\n")
	lines, _, gap, err = readAuditLog(path, c, 1<<20)
	require.NoError(t, err)
	require.False(t, gap)
	require.Equal(t, []string{"q"}, lines)
}

// AuditEvents says when lines were lost: an event of Op LOG_GAP first, Code -1, At now.
func TestAuditEventsReportALogGap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	appendLog(t, path, "20261201 19:46:37,vm,app,127.0.0.1,7,0,CONNECT,shop,,0\n")
	a := &Adapter{cfg: Config{AuditLogPath: path}}
	ctx := t.Context()
	_, c, err := a.AuditEvents(ctx, "shop", nil, "")
	require.NoError(t, err)
	events, c, err := a.AuditEvents(ctx, "shop", nil, c)
	require.NoError(t, err)
	require.Empty(t, events)

	appendLog(t, path, "20261201 19:46:38,vm,app,127.0.0.1,7,0,CONNECT,shop,,0\n")
	rotate(t, path, 1)
	rotate(t, path, 1)
	before := time.Now()
	events, c, err = a.AuditEvents(ctx, "shop", nil, c)
	require.NoError(t, err)
	require.Len(t, events, 1, "nothing was written since: no server to ask")
	require.Equal(t, OpLogGap, events[0].Op)
	require.Equal(t, -1, events[0].Code)
	require.Empty(t, events[0].Table)
	require.Empty(t, events[0].User)
	require.WithinDuration(t, before, events[0].At, 5*time.Second)
	require.Equal(t, time.UTC, events[0].At.Location())
	events, _, err = a.AuditEvents(ctx, "shop", nil, c)
	require.NoError(t, err)
	require.Empty(t, events, "once")
}

// Inside an SQL SECURITY DEFINER routine server_audit names the definer in the table event
// (as the server here writes it); the connection's query events name its login.
func TestAuditTableEventsGoToTheLogin(t *testing.T) {
	const log = `20261201 19:59:31,vm,app,127.0.0.1,7845,0,CONNECT,other,,0
20261201 19:59:31,vm,app,127.0.0.1,7845,126365,READ,mysql,proc,
20261201 19:59:31,vm,root,127.0.0.1,7845,126366,WRITE,shop,t,
20261201 19:59:31,vm,app,127.0.0.1,7845,126366,QUERY,other,'UPDATE shop.t SET v = v + 1 WHERE id = 2',0
20261201 19:59:31,vm,app,127.0.0.1,7845,126365,QUERY,other,'CALL bump()',0
20261201 19:59:32,vm,root,127.0.0.1,9999,126400,WRITE,shop,t,
`
	var recs []auditRecord
	for _, l := range splitLines(log) {
		r, ok := parseAuditLine(l)
		require.True(t, ok, l)
		recs = append(recs, r)
	}
	var got []string
	for _, r := range toLogins(recs) {
		if e, ok := r.event("shop", nil, 0, time.UTC); ok {
			got = append(got, e.User+" "+e.Op+" "+e.Table)
		}
	}
	require.Equal(t, []string{"app WRITE t", "app QUERY t", "root WRITE t"}, got, "a connection seen nothing else of keeps its name")
}
