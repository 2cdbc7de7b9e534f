package mysql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// maxAuditRead bounds what one AuditEvents call reads; the cursor it returns goes on from
// there, so a caller that reads regularly catches up with a busy log.
const maxAuditRead = 32 << 20

// AuditEvents reads MariaDB's server_audit log (Config.AuditLogPath, output type file) from
// cursor on, and returns the events that touch db: a table of db read or written (TABLE
// events), a statement that names db's tables or runs in db (QUERY), a connection into db;
// and, from the accounts given (by user name), failed connections and connections refused
// with an error. An empty cursor is the end of the log as it is now.
//
// The cursor is "inode:offset" of the next line to read. When the file at the path is not
// the one the cursor points into any more (server_audit rotated it), the rest of the old
// file is read from path.1 when that is it, and the new file from its start; a file
// shorter than the cursor (truncated) is read from its start. Only whole lines are read.
// Times are the server's local time (server_audit writes no zone), read as its system time
// zone.
func (a *Adapter) AuditEvents(ctx context.Context, db string, accounts []engine.AccountRef, cursor string) ([]engine.AuditEvent, string, error) {
	if err := ValidIdentifier(db); err != nil {
		return nil, "", err
	}
	path := a.cfg.AuditLogPath
	if path == "" {
		return nil, "", fmt.Errorf("no audit log is configured for this connection (audit_log in the profile): %w", engine.ErrRefused)
	}
	if cursor == "" {
		next, err := auditLogEnd(path)
		return nil, next, err
	}
	lines, next, err := readAuditLog(path, cursor, maxAuditRead)
	if err != nil {
		return nil, cursor, err
	}
	if len(lines) == 0 {
		return nil, next, nil
	}
	pool, err := a.open()
	if err != nil {
		return nil, cursor, err
	}
	defer pool.Close()
	si, err := a.serverInfo(ctx, pool)
	if err != nil {
		return nil, cursor, err
	}
	if si.engine != "mariadb" {
		return nil, cursor, fmt.Errorf("retire reads MariaDB's server_audit log only: %w", engine.ErrRefused)
	}
	caps, err := a.lookCaps(ctx, pool)
	if err != nil {
		return nil, cursor, err
	}
	zone := time.FixedZone("server", caps.tzOffset)
	var recs []auditRecord
	for _, l := range lines {
		if rec, ok := parseAuditLine(l); ok {
			recs = append(recs, rec)
		}
	}
	var out []engine.AuditEvent
	for _, rec := range toLogins(recs) {
		if e, ok := rec.event(db, accounts, caps.lctn, zone); ok {
			out = append(out, e)
		}
	}
	return out, next, nil
}

// toLogins gives table events the account the connection logged in as. server_audit names
// the current security context in them, which inside an SQL SECURITY DEFINER routine (and
// in an event) is the definer; its connection and query events name the login. Lines read
// in one call are matched by connection id; a table event whose connection shows nothing
// else in them keeps the name it has.
func toLogins(recs []auditRecord) []auditRecord {
	type login struct{ user, host string }
	logins := map[int64]login{}
	for _, r := range recs {
		if r.Op == "QUERY" || r.Op == "CONNECT" || r.Op == "CHANGEUSER" {
			logins[r.ConnID] = login{r.User, r.Host}
		}
	}
	out := make([]auditRecord, len(recs))
	for i, r := range recs {
		if l, ok := logins[r.ConnID]; ok && tableOps[r.Op] {
			r.User, r.Host = l.user, l.host
		}
		out[i] = r
	}
	return out
}

// auditRecord is one line of server_audit's file log:
// timestamp,serverhost,username,host,connectionid,queryid,operation,database,object,retcode
type auditRecord struct {
	At         string // "20261201 19:46:37", server local time
	ServerHost string
	User       string
	Host       string
	ConnID     int64
	QueryID    int64
	Op         string
	DB         string
	Object     string // a table name, or the statement of a QUERY (unquoted)
	Code       int
}

