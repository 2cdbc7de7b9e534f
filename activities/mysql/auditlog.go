package mysql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
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
// The cursor is "inode:offset:fingerprint" of the next line to read (see auditCursor). When the file at the path is not
// the one the cursor points into any more (server_audit rotated it), the rest of the old
// file is read from whichever of path.1..path.9 it is now, then the files rotated after it,
// then the new file from its start. When the old file is in none of them (rotated past
// path.9, or removed), or a file shorter than the cursor was truncated, lines were lost:
// the events begin with one of Op OpLogGap ("LOG_GAP", Code -1, At now, no table), and
// the file is read from its start. Only whole lines are read.
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
	lines, next, gap, err := readAuditLog(path, cursor, maxAuditRead)
	if err != nil {
		return nil, cursor, err
	}
	var out []engine.AuditEvent
	if gap {
		out = append(out, logGap(db))
	}
	if len(lines) == 0 {
		return out, next, nil
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
	for _, rec := range toLogins(recs) {
		if e, ok := rec.event(db, accounts, caps.lctn, zone); ok {
			out = append(out, e)
		}
	}
	return out, next, nil
}

// OpLogGap is the Op of the event AuditEvents returns when lines of the log were lost
// before it could read them (see readAuditLog): whatever they said is not known.
const OpLogGap = "LOG_GAP"

// logGap is that event: now, with Code -1 so that it counts as a failure where it is not
// looked at, and no user or table.
func logGap(db string) engine.AuditEvent {
	return engine.AuditEvent{At: time.Now().UTC(), Op: OpLogGap, DB: db, Code: -1}
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

// auditCursor is a position in the log: the file (inode), the offset of the next line, and,
// once lines were read from the file, a fingerprint of its first line, so that a new file
// that got the inode of a removed one (the oldest rotation is removed just before the new
// file is made) is not taken for it.
type auditCursor struct {
	ino uint64
	off int64
	fp  string
}

func (c auditCursor) String() string {
	s := strconv.FormatUint(c.ino, 10) + ":" + strconv.FormatInt(c.off, 10)
	if c.fp != "" {
		s += ":" + c.fp
	}
	return s
}

func parseAuditCursor(s string) (auditCursor, error) {
	f := strings.Split(s, ":")
	bad := fmt.Errorf("audit log cursor %q is not inode:offset[:fingerprint]: %w", s, engine.ErrRefused)
	if len(f) < 2 || len(f) > 3 {
		return auditCursor{}, bad
	}
	i, err1 := strconv.ParseUint(f[0], 10, 64)
	o, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || o < 0 {
		return auditCursor{}, bad
	}
	c := auditCursor{ino: i, off: o}
	if len(f) == 3 {
		if _, err := strconv.ParseUint(f[2], 16, 64); err != nil || len(f[2]) != 16 {
			return auditCursor{}, bad
		}
		c.fp = f[2]
	}
	return c, nil
}

// fingerprintLen bounds the first line a fingerprint is taken of.
const fingerprintLen = 512

// fingerprint is the FNV-1a hash of the file's first line (at most fingerprintLen bytes);
// "" for an empty file.
func fingerprint(f *os.File, size int64) (string, error) {
	buf := make([]byte, min(size, fingerprintLen))
	if len(buf) == 0 {
		return "", nil
	}
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the audit log: %w", err)
	}
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i+1]
	}
	h := fnv.New64a()
	h.Write(buf)
	return fmt.Sprintf("%016x", h.Sum64()), nil
}

// logFile is one open file of the log and what it was when opened.
type logFile struct {
	f    *os.File
	ino  uint64
	size int64
}

// openLog opens a file of the log; nil, nil when there is none.
func openLog(path string) (*logFile, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open the audit log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat the audit log: %w", err)
	}
	return &logFile{f: f, ino: fileID(fi), size: fi.Size()}, nil
}

// cursor is the position off in the file (off is after a whole line, or 0).
func (lf *logFile) cursor(off int64) (string, error) {
	c := auditCursor{ino: lf.ino, off: off}
	if off > 0 {
		fp, err := fingerprint(lf.f, lf.size)
		if err != nil {
			return "", err
		}
		c.fp = fp
	}
	return c.String(), nil
}

// is says whether the file is the one the cursor points into.
func (lf *logFile) is(c auditCursor) (bool, error) {
	if lf.ino != c.ino {
		return false, nil
	}
	if c.fp == "" {
		return true, nil
	}
	fp, err := fingerprint(lf.f, lf.size)
	return fp == c.fp, err
}

