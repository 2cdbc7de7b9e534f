package mysql

import (
	"strings"

	"github.com/dataretire/retire/activities/engine"
)

// qualifiedNames are the schema-qualified names a statement holds, schema.name, `schema`.`name`
// (and "schema"."name", as ANSI_QUOTES writes them), in the order they appear; Table is ""
// for schema.*. It is a lexer, not a parser: string literals, comments and user variables
// are skipped (the content of /*! ... */ is read, as the server runs it), and a name that
// follows a dot (t.c of db.t.c) is not a qualifier. What it cannot tell apart is a table or
// alias that has the schema's name and is followed by a column (`SELECT shop.id FROM x.shop`):
// such statements are reported, which errs on the side of telling.
func qualifiedNames(stmt string) []engine.TableRef {
	toks := lexSQL(stmt)
	var out []engine.TableRef
	for i := 0; i+2 < len(toks); i++ {
		t := toks[i]
		if t.kind != tokIdent && t.kind != tokQuoted {
			continue
		}
		if toks[i+1].kind != tokDot {
			continue
		}
		if i > 0 && toks[i-1].kind == tokDot {
			continue
		}
		next := toks[i+2]
		switch {
		case next.kind == tokIdent || next.kind == tokQuoted:
			out = append(out, engine.TableRef{Schema: t.text, Table: next.text})
		case next.kind == tokOther && next.text == "*":
			out = append(out, engine.TableRef{Schema: t.text})
		}
	}
	return out
}

type tokKind int

const (
	tokIdent  tokKind = iota // a bare or `backticked` identifier
	tokQuoted                // "double quoted": a string, or an identifier under ANSI_QUOTES
	tokDot
	tokString // 'single quoted', skipped
	tokNumber
	tokVar // @user or @@system variable, dots included
	tokOther
)

type sqlToken struct {
	kind tokKind
	text string
}

func identByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// lexSQL splits a statement into the tokens qualifiedNames needs. It never fails: an
// unterminated literal or comment (a statement cut short) runs to the end.
func lexSQL(s string) []sqlToken {
	var toks []sqlToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#':
			i = skipLine(s, i)
		case c == '-' && i+1 < len(s) && s[i+1] == '-' && (i+2 == len(s) || s[i+2] <= ' '):
			i = skipLine(s, i)
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			// /*! ... */ and /*M! ... */ hold SQL the server runs: read on, after the version.
			j := i + 2
			if j < len(s) && s[j] == 'M' && j+1 < len(s) && s[j+1] == '!' {
				j++
			}
			if j < len(s) && s[j] == '!' {
				j++
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
				i = j
				continue
			}
			if end := strings.Index(s[i+2:], "*/"); end >= 0 {
				i += 2 + end + 2
			} else {
				i = len(s)
			}
		case c == '*' && i+1 < len(s) && s[i+1] == '/':
			i += 2 // the end of an executable comment
		case c == '\'':
			_, i = quoted(s, i, '\'')
			toks = append(toks, sqlToken{kind: tokString})
		case c == '"':
			var text string
			text, i = quoted(s, i, '"')
			toks = append(toks, sqlToken{kind: tokQuoted, text: text})
		case c == '`':
			var text string
			text, i = backticked(s, i)
			toks = append(toks, sqlToken{kind: tokIdent, text: text})
		case c == '@':
			j := i + 1
			if j < len(s) && s[j] == '@' {
				j++
			}
			switch {
			case j < len(s) && (s[j] == '\'' || s[j] == '"'):
				_, j = quoted(s, j, s[j])
			case j < len(s) && s[j] == '`':
				_, j = backticked(s, j)
			default:
				for j < len(s) && (identByte(s[j]) || s[j] == '.') {
					j++
				}
			}
			toks = append(toks, sqlToken{kind: tokVar, text: s[i:j]})
			i = j
		case c == '.':
			toks = append(toks, sqlToken{kind: tokDot, text: "."})
			i++
		case identByte(c):
			j := i
			for j < len(s) && identByte(s[j]) {
				j++
			}
			word := s[i:j]
			kind := tokIdent
			if allDigits.MatchString(word) {
				kind = tokNumber
			}
			toks = append(toks, sqlToken{kind: kind, text: word})
			i = j
		default:
			toks = append(toks, sqlToken{kind: tokOther, text: s[i : i+1]})
			i++
		}
	}
	return toks
}

func skipLine(s string, i int) int {
	if end := strings.IndexByte(s[i:], '\n'); end >= 0 {
		return i + end + 1
	}
	return len(s)
}

// quoted reads a literal that starts at s[i] == q: a doubled quote and a backslash escape
// stand for the character. It returns the text (for double quotes, which may be an
// identifier) and the index after the closing quote.
func quoted(s string, i int, q byte) (string, int) {
	var b strings.Builder
	j := i + 1
	for j < len(s) {
		switch c := s[j]; {
		case c == '\\' && j+1 < len(s):
			b.WriteByte(s[j+1])
			j += 2
		case c == q && j+1 < len(s) && s[j+1] == q:
			b.WriteByte(q)
			j += 2
		case c == q:
			return b.String(), j + 1
		default:
			b.WriteByte(c)
			j++
		}
	}
	return b.String(), j
}

// backticked reads an identifier in backticks (a doubled backtick stands for one).
func backticked(s string, i int) (string, int) {
	var b strings.Builder
	j := i + 1
	for j < len(s) {
		if s[j] == '`' {
			if j+1 < len(s) && s[j+1] == '`' {
				b.WriteByte('`')
				j += 2
				continue
			}
			return b.String(), j + 1
		}
		b.WriteByte(s[j])
		j++
	}
	return b.String(), j
}