// parseAuditLine reads one line. The object of a QUERY is quoted with ' and escaped with
// backslashes (server_audit writes \' \\ \n \r \t); the other fields are not quoted, so
// the username is taken as the shortest prefix after which the fixed fields follow.
func parseAuditLine(line string) (auditRecord, bool) {
	line = strings.TrimRight(line, "\r\n")
	var r auditRecord
	first := strings.IndexByte(line, ',')
	if first < 0 {
		return r, false
	}
	r.At = line[:first]
	if _, err := time.Parse("20060102 15:04:05", r.At); err != nil {
		return r, false
	}
	rest := line[first+1:]
	second := strings.IndexByte(rest, ',')
	if second < 0 {
		return r, false
	}
	r.ServerHost, rest = rest[:second], rest[second+1:]
	// username,host,connid,queryid,operation,database,...: find the first comma after which
	// host,digits,digits,OPERATION, follow.
	for i := 0; i < len(rest); i++ {
		if rest[i] != ',' {
			continue
		}
		f := strings.SplitN(rest[i+1:], ",", 5)
		if len(f) < 5 {
			return r, false
		}
		conn, err1 := strconv.ParseInt(f[1], 10, 64)
		query, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || !isAuditOp(f[3]) {
			continue
		}
		r.User, r.Host, r.ConnID, r.QueryID, r.Op = rest[:i], f[0], conn, query, f[3]
		rest = f[4]
		break
	}
	if r.Op == "" {
		return r, false
	}
	// database,object,retcode
	comma := strings.IndexByte(rest, ',')
	if comma < 0 {
		return r, false
	}
	r.DB, rest = rest[:comma], rest[comma+1:]
	var code string
	if strings.HasPrefix(rest, "'") {
		obj, after, ok := auditQuoted(rest)
		if !ok || !strings.HasPrefix(after, ",") {
			return r, false
		}
		r.Object, code = obj, after[1:]
	} else {
		last := strings.LastIndexByte(rest, ',')
		if last < 0 {
			return r, false
		}
		r.Object, code = rest[:last], rest[last+1:]
	}
	if code != "" {
		n, err := strconv.Atoi(code)
		if err != nil {
			return r, false
		}
		r.Code = n
	}
	return r, true
}

func isAuditOp(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 'A' || s[i] > 'Z') && s[i] != '_' {
			return false
		}
	}
	return true
}

// auditQuoted reads server_audit's quoted object, which starts at s[0], and returns it unescaped
// and what follows the closing quote.
func auditQuoted(s string) (string, string, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) {
				return "", "", false
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(s[i])
			}
		case '\'':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

// tableOps are server_audit's TABLE events.
var tableOps = map[string]bool{"READ": true, "WRITE": true, "CREATE": true, "ALTER": true, "DROP": true, "RENAME": true}

// connectOps are server_audit's CONNECT events.
var connectOps = map[string]bool{"CONNECT": true, "FAILED_CONNECT": true, "CHANGEUSER": true, "PROXY_CONNECT": true}

// event says whether the record touches db or is an attempt by one of accounts, and makes
// the event of it.
func (r auditRecord) event(db string, accounts []engine.AccountRef, lctn int, zone *time.Location) (engine.AuditEvent, bool) {
	at, err := time.ParseInLocation("20060102 15:04:05", r.At, zone)
	if err != nil {
		return engine.AuditEvent{}, false
	}
	e := engine.AuditEvent{At: at.UTC(), User: r.User, Host: clientHost(r.Host), Op: r.Op, Code: r.Code}
	inDB := r.DB != "" && sameName(r.DB, db, lctn)
	switch {
	case tableOps[r.Op]:
		if !inDB {
			return e, false
		}
		e.DB, e.Table = r.DB, r.Object
		return e, true
	case r.Op == "QUERY":
		named := ""
		found := false
		for _, ref := range qualifiedNames(r.Object) {
			if sameName(ref.Schema, db, lctn) {
				found, named = true, ref.Table
				break
			}
		}
		if !inDB && !found {
			return e, false
		}
		e.DB, e.Table = db, named
		return e, true
	case connectOps[r.Op] || r.Op == "DISCONNECT":
		if inDB && r.Op != "DISCONNECT" {
			e.DB = r.DB
			return e, true
		}
		if r.Code == 0 || r.Op == "DISCONNECT" {
			return e, false
		}
		for _, acct := range accounts {
			if acct.User == r.User {
				return e, true
			}
		}
	}
	return e, false
}

