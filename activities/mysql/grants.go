package mysql

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/dataretire/retire/activities/engine"
)

// object is the ON clause of a GRANT: kind (PROCEDURE, FUNCTION...) or "" for tables and
// databases, the database as stored (it may carry escaped wildcards such as `my\_db`), and
// the object name, "" meaning `db`.*.
type object struct {
	kind   string
	db     string
	name   string
	global bool // *.*
}

// sql renders the clause from its parts, so that nothing printed by the server (or read back
// from a snapshot) reaches SQL without being re-quoted.
func (o object) sql() string {
	if o.global {
		return "*.*"
	}
	s := quoteIdent(o.db) + "."
	if o.name == "" {
		s += "*"
	} else {
		s += quoteIdent(o.name)
	}
	if o.kind != "" {
		s = o.kind + " " + s
	}
	return s
}

func (o object) on(db string) bool { return !o.global && sameSchema(o.db, db) }

// grantLine is one GRANT line of SHOW GRANTS that parsed as privileges ON object.
type grantLine struct {
	privs       string // canonical, e.g. "SELECT (`a`, `b`), INSERT"
	obj         object
	grantOption bool
	printed     string // as the server printed it; may hold a password hash on USAGE lines
	tail        string // what follows TO
}

// quotedName is a name in backticks, single or double quotes, with the quote doubled inside.
const quotedName = "`(?:[^`]|``)*`|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\""

var (
	privName     = regexp.MustCompile(`^[A-Za-z][A-Za-z_]*( [A-Za-z][A-Za-z_]*)*$`)
	bareIdent    = regexp.MustCompile(`^[A-Za-z0-9_$\x{80}-\x{10FFFF}]+`)
	routineKinds = []string{"PROCEDURE", "FUNCTION", "PACKAGE BODY", "PACKAGE"}
	// plainTail is what follows TO in a grant line that carries no authentication: the
	// account and at most WITH GRANT OPTION. Only such lines are kept verbatim.
	plainTail = regexp.MustCompile(`^(` + quotedName + `|[A-Za-z0-9_.%$-]+)(@(` + quotedName + `|[A-Za-z0-9_.%$:-]+))?( WITH GRANT OPTION)?$`)
	// secretWords never belong in a snapshot outside quoted identifiers.
	secretWords = regexp.MustCompile(`(?i)\b(IDENTIFIED|PASSWORD|USING|AS)\b`)
)

// parseGrant reads one SHOW GRANTS line. ok is false for lines that are not
// "GRANT privileges ON object TO account": role grants, PROXY, REVOKE, SET DEFAULT ROLE.
func parseGrant(line string) (g grantLine, ok bool) {
	const kw = "GRANT "
	if len(line) < len(kw) || !strings.EqualFold(line[:len(kw)], kw) {
		return g, false
	}
	rest := line[len(kw):]
	i := indexTop(rest, " ON ")
	if i < 0 {
		return g, false
	}
	privText, rest := rest[:i], rest[i+len(" ON "):]
	j := indexTop(rest, " TO ")
	if j < 0 {
		return g, false
	}
	onText, tail := rest[:j], rest[j+len(" TO "):]
	privs, err := parsePrivileges(privText)
	if err != nil {
		return g, false
	}
	obj, err := parseObject(onText)
	if err != nil {
		return g, false
	}
	return grantLine{
		privs:       privs,
		obj:         obj,
		grantOption: indexTop(tail, "GRANT OPTION") >= 0,
		printed:     line,
		tail:        tail,
	}, true
}

// grant turns a parsed line into a snapshot entry. The printed statement is kept only when
// nothing after the account could be authentication data; otherwise it is rebuilt.
func (g grantLine) grant(user, host string) engine.Grant {
	stmt := g.printed
	if !plainTail.MatchString(g.tail) || secretWords.MatchString(stripQuoted(stmt)) {
		stmt = "GRANT " + g.privs + " ON " + g.obj.sql() + " TO " + quoteIdent(user) + "@" + quoteIdent(host)
		if g.grantOption {
			stmt += " WITH GRANT OPTION"
		}
	}
	return engine.Grant{User: user, Host: host, Privileges: g.privs, On: g.obj.sql(), GrantOption: g.grantOption, Statement: stmt}
}

// usageOnly is the line every account has: USAGE ON *.*, which grants nothing.
func (g grantLine) usageOnly() bool {
	return g.obj.global && strings.EqualFold(g.privs, "USAGE") && !g.grantOption
}

