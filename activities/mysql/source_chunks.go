package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"math/bits"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// Chunking. A table is split on its chunking key: the primary key, or else the first
// unique key whose columns are all NOT NULL, provided every key column is an integer or a
// CHAR/VARCHAR/BINARY/VARBINARY; other tables are one chunk. Bounds are printed as decimal
// integers and, for string columns, "0x" and the hex of the stored bytes (read with HEX(),
// compared as the same bytes in the column's own character set and collation), so they
// are exact whatever the data and survive JSON.
//
// Every row lands in exactly one chunk because a chunk is `key >= Lower AND key < Upper`
// (row-wise, in the column's collation), consecutive chunks share a bound, the first has
// no Lower and the last no Upper: for any row and bound exactly one of `key >= b` and
// `key < b` holds.

const (
	// sampleTimeout bounds one sampling query, which reads ChunkRows rows on the server.
	sampleTimeout = 15 * time.Minute
	// maxChunks stops splitting a table beyond this many chunks (the rest is the last one).
	maxChunks = 100_000
)

var hexBound = regexp.MustCompile(`^0x(?:[0-9A-F]{2})*$`)

func isIntType(dataType string) bool {
	switch dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return true
	}
	return false
}

func isStringKeyType(dataType string) bool {
	switch dataType {
	case "char", "varchar", "binary", "varbinary":
		return true
	}
	return false
}