// auditCursor is a position in the log: the file (inode) and the offset of the next line.
type auditCursor struct {
	ino uint64
	off int64
}

func (c auditCursor) String() string {
	return strconv.FormatUint(c.ino, 10) + ":" + strconv.FormatInt(c.off, 10)
}

func parseAuditCursor(s string) (auditCursor, error) {
	ino, off, ok := strings.Cut(s, ":")
	i, err1 := strconv.ParseUint(ino, 10, 64)
	o, err2 := strconv.ParseInt(off, 10, 64)
	if !ok || err1 != nil || err2 != nil || o < 0 {
		return auditCursor{}, fmt.Errorf("audit log cursor %q is not inode:offset: %w", s, engine.ErrRefused)
	}
	return auditCursor{ino: i, off: o}, nil
}

// auditLogEnd is the cursor at the end of the last whole line of the log now; a log that
// does not exist yet is "0:0", so that all of it is read once it appears.
func auditLogEnd(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return auditCursor{}.String(), nil
	}
	if err != nil {
		return "", fmt.Errorf("open the audit log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("stat the audit log: %w", err)
	}
	end := fi.Size()
	// Step back over a line being written.
	const tail = 64 << 10
	from := max(0, end-tail)
	buf := make([]byte, end-from)
	if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the audit log: %w", err)
	}
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		end = from + int64(i) + 1
	} else if from == 0 {
		end = 0
	}
	return auditCursor{ino: fileID(fi), off: end}.String(), nil
}

// readAuditLog reads whole lines from the cursor on (at most limit bytes), following a
// rotation, and returns them with the cursor after the last one.
func readAuditLog(path, cursor string, limit int64) ([]string, string, error) {
	cur, err := parseAuditCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		// Rotated and not yet written again, or not there yet: nothing to read now.
		return nil, cursor, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("open the audit log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("stat the audit log: %w", err)
	}
	id := fileID(fi)
	var lines []string
	if cur.ino != 0 && id != cur.ino {
		// Rotated: what was written after the cursor and before the rotation is in path.1.
		if old, err := os.Open(path + ".1"); err == nil {
			ofi, err := old.Stat()
			if err == nil && fileID(ofi) == cur.ino {
				var off int64
				lines, off, err = readLines(old, cur.off, limit)
				if err == nil && off < ofi.Size() {
					// More than limit left in the old file: go on there next time.
					old.Close()
					return lines, auditCursor{ino: cur.ino, off: off}.String(), nil
				}
			}
			old.Close()
			if err != nil {
				return nil, "", err
			}
		}
		cur = auditCursor{ino: id}
	}
	if cur.ino == 0 {
		cur.ino = id
	}
	if fi.Size() < cur.off {
		cur.off = 0 // truncated
	}
	more, off, err := readLines(f, cur.off, limit)
	if err != nil {
		return nil, "", err
	}
	cur.off = off
	return append(lines, more...), cur.String(), nil
}

// readLines reads the whole lines of f from off on, at most limit bytes, and returns them
// and the offset after the last.
func readLines(f *os.File, off, limit int64) ([]string, int64, error) {
	buf, err := io.ReadAll(io.NewSectionReader(f, off, limit))
	if err != nil {
		return nil, off, fmt.Errorf("read the audit log: %w", err)
	}
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		return nil, off, nil
	}
	var lines []string
	for _, l := range bytes.Split(buf[:end], []byte{'\n'}) {
		if len(l) > 0 {
			lines = append(lines, string(l))
		}
	}
	return lines, off + int64(end) + 1, nil
}
