package oracle

import (
	"fmt"
	"regexp"
	"strings"
)

// markerPattern matches a schema marker line (see schemaMarker).
var markerPattern = regexp.MustCompile(`^-- retire: schema "([^"]*)"\s*$`)

// ddlPart is the part of a DDL file that DBMS_METADATA printed for one schema.
type ddlPart struct {
	owner string // "" before any marker: statements that name no schema of their own
	text  string
}

// splitSchemas cuts a DDL file at its schema markers. A marker whose name could not be
// quoted is refused: the archive was tampered with, or written by something else.
func splitSchemas(ddl string) ([]ddlPart, error) {
	var parts []ddlPart
	cur := ddlPart{}
	var b strings.Builder
	for _, line := range strings.SplitAfter(ddl, "\n") {
		m := markerPattern.FindStringSubmatch(strings.TrimRight(line, "\r\n"))
		if m == nil {
			b.WriteString(line)
			continue
		}
		if _, err := quoteIdent(m[1]); err != nil {
			return nil, fmt.Errorf("DDL names schema %q in a marker line: %w", m[1], err)
		}
		if cur.text = b.String(); cur.owner != "" || strings.TrimSpace(cur.text) != "" {
			parts = append(parts, cur)
		}
		cur = ddlPart{owner: m[1]}
		b.Reset()
	}
	cur.text = b.String()
	parts = append(parts, cur)
	return parts, nil
}

// retarget rewrites one statement that DBMS_METADATA printed for schema from so that it
// names schema to instead: every from. qualifier becomes "TO". DBMS_METADATA leaves the
// schema out of the object's own name (EMIT_SCHEMA false, 12.2 and later), but not out of
// text the owner wrote: view queries, PL/SQL bodies, a trigger's ON clause, foreign keys
// (on servers where the transform is missing, every name). Left as it is, a restore into
// a scratch schema would create objects against the source itself (a trigger of the scratch
// on the source's table), and a restore after the drop would fail.
//
// The rewrite is lexical, and conservative: only a name used as a qualifier is rewritten
// (followed by "." and not preceded by "." or ":"; quoted "SCOTT" exactly, unquoted scott
// in any case, since Oracle upper-cases it), never inside string literals (including
// q'[...]'), quoted names of other schemas, comments, bind variables (:new.x), or a name
// that goes through a database link (scott.emp@remote: a remote schema). Dynamic SQL text
// in string literals is therefore left naming the source.
func retarget(stmt, from, to string) string {
	if from == "" || from == to {
		return stmt
	}
	var b strings.Builder
	n, last := len(stmt), 0
	var prev byte // the last significant character before the current token
	replace := func(start, end int) {
		b.WriteString(stmt[last:start])
		b.WriteString(q(to))
		last = end
	}
	for i := 0; i < n; {
		ch := stmt[i]
		switch {
		case ch == '-' && i+1 < n && stmt[i+1] == '-':
			if j := strings.IndexByte(stmt[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = n
			}
		case ch == '/' && i+1 < n && stmt[i+1] == '*':
			if j := strings.Index(stmt[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = n
			}
		case ch == '\'':
			i, prev = skipLiteral(stmt, i), '\''
		case ch == '"':
			end := n
			if j := strings.IndexByte(stmt[i+1:], '"'); j >= 0 {
				end = i + 1 + j + 1
			}
			if end-i >= 2 && stmt[i+1:end-1] == from && qualifies(stmt, end, prev) {
				replace(i, end)
			}
			i, prev = end, '"'
		case identStart(ch):
			j := i + 1
			for j < n && identChar(stmt[j]) {
				j++
			}
			word := stmt[i:j]
			if j < n && stmt[j] == '\'' && (strings.EqualFold(word, "q") || strings.EqualFold(word, "nq")) {
				i, prev = skipQLiteral(stmt, j), '\''
				continue
			}
			if strings.ToUpper(word) == from && qualifies(stmt, j, prev) {
				replace(i, j)
			}
			i, prev = j, 'a'
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
		default:
			i, prev = i+1, ch
		}
	}
	b.WriteString(stmt[last:])
	return b.String()
}

func identStart(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= 0x80 }

func identChar(c byte) bool {
	return identStart(c) || c >= '0' && c <= '9' || c == '_' || c == '$' || c == '#'
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// skipLiteral returns the index after the quoted literal starting at i (two quotes in a
// row stand for one).
func skipLiteral(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		if s[j] == '\'' {
			if j+1 < len(s) && s[j+1] == '\'' {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// skipQLiteral returns the index after q'<d>...<d>' whose opening quote is at i.
func skipQLiteral(s string, i int) int {
	if i+1 >= len(s) {
		return len(s)
	}
	closer := s[i+1]
	switch closer {
	case '[':
		closer = ']'
	case '(':
		closer = ')'
	case '{':
		closer = '}'
	case '<':
		closer = '>'
	}
	if j := strings.Index(s[i+2:], string(closer)+"'"); j >= 0 {
		return i + 2 + j + 2
	}
	return len(s)
}

// qualifies says whether the name that ends at end is a schema qualifier: followed by "."
// and another name, not itself qualified (prev '.'), not a bind variable or pseudo-record
// (prev ':'), and not naming an object through a database link.
func qualifies(s string, end int, prev byte) bool {
	if prev == '.' || prev == ':' {
		return false
	}
	k := skipSpace(s, end)
	if k >= len(s) || s[k] != '.' {
		return false
	}
	// Walk the rest of the dotted name: a database link (@name) makes it a remote schema.
	for k < len(s) && s[k] == '.' {
		k = skipSpace(s, k+1)
		switch {
		case k < len(s) && s[k] == '"':
			j := strings.IndexByte(s[k+1:], '"')
			if j < 0 {
				return true
			}
			k += j + 2
		case k < len(s) && identStart(s[k]):
			for k < len(s) && identChar(s[k]) {
				k++
			}
		default:
			return true // "scott.*" and the like
		}
		if j := skipSpace(s, k); j < len(s) && s[j] == '.' {
			k = j
		}
	}
	return k >= len(s) || s[k] != '@'
}