// parsePrivileges checks a privilege list and returns it re-rendered: privilege words, each
// optionally followed by a column list of identifiers that are re-quoted here.
func parsePrivileges(s string) (string, error) {
	items := splitTop(s, ',')
	out := make([]string, 0, len(items))
	for _, item := range items {
		item = strings.TrimSpace(item)
		name, cols := item, ""
		if p := strings.IndexByte(item, '('); p >= 0 {
			if !strings.HasSuffix(item, ")") {
				return "", fmt.Errorf("privilege %q: unbalanced column list", item)
			}
			name, cols = strings.TrimSpace(item[:p]), item[p+1:len(item)-1]
		}
		if !privName.MatchString(name) {
			return "", fmt.Errorf("privilege %q is not a privilege name", name)
		}
		r := strings.ToUpper(name)
		if cols != "" {
			var quoted []string
			for _, c := range splitTop(cols, ',') {
				id, rest, err := readIdent(strings.TrimSpace(c))
				if err != nil || rest != "" {
					return "", fmt.Errorf("privilege %q: bad column list", item)
				}
				quoted = append(quoted, quoteIdent(id))
			}
			r += " (" + strings.Join(quoted, ", ") + ")"
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return "", fmt.Errorf("empty privilege list")
	}
	return strings.Join(out, ", "), nil
}

// parseObject reads an ON clause: *.*, `db`.*, `db`.`t`, PROCEDURE `db`.`p`.
func parseObject(s string) (object, error) {
	s = strings.TrimSpace(s)
	if s == "*.*" {
		return object{global: true}, nil
	}
	var o object
	for _, k := range routineKinds {
		if len(s) > len(k) && strings.EqualFold(s[:len(k)+1], k+" ") {
			o.kind, s = k, strings.TrimSpace(s[len(k)+1:])
			break
		}
	}
	db, rest, err := readIdent(s)
	if err != nil || !strings.HasPrefix(rest, ".") {
		return object{}, fmt.Errorf("ON clause %q is not db.object", s)
	}
	o.db, rest = db, rest[1:]
	if rest == "*" {
		if o.kind != "" {
			return object{}, fmt.Errorf("ON clause %q: a routine needs a name", s)
		}
		return o, nil
	}
	name, rest, err := readIdent(rest)
	if err != nil || rest != "" {
		return object{}, fmt.Errorf("ON clause %q is not db.object", s)
	}
	o.name = name
	return o, nil
}

// readIdent reads one identifier, quoted with backticks or double quotes (ANSI_QUOTES) or
// bare, and returns it unquoted with the rest of s.
func readIdent(s string) (ident, rest string, err error) {
	if s == "" {
		return "", "", fmt.Errorf("missing identifier")
	}
	if q := s[0]; q == '`' || q == '"' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] != q {
				b.WriteByte(s[i])
				continue
			}
			if i+1 < len(s) && s[i+1] == q {
				b.WriteByte(q)
				i++
				continue
			}
			if b.Len() == 0 {
				return "", "", fmt.Errorf("empty identifier")
			}
			return b.String(), s[i+1:], nil
		}
		return "", "", fmt.Errorf("unterminated identifier")
	}
	m := bareIdent.FindString(s)
	if m == "" {
		return "", "", fmt.Errorf("bad identifier at %q", s)
	}
	return m, s[len(m):], nil
}

// scanTop walks s outside quotes and parentheses, calling at(i) at each such position until
// it returns true; it returns that position or -1.
func scanTop(s string, at func(i int) bool) int {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			switch {
			case c == quote && i+1 < len(s) && s[i+1] == quote:
				i++
			case c == quote:
				quote = 0
			case c == '\\' && quote == '\'':
				i++
			}
			continue
		}
		switch c {
		case '`', '\'', '"':
			quote = c
			continue
		case '(':
			depth++
			continue
		case ')':
			depth--
			continue
		}
		if depth == 0 && at(i) {
			return i
		}
	}
	return -1
}

// indexTop finds sep (case-insensitively) outside quotes and parentheses.
func indexTop(s, sep string) int {
	return scanTop(s, func(i int) bool {
		return len(s)-i >= len(sep) && strings.EqualFold(s[i:i+len(sep)], sep)
	})
}

// splitTop splits s at sep outside quotes and parentheses.
func splitTop(s string, sep byte) []string {
	var parts []string
	for {
		i := scanTop(s, func(i int) bool { return s[i] == sep })
		if i < 0 {
			return append(parts, s)
		}
		parts = append(parts, s[:i])
		s = s[i+1:]
	}
}

// stripQuoted blanks out quoted identifiers and strings, leaving the keywords around them.
func stripQuoted(s string) string {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			switch {
			case c == quote && i+1 < len(s) && s[i+1] == quote:
				i++
			case c == quote:
				quote = 0
				b.WriteByte(c)
			case c == '\\' && quote == '\'':
				i++
			}
			continue
		}
		if c == '`' || c == '\'' || c == '"' {
			quote = c
		}
		b.WriteByte(c)
	}
	return b.String()
}

// holdsSecret is the last check before grants leave this package: the snapshot travels
// through workflow history and must never carry a password or its hash.
func holdsSecret(g engine.Grant) bool {
	for _, s := range []string{g.Statement, g.Privileges, g.On} {
		if secretWords.MatchString(stripQuoted(s)) {
			return true
		}
	}
	return false
}

// showGrants returns the account's SHOW GRANTS lines. They may hold a password hash: they
// stay in memory and are never returned or logged as such.
func (a *Adapter) showGrants(ctx context.Context, q querier, user, host string) ([]string, error) {
	acct, err := a.accountSQL(user, host)
	if err != nil {
		return nil, err
	}
	lines, err := a.strings1(ctx, q, "SHOW GRANTS FOR "+acct)
	if err != nil {
		return nil, fmt.Errorf("show grants for %s@%s: %w", user, host, err)
	}
	return lines, nil
}

// isLocked reads the account's lock state from SHOW CREATE USER. The text holds the
// password hash, so it is only searched, never kept.
func (a *Adapter) isLocked(ctx context.Context, q querier, user, host string) (bool, error) {
	acct, err := a.accountSQL(user, host)
	if err != nil {
		return false, err
	}
	rows, err := a.strings1(ctx, q, "SHOW CREATE USER "+acct)
	if err != nil {
		return false, fmt.Errorf("show create user %s@%s: %w", user, host, err)
	}
	if len(rows) == 0 {
		return false, fmt.Errorf("show create user %s@%s: no row", user, host)
	}
	return lockedIn(rows[0]), nil
}

// lockedIn reads ACCOUNT LOCK from SHOW CREATE USER text. The clause follows the
// authentication part, so the last mention wins even if a hash happened to spell it.
func lockedIn(createUser string) bool {
	s := strings.ToUpper(createUser)
	return strings.LastIndex(s, "ACCOUNT LOCK") > strings.LastIndex(s, "ACCOUNT UNLOCK")
}
