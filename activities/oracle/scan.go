package oracle

import (
	"context"
	"fmt"
	"strings"

	"github.com/dataretire/retire/activities/engine"
)

// Scan streams a table on a session of its own, under the caller's deadline or a day.
// Columns are named from the dictionary rather than *, so invisible columns are kept and
// virtual ones (computed again on restore) left out.
//
// go-ora cannot stream a LOB: through database/sql it reads each LOB value whole, and every
// LOB of a fetch at once. Tables with LOB or LONG columns are therefore fetched
// Config.LOBPrefetchRows rows per round trip, which bounds memory to that many values.
func (s *source) Scan(ctx context.Context, table string) (engine.Rows, error) {
	ref, err := s.ref(table)
	if err != nil {
		return nil, err
	}
	meta, err := s.session(ctx, connOptions{})
	if err != nil {
		return nil, err
	}
	cols, err := s.a.columns(ctx, meta, ref.owner, ref.name)
	meta.Close()
	if err != nil {
		return nil, err
	}
	query, fix, err := scanQuery(ref.owner, ref.name, cols)
	if err != nil {
		return nil, err
	}
	var opts connOptions
	for _, c := range cols {
		if c.hasLOB() {
			opts.PrefetchRows = s.a.cfg.LOBPrefetchRows
		}
	}
	var sctx context.Context
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); ok {
		sctx, cancel = context.WithCancel(ctx)
	} else {
		sctx, cancel = context.WithTimeout(ctx, scanTimeout)
	}
	c, err := s.session(sctx, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	cur, err := c.Cursor(sctx, query, nil)
	if err != nil {
		c.Close()
		cancel()
		return nil, fmt.Errorf("scan %s.%s: %w", ref.owner, ref.name, classify(err))
	}
	return newTableRows(cols, fix, c, cur, cancel), nil
}

// scanQuery selects every column, then the fix-up items some columns need; fix[i] is the
// index of column i's fix-up value in a row, or -1.
func scanQuery(owner, table string, cols []column) (string, []int, error) {
	from, err := qualified(owner, table)
	if err != nil {
		return "", nil, err
	}
	items := make([]string, 0, len(cols))
	var extra []string
	fix := make([]int, len(cols))
	for i, c := range cols {
		qn, err := quoteIdent(c.Name)
		if err != nil {
			return "", nil, err
		}
		items = append(items, selectExpr(c, qn))
		fix[i] = -1
		if e := fixupExpr(c, qn); e != "" {
			fix[i] = len(cols) + len(extra)
			extra = append(extra, e)
		}
	}
	return "SELECT " + strings.Join(append(items, extra...), ", ") + " FROM " + from, fix, nil
}

// tableRows converts each value into a buffer of its own, reused from row to row, so that
// values stay valid until the next Next and a large table costs no allocation per row.
type tableRows struct {
	cols   []engine.Column
	class  []column
	fix    []int
	conn   conn
	cur    cursor
	cancel context.CancelFunc
	vals   []any
	bufs   [][]byte
	err    error
	done   bool
	closed bool
}

func newTableRows(cols []column, fix []int, c conn, cur cursor, cancel context.CancelFunc) *tableRows {
	r := &tableRows{class: cols, fix: fix, conn: c, cur: cur, cancel: cancel,
		cols: make([]engine.Column, len(cols)), bufs: make([][]byte, len(cols))}
	n := len(cols)
	for i, c := range cols {
		r.cols[i] = c.Column
		if fix[i] >= n {
			n = fix[i] + 1
		}
		// Non-nil from the start: an empty value must not read as NULL.
		r.bufs[i] = make([]byte, 0, 64)
	}
	r.vals = make([]any, n)
	return r
}

func (r *tableRows) Columns() []engine.Column { return r.cols }

func (r *tableRows) Next(dst [][]byte) bool {
	if r.done || r.err != nil {
		return false
	}
	if len(dst) != len(r.cols) {
		r.err = fmt.Errorf("scan: got %d destination values for %d columns", len(dst), len(r.cols))
		return false
	}
	if !r.cur.Next(r.vals) {
		r.done = true
		r.err = r.cur.Err()
		return false
	}
	for i, c := range r.class {
		v := r.vals[i]
		if f := r.fix[i]; f >= 0 && r.vals[f] != nil {
			switch {
			case c.class == tNumber:
				d, err := numberFromDump(str(r.vals[f]))
				if err != nil {
					r.err = fmt.Errorf("column %s: %w", c.Name, err)
					return false
				}
				v = d
			case v == nil && str(r.vals[f]) == "1":
				r.bufs[i] = r.bufs[i][:0]
				dst[i] = r.bufs[i] // an empty LOB: go-ora reads it as NULL
				continue
			}
		}
		b, err := toArchive(c.class, v, r.bufs[i])
		if err != nil {
			r.err = fmt.Errorf("column %s (%s): %w", c.Name, c.Type, err)
			return false
		}
		if b != nil {
			r.bufs[i] = b
		}
		dst[i] = b
	}
	return true
}

func (r *tableRows) Err() error { return r.err }

// Close ends the scan. Stopping early cancels first: the driver would otherwise read the
// rest of the table just to discard it.
func (r *tableRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	early := !r.done
	r.done = true
	if early {
		r.cancel()
	}
	err := r.cur.Close()
	r.conn.Close()
	r.cancel()
	if early {
		return nil
	}
	return err
}
