package archive

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

const (
	// A row group is buffered (compressed) in memory until it is flushed; these bound it so
	// memory does not grow with the table.
	rowGroupRows  = 64 << 10
	rowGroupBytes = 32 << 20
	// batchRows/batchBytes bound one WriteRows call (and the copies of values it holds).
	batchRows  = 1024
	batchBytes = 4 << 20

	parquetContentType = "application/vnd.apache.parquet"
)

// orderedGroup is a parquet.Group whose columns keep the source's order; parquet.Group
// sorts them by name, which would make `SELECT *` on the archive differ from the table.
type orderedGroup struct {
	parquet.Group
	order map[string]int
}

func (g orderedGroup) Fields() []parquet.Field {
	fields := g.Group.Fields()
	slices.SortFunc(fields, func(a, b parquet.Field) int { return g.order[a.Name()] - g.order[b.Name()] })
	return fields
}

// parquetSchema maps manifest columns to Parquet, every column optional so NULL survives.
func parquetSchema(name string, cols []Column) (*parquet.Schema, []codec, error) {
	if len(cols) == 0 {
		return nil, nil, errors.New("table has no columns")
	}
	codecs, err := codecsOf(cols)
	if err != nil {
		return nil, nil, err
	}
	g := orderedGroup{Group: parquet.Group{}, order: map[string]int{}}
	for i, c := range cols {
		if _, dup := g.Group[c.Name]; dup {
			return nil, nil, fmt.Errorf("column %q appears twice", c.Name)
		}
		g.Group[c.Name] = parquet.Optional(codecs[i].node())
		g.order[c.Name] = i
	}
	return parquet.NewSchema(name, g), codecs, nil
}

// partWriter turns exact source rows into Parquet rows, feeding the content checksum with
// exactly the values it was given.
type partWriter struct {
	w      *parquet.Writer
	cols   []Column
	codecs []codec
	sum    RowSum
	rows   int64 // rows handed to the Parquet writer
	seen   int64 // rows given to Write

	batch      []parquet.Row
	arena      []byte // copies of values: the source reuses its buffers
	groupRows  int
	groupBytes int
}

func newPartWriter(out io.Writer, table string, cols []Column) (*partWriter, error) {
	schema, codecs, err := parquetSchema(table, cols)
	if err != nil {
		return nil, err
	}
	opts := []parquet.WriterOption{
		// Fastest level, literals entropy-coded (see zstdCodec): the export is CPU-bound.
		parquet.Compression(partCodec),
		parquet.MaxRowsPerRowGroup(rowGroupRows),
		parquet.CreatedBy("retire", FormatV1, ""),
	}
	for i, c := range codecs {
		if c.kind == cDecimalFixed {
			// parquet-go orders FIXED_LEN_BYTE_ARRAY as unsigned bytes: its min/max of a
			// signed decimal would be wrong, and readers prune row groups on them.
			opts = append(opts, parquet.SkipPageBounds(cols[i].Name))
		}
	}
	w := parquet.NewWriter(out, append([]parquet.WriterOption{schema}, opts...)...)
	return &partWriter{w: w, cols: cols, codecs: codecs}, nil
}

// Write adds one row of exact source values (nil is NULL). Values are copied.
func (pw *partWriter) Write(vals [][]byte) error {
	if len(vals) != len(pw.cols) {
		return fmt.Errorf("row has %d values, table has %d columns", len(vals), len(pw.cols))
	}
	pw.seen++
	var row parquet.Row
	if n := len(pw.batch); n < cap(pw.batch) {
		row = pw.batch[:n+1][n][:0]
	}
	size := 0
	for i, b := range vals {
		if b == nil {
			row = append(row, parquet.NullValue().Level(0, 0, i))
			continue
		}
		var v parquet.Value
		switch pw.codecs[i].kind {
		case cText, cBytes:
			start := len(pw.arena)
			pw.arena = append(pw.arena, b...)
			// Full slice expression: a later append to the arena must never write into this value.
			v = parquet.ByteArrayValue(pw.arena[start:len(pw.arena):len(pw.arena)])
		default:
			var err error
			if v, pw.arena, err = pw.codecs[i].encode(b, pw.arena); err != nil {
				return pw.valueError(i, b, err)
			}
		}
		row = append(row, v.Level(0, 1, i))
		size += len(b) + 8
	}
	if err := pw.sum.AddRow(vals); err != nil {
		return fmt.Errorf("row %d: %w", pw.seen, err)
	}
	pw.batch = append(pw.batch, row)
	pw.groupBytes += size
	if len(pw.batch) >= batchRows || len(pw.arena) >= batchBytes {
		return pw.flushBatch()
	}
	return nil
}