// auditLogEnd is the cursor at the end of the last whole line of the log now; a log that
// does not exist yet is "0:0", so that all of it is read once it appears.
func auditLogEnd(path string) (string, error) {
	lf, err := openLog(path)
	if err != nil || lf == nil {
		return auditCursor{}.String(), err
	}
	defer lf.f.Close()
	end := lf.size
	// Step back over a line being written.
	const tail = 64 << 10
	from := max(0, end-tail)
	buf := make([]byte, end-from)
	if _, err := lf.f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the audit log: %w", err)
	}
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		end = from + int64(i) + 1
	} else if from == 0 {
		end = 0
	}
	return lf.cursor(end)
}

// auditRotations is how many rotated logs readAuditLog looks through for the cursor's file:
// path.1 (the newest) to path.9, as server_audit keeps them by default
// (server_audit_file_rotations=9).
const auditRotations = 9

// rotatedFrom finds the cursor's file among path.1..path.9 and returns it and the files
// rotated after it, oldest first, up to the file now at path (current, which a rotation
// while it looked may have moved to path.1). found is false when the file is in none of
// them; missing is true when one of the files after it is gone. The caller closes what it
// returns.
func rotatedFrom(path string, cur auditCursor, current uint64) (chain []*logFile, found, missing bool, err error) {
	var opened []*logFile // path.1, path.2, ...; nil where there is none
	closeAll := func() {
		for _, lf := range opened {
			if lf != nil {
				lf.f.Close()
			}
		}
	}
	for k := 1; k <= auditRotations && !found; k++ {
		lf, err := openLog(path + "." + strconv.Itoa(k))
		if err == nil && lf != nil {
			found, err = lf.is(cur)
		}
		opened = append(opened, lf)
		if err != nil {
			closeAll()
			return nil, false, false, err
		}
	}
	if !found {
		closeAll()
		return nil, false, false, nil
	}
	for i := len(opened) - 1; i >= 0; i-- {
		lf := opened[i]
		switch {
		case lf == nil:
			missing = true
		case current != 0 && lf.ino == current:
			lf.f.Close() // read as the current file
		default:
			chain = append(chain, lf)
		}
	}
	return chain, true, missing, nil
}

// readAuditLog reads whole lines from the cursor on (at most limit bytes), following
// rotations, and returns them with the cursor after the last one. gap is true when lines
// after the cursor may have been lost: its file rotated past path.9 or was removed (or a
// file between it and the current one was), or it was truncated below the cursor.
func readAuditLog(path, cursor string, limit int64) (lines []string, next string, gap bool, err error) {
	cur, err := parseAuditCursor(cursor)
	if err != nil {
		return nil, "", false, err
	}
	current, err := openLog(path)
	if err != nil {
		return nil, "", false, err
	}
	var files []*logFile // from the cursor's file on, oldest first
	defer func() {
		for _, lf := range files {
			lf.f.Close()
		}
	}()
	same := cur.ino == 0
	if current != nil && !same {
		if same, err = current.is(cur); err != nil {
			current.f.Close()
			return nil, "", false, err
		}
	}
	switch {
	case current != nil && same:
		files = []*logFile{current}
	case cur.ino == 0:
		// Not there yet: nothing to read now.
		return nil, cursor, false, nil
	default:
		// Rotated: what was written after the cursor is in one of path.1..path.9, and
		// what was written since in the files rotated after it.
		var currentID uint64
		if current != nil {
			currentID = current.ino
		}
		chain, found, missing, err := rotatedFrom(path, cur, currentID)
		if err != nil {
			if current != nil {
				current.f.Close()
			}
			return nil, "", false, err
		}
		files = chain
		if current != nil {
			files = append(files, current)
		}
		if !found {
			if current == nil {
				// Rotated, and nothing at the path yet: it is not known yet what was lost.
				return nil, cursor, false, nil
			}
			gap = true
			cur = auditCursor{ino: current.ino}
		}
		gap = gap || missing
	}
	budget := limit
	for i, lf := range files {
		off := int64(0)
		if i == 0 {
			off = cur.off
		}
		if lf.size < off {
			gap, off = true, 0 // truncated below the cursor
		}
		if lf == current || lf.size-off > budget {
			// The file being written, or more than the limit left: go on here next time.
			more, end, err := readLines(lf.f, off, budget)
			if err != nil {
				return nil, "", false, err
			}
			next, err := lf.cursor(end)
			return append(lines, more...), next, gap, err
		}
		more, _, err := readLines(lf.f, off, budget)
		if err != nil {
			return nil, "", false, err
		}
		lines = append(lines, more...)
		budget -= lf.size - off
	}
	// Rotated files only (nothing at the path yet): the end of the last.
	last := files[len(files)-1]
	next, err = last.cursor(last.size)
	return lines, next, gap, err
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