// chunkKey finds the table's chunking key among its unique indexes.
func (s *source) chunkKey(ctx context.Context, table string, cols []colInfo) ([]colInfo, error) {
	type index struct {
		name string
		cols []string
	}
	var idx []*index
	err := s.a.each(ctx, s.pool, "SELECT INDEX_NAME, COALESCE(COLUMN_NAME, '') FROM information_schema.STATISTICS WHERE "+
		nameIs("TABLE_SCHEMA")+" AND "+nameIs("TABLE_NAME")+" AND NON_UNIQUE = 0 ORDER BY INDEX_NAME <> 'PRIMARY', INDEX_NAME, SEQ_IN_INDEX",
		[]any{s.data, s.data, table, table}, func(r *sql.Rows) error {
			var name, col string
			if err := r.Scan(&name, &col); err != nil {
				return err
			}
			if len(idx) == 0 || idx[len(idx)-1].name != name {
				idx = append(idx, &index{name: name})
			}
			ix := idx[len(idx)-1]
			ix.cols = append(ix.cols, col)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list keys of %s: %w", table, err)
	}
next:
	for _, ix := range idx {
		var key []colInfo
		for _, name := range ix.cols {
			i := slices.IndexFunc(cols, func(c colInfo) bool { return c.Name == name })
			if name == "" || i < 0 {
				continue next // an expression, or a column we cannot see
			}
			c := cols[i]
			if c.Nullable || !(isIntType(c.dataType) || isStringKeyType(c.dataType)) {
				continue next
			}
			if c.charset != "" && (!charsetName.MatchString(c.charset) || !charsetName.MatchString(c.collation)) {
				continue next
			}
			key = append(key, c)
		}
		if len(key) > 0 {
			return key, nil
		}
	}
	return nil, nil
}

// Chunks splits a table into chunks of about targetRows rows (see the top of this file):
// a single integer key into equal ranges of its values between MIN and MAX, any other key
// by sampling every targetRows-th key in key order. Tables the server estimates at no more
// than targetRows rows are one chunk.
func (s *source) Chunks(ctx context.Context, table string, targetRows int64) ([]engine.Chunk, error) {
	m, err := s.meta(ctx, table)
	if err != nil {
		return nil, err
	}
	whole := []engine.Chunk{{Index: 0}}
	if len(m.key) == 0 || targetRows <= 0 || m.rows <= targetRows {
		return whole, nil
	}
	var bounds [][]string
	if len(m.key) == 1 && isIntType(m.key[0].dataType) {
		bounds, err = s.intBounds(ctx, table, m.key[0], (m.rows+targetRows-1)/targetRows)
	} else {
		bounds, err = s.sampledBounds(ctx, table, m.key, targetRows)
	}
	if err != nil || len(bounds) == 0 {
		return whole, err
	}
	names := make([]string, len(m.key))
	for i, c := range m.key {
		names[i] = c.Name
	}
	chunks := make([]engine.Chunk, len(bounds)+1)
	for i := range chunks {
		chunks[i] = engine.Chunk{Index: i, Key: names}
		if i > 0 {
			chunks[i].Lower = bounds[i-1]
		}
		if i < len(bounds) {
			chunks[i].Upper = bounds[i]
		}
	}
	return chunks, nil
}

// intBounds cuts [MIN, MAX] of an integer key into n ranges of equal width, n rounded up
// to a power of two: a slightly different row estimate (the server's statistics move)
// gives the same chunks, so a retry keeps the chunks an earlier attempt finished. Chunks
// then hold between targetRows/2 and targetRows rows when the key is dense.
func (s *source) intBounds(ctx context.Context, table string, key colInfo, n int64) ([][]string, error) {
	var lo, hi sql.NullString
	q := quoteIdent(key.Name)
	if err := s.a.row(ctx, s.pool, "SELECT MIN("+q+"), MAX("+q+") FROM "+s.qualified(table), nil, &lo, &hi); err != nil {
		return nil, fmt.Errorf("key range of %s: %w", table, err)
	}
	minV, ok1 := new(big.Int).SetString(lo.String, 10)
	maxV, ok2 := new(big.Int).SetString(hi.String, 10)
	if !lo.Valid || !hi.Valid || !ok1 || !ok2 || n < 2 {
		return nil, nil
	}
	n = min(int64(1)<<bits.Len64(uint64(n-1)), maxChunks) // next power of two
	span := new(big.Int).Sub(maxV, minV)
	span.Add(span, big.NewInt(1))
	width := new(big.Int).Add(span, big.NewInt(n-1))
	width.Div(width, big.NewInt(n)) // ceil(span / n) >= 1
	var out [][]string
	b := new(big.Int).Add(minV, width)
	for b.Cmp(maxV) <= 0 && len(out) < maxChunks {
		out = append(out, []string{b.String()})
		b.Add(b, width)
	}
	return out, nil
}

// sampledBounds walks the key in order, each query starting at the previous bound and
// skipping targetRows rows, so the whole walk reads the table's key once.
func (s *source) sampledBounds(ctx context.Context, table string, key []colInfo, targetRows int64) ([][]string, error) {
	sel := make([]string, len(key))
	order := make([]string, len(key))
	for i, c := range key {
		order[i] = quoteIdent(c.Name)
		sel[i] = order[i]
		if !isIntType(c.dataType) {
			sel[i] = "HEX(" + order[i] + ")"
		}
	}
	var out [][]string
	var prev []string
	for len(out) < maxChunks {
		q := "SELECT " + strings.Join(sel, ", ") + " FROM " + s.qualified(table)
		if prev != nil {
			lits, err := literals(key, prev)
			if err != nil {
				return nil, err
			}
			q += " WHERE " + keyCompare(key, lits, ">=")
		}
		q += " ORDER BY " + strings.Join(order, ", ") + " LIMIT 1 OFFSET " + strconv.FormatInt(targetRows, 10)
		vals := make([]sql.NullString, len(key))
		ptrs := make([]any, len(key))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		qctx, cancel := context.WithTimeout(ctx, sampleTimeout)
		err := s.pool.QueryRowContext(qctx, q).Scan(ptrs...)
		cancel()
		if err == sql.ErrNoRows {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("sample the key of %s: %w", table, classify(err))
		}
		bound := make([]string, len(key))
		for i, v := range vals {
			if !v.Valid {
				return nil, fmt.Errorf("sample the key of %s: NULL in key column %s", table, key[i].Name)
			}
			bound[i] = v.String
			if !isIntType(key[i].dataType) {
				bound[i] = "0x" + v.String
			}
		}
		if slices.Equal(bound, prev) {
			break // no progress (cannot happen on a unique key): the rest is the last chunk
		}
		out = append(out, bound)
		prev = bound
	}
	return out, nil
}

// chunkWhere is the WHERE clause of a chunk, "" for a whole table.
func chunkWhere(key []colInfo, c engine.Chunk) (string, error) {
	if len(c.Key) == 0 {
		if c.Lower != nil || c.Upper != nil {
			return "", fmt.Errorf("a chunk with bounds names no key: %w", engine.ErrRefused)
		}
		return "", nil
	}
	names := make([]string, len(key))
	for i, k := range key {
		names[i] = k.Name
	}
	if !slices.Equal(names, c.Key) {
		return "", fmt.Errorf("the chunk is on key %v, the table's key is now %v: %w", c.Key, names, engine.ErrRefused)
	}
	var conds []string
	for _, b := range []struct {
		vals []string
		op   string
	}{{c.Lower, ">="}, {c.Upper, "<"}} {
		if b.vals == nil {
			continue
		}
		lits, err := literals(key, b.vals)
		if err != nil {
			return "", err
		}
		conds = append(conds, keyCompare(key, lits, b.op))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), nil
}

// literals turns bound values into SQL literals, refusing anything that is not exactly
// what Chunks prints: they come back from heartbeats, and they go into SQL text.
func literals(key []colInfo, vals []string) ([]string, error) {
	if len(vals) != len(key) {
		return nil, fmt.Errorf("a bound has %d values for %d key columns: %w", len(vals), len(key), engine.ErrRefused)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		c := key[i]
		switch {
		case isIntType(c.dataType):
			var canon string
			if strings.Contains(strings.ToLower(c.Type), "unsigned") {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("bound %q of %s is not an unsigned integer: %w", v, c.Name, engine.ErrRefused)
				}
				canon = strconv.FormatUint(n, 10)
			} else {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("bound %q of %s is not an integer: %w", v, c.Name, engine.ErrRefused)
				}
				canon = strconv.FormatInt(n, 10)
			}
			if canon != v {
				return nil, fmt.Errorf("bound %q of %s is not a plain integer: %w", v, c.Name, engine.ErrRefused)
			}
			out[i] = v
		case hexBound.MatchString(v):
			lit := "X'" + v[2:] + "'"
			if c.charset != "" {
				// The stored bytes in the column's own character set and collation: compared
				// exactly as the server orders the key.
				lit = "CONVERT(" + lit + " USING " + c.charset + ") COLLATE " + c.collation
			}
			out[i] = lit
		default:
			return nil, fmt.Errorf("bound %q of %s is not 0x and hex digits: %w", v, c.Name, engine.ErrRefused)
		}
	}
	return out, nil
}

// keyCompare is `(k1, ..., kn) op (v1, ..., vn)` in key order, op ">=" or "<", spelled
// out so that the range optimizer of every MySQL and MariaDB version uses the key.
func keyCompare(key []colInfo, lits []string, op string) string {
	strict := op[:1] // ">" or "<"
	ors := make([]string, len(key))
	for i := range key {
		ands := make([]string, 0, i+1)
		for j := 0; j < i; j++ {
			ands = append(ands, quoteIdent(key[j].Name)+" = "+lits[j])
		}
		o := strict
		if i == len(key)-1 {
			o = op
		}
		ands = append(ands, quoteIdent(key[i].Name)+" "+o+" "+lits[i])
		ors[i] = strings.Join(ands, " AND ")
	}
	if len(ors) == 1 {
		return ors[0]
	}
	return "((" + strings.Join(ors, ") OR (") + "))"
}
