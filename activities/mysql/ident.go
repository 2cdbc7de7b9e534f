package mysql

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/dataretire/retire/activities/engine"
)

var (
	plainIdent = regexp.MustCompile(`^[A-Za-z0-9_$]{1,64}$`)
	allDigits  = regexp.MustCompile(`^[0-9]+$`)
	// Character set and collation names are pasted into CREATE DATABASE (no placeholders in
	// DDL), so they must look like what the server prints and nothing else.
	charsetName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
)

var systemSchemas = map[string]bool{
	"mysql": true, "sys": true, "information_schema": true, "performance_schema": true,
}

// IsSystemSchema says whether name is one of the server's own schemas (mysql, sys,
// information_schema, performance_schema; any case), which can never be retired. It needs
// no connection, so the CLI refuses them before anything is started.
func IsSystemSchema(name string) bool { return systemSchemas[strings.ToLower(name)] }

// quarantinePrefix names the schema that strategy rename moves tables into.
const quarantinePrefix = "_retire_q_"

// ValidIdentifier accepts plain database names only and never a system schema. Anything
// else is refused (engine.ErrRefused): quoting would make odd names safe, but a DBA retiring
// `a;b` should be asked to look twice.
func ValidIdentifier(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("database name is empty: %w", engine.ErrRefused)
	case len(name) > 64:
		return fmt.Errorf("database name %q is longer than 64 characters: %w", name, engine.ErrRefused)
	case !plainIdent.MatchString(name):
		return fmt.Errorf("database name %q is not a plain identifier (letters, digits, _ and $ only): %w", name, engine.ErrRefused)
	case allDigits.MatchString(name):
		return fmt.Errorf("database name %q is all digits, which MySQL reads as a number: %w", name, engine.ErrRefused)
	case IsSystemSchema(name):
		return fmt.Errorf("%q is a system schema: retire neither retires it nor restores into it: %w", name, engine.ErrRefused)
	}
	return nil
}

// quoteIdent quotes an identifier with backticks. Inside backticks only the backtick is
// special, so doubling it makes any name safe.
func quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// quoteString makes a string literal for the places where MySQL takes no placeholder
// (SHOW GRANTS FOR, GRANT ... TO, ALTER USER). Doubling the quote is safe whatever the
// sql_mode; a backslash is not (its meaning depends on NO_BACKSLASH_ESCAPES), so names
// holding one, or control characters, are refused rather than guessed at.
func quoteString(s string) (string, error) {
	for _, r := range s {
		if r == '\\' || r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("account name %q holds a backslash or control character; handle this account by hand: %w", s, engine.ErrRefused)
		}
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}

// accountSQL renders user@host for account statements. MariaDB roles have an empty host and
// must be named without one ('r'@” means 'r'@'%' there).
func (a *Adapter) accountSQL(user, host string) (string, error) {
	u, err := quoteString(user)
	if err != nil {
		return "", err
	}
	if host == "" && a.isMariaDB() {
		return u, nil
	}
	h, err := quoteString(host)
	if err != nil {
		return "", err
	}
	return u + "@" + h, nil
}

// quarantineName is the schema strategy rename moves the tables of db into.
func quarantineName(db string) string {
	q := quarantinePrefix + db
	if len(q) > 64 {
		q = q[:64]
	}
	return q
}

// unescapeWildcards turns a grant's database pattern into the name it stands for when its
// wildcards are escaped (`my\_db` is a grant on my_db only).
func unescapeWildcards(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sameSchema says whether a schema column of a grant row names db itself.
func sameSchema(schema, db string) bool {
	return schema == db || unescapeWildcards(schema) == db
}

// likeMatch reports whether s matches a LIKE pattern (% and _, backslash escapes). Host
// patterns are compared case-insensitively, as the server does.
func likeMatch(pattern, s string) bool { return like(pattern, s, true) }

// like matches s against a LIKE pattern the way the server does: % and _ are wildcards
// unless escaped with a backslash; foldCase compares case-insensitively.
func like(pattern, s string, foldCase bool) bool {
	var b strings.Builder
	b.WriteString("(?s)^")
	if foldCase {
		b.WriteString("(?i)")
	}
	escaped := false
	for _, r := range pattern {
		switch {
		case escaped:
			escaped = false
			b.WriteString(regexp.QuoteMeta(string(r)))
		case r == '\\':
			escaped = true
		case r == '%':
			b.WriteString(".*")
		case r == '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(s)
}

// schemaIs is a WHERE condition on a schema column: the plain comparison lets the server
// open only that schema, the binary one keeps `Foo` and `foo` apart on case-sensitive
// servers. It takes the database name twice.
func schemaIs(col string) string {
	return "(" + col + " = ? AND CAST(" + col + " AS BINARY) = CAST(? AS BINARY))"
}