func (pw *partWriter) valueError(i int, b []byte, err error) error {
	s := string(b)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	c := pw.cols[i]
	switch {
	case errors.Is(err, strconv.ErrRange):
		return fmt.Errorf("row %d: column %s (%s): %q is out of range for %s", pw.seen, c.Name, c.Type, s, c.Encoding)
	case errors.Is(err, errNotExact):
		return fmt.Errorf("row %d: column %s (%s): %q is not in the canonical %s notation and %v", pw.seen, c.Name, c.Type, s, c.Kind, err)
	}
	return fmt.Errorf("row %d: column %s (%s): %q is not a valid %s", pw.seen, c.Name, c.Type, s, c.Kind)
}

func (pw *partWriter) flushBatch() error {
	if _, err := pw.w.WriteRows(pw.batch); err != nil {
		return err
	}
	pw.rows += int64(len(pw.batch))
	pw.groupRows += len(pw.batch)
	// The writer copied the values: the rows and the arena can be reused.
	pw.batch = pw.batch[:0]
	pw.arena = pw.arena[:0]
	if pw.groupRows >= rowGroupRows || pw.groupBytes >= rowGroupBytes {
		pw.groupRows, pw.groupBytes = 0, 0
		return pw.w.Flush()
	}
	return nil
}

// Close writes what is buffered and the footer.
func (pw *partWriter) Close() error {
	if err := pw.flushBatch(); err != nil {
		return err
	}
	return pw.w.Close()
}

// decodePart decodes every row of a Parquet part back to exact source values, checking
// its schema against the manifest columns, adds them to sum and calls fn (if not nil) with
// each row (valid only during the call). A malformed file is an error, never a panic:
// parquet-go may panic on corrupt input.
func decodePart(r io.ReaderAt, size int64, table string, cols []Column, sum *RowSum, fn func([][]byte) error) (rows int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("unreadable Parquet: %v", p)
		}
	}()
	want, codecs, err := parquetSchema(table, cols)
	if err != nil {
		return 0, err
	}
	f, err := parquet.OpenFile(r, size)
	if err != nil {
		return 0, fmt.Errorf("unreadable Parquet: %w", err)
	}
	if !parquet.EqualNodes(want, f.Schema()) {
		return 0, fmt.Errorf("Parquet schema does not match the manifest columns")
	}
	buf := make([]parquet.Row, 256)
	out := make([][]byte, len(cols))
	var text []byte
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		for {
			n, rerr := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				if len(row) != len(cols) {
					rr.Close()
					return rows, fmt.Errorf("row has %d values, table has %d columns", len(row), len(cols))
				}
				text = text[:0]
				for i, v := range row {
					if v.IsNull() {
						out[i] = nil
						continue
					}
					if !codecs[i].valid(v) {
						rr.Close()
						return rows, fmt.Errorf("column %s: value does not fit %s", cols[i].Name, cols[i].Encoding)
					}
					start := len(text)
					var typed bool
					if text, typed = codecs[i].render(text, v); typed {
						out[i] = text[start:len(text):len(text)]
					} else if out[i] = v.ByteArray(); out[i] == nil {
						out[i] = []byte{} // an empty value, not NULL
					}
				}
				if err := sum.AddRow(out); err != nil {
					rr.Close()
					return rows, err
				}
				if fn != nil {
					if err := fn(out); err != nil {
						rr.Close()
						return rows, &fnError{err}
					}
				}
				rows++
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				rr.Close()
				return rows, fmt.Errorf("unreadable Parquet: %w", rerr)
			}
		}
		rr.Close()
	}
	if rows != f.NumRows() {
		return rows, fmt.Errorf("decoded %d rows, file footer says %d", rows, f.NumRows())
	}
	return rows, nil
}

// fnError carries an error of decodePart's callback, to tell it from damage.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
func (e *fnError) Unwrap() error { return e.err }
