package archive

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/dataretire/retire/activities/engine"
)

// fakeSource is an in-memory engine.Source: the DB side's test double. Rows are generated
// from their index, so the test can regenerate the expected values without holding them.
type fakeSource struct {
	tables []*fakeTable

	mu    sync.Mutex
	scans map[string]int
}

type fakeTable struct {
	name string
	cols []engine.Column
	n    int
	// row returns row i's server values (nil = NULL).
	row func(i int) [][]byte
}

func (s *fakeSource) Info() engine.SourceInfo {
	return engine.SourceInfo{Engine: "fake", Version: "1.0", Charset: "utf8mb4"}
}

func (s *fakeSource) Tables() []string {
	var names []string
	for _, t := range s.tables {
		names = append(names, t.name)
	}
	return names
}

func (s *fakeSource) table(name string) (*fakeTable, error) {
	for _, t := range s.tables {
		if t.name == name {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no table %q: %w", name, engine.ErrRefused)
}

func (s *fakeSource) TableDDL(ctx context.Context, name string) (string, error) {
	t, err := s.table(name)
	if err != nil {
		return "", err
	}
	ddl := "CREATE TABLE `" + t.name + "` (\n"
	for i, c := range t.cols {
		if i > 0 {
			ddl += ",\n"
		}
		ddl += "  `" + c.Name + "` " + c.Type
	}
	return ddl + "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4", nil
}

func (s *fakeSource) ObjectDDL(ctx context.Context) (map[string]string, error) {
	return map[string]string{
		"views.sql":    "CREATE VIEW `v` AS SELECT 1;\n",
		"routines.sql": "",
		"triggers.sql": "-- none\n",
		"grants.sql":   "GRANT SELECT ON `shop`.* TO `app`@`%`;\n",
		// events.sql left out: Export must still write it, empty.
	}, nil
}

func (s *fakeSource) Scan(ctx context.Context, name string) (engine.Rows, error) {
	t, err := s.table(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.scans == nil {
		s.scans = map[string]int{}
	}
	s.scans[name]++
	s.mu.Unlock()
	return &fakeRows{t: t}, nil
}

func (s *fakeSource) scanned(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scans[name]
}

func (s *fakeSource) Close() error { return nil }

// fakeRows hands out values in one scratch buffer that the next call overwrites, as a
// database driver does: Export must copy what it keeps.
type fakeRows struct {
	t       *fakeTable
	i       int
	scratch []byte
}

func (r *fakeRows) Columns() []engine.Column { return r.t.cols }

func (r *fakeRows) Next(dst [][]byte) bool {
	if r.i >= r.t.n {
		return false
	}
	for i := range r.scratch {
		r.scratch[i] = 0xAA // poison what the previous row handed out
	}
	r.scratch = r.scratch[:0]
	vals := r.t.row(r.i)
	var offs []int
	for _, v := range vals {
		offs = append(offs, len(r.scratch))
		r.scratch = append(r.scratch, v...)
	}
	for j, v := range vals {
		if v == nil {
			dst[j] = nil
			continue
		}
		dst[j] = r.scratch[offs[j] : offs[j]+len(v) : offs[j]+len(v)]
	}
	r.i++
	return true
}

func (r *fakeRows) Err() error   { return nil }
func (r *fakeRows) Close() error { return nil }

const bigRows = 100_000

// testSource has three tables: a small one with an awkward name, an empty one, and a big one
// with every kind, NULLs and extreme values.
func testSource() *fakeSource {
	small := &fakeTable{
		name: "odd name/ü",
		cols: []engine.Column{
			{Name: "id", Type: "int(11)", Kind: engine.KindInt64},
			{Name: "name", Type: "varchar(45)", Kind: engine.KindText, Nullable: true},
		},
		n: 3,
		row: func(i int) [][]byte {
			return [][]byte{[]byte(strconv.Itoa(i + 1)), []byte([]string{"PENELOPE", "NICK", "ED"}[i])}
		},
	}
	empty := &fakeTable{
		name: "empty",
		cols: []engine.Column{
			{Name: "id", Type: "bigint(20) unsigned", Kind: engine.KindUint64},
			{Name: "note", Type: "text", Kind: engine.KindText, Nullable: true},
		},
		row: func(int) [][]byte { return nil },
	}
	big := &fakeTable{
		name: "payment",
		// Not in name order, so a Parquet schema sorted by name would show.
		cols: []engine.Column{
			{Name: "payment_id", Type: "bigint(20)", Kind: engine.KindInt64},
			{Name: "signed", Type: "bigint(20)", Kind: engine.KindInt64, Nullable: true},
			{Name: "counter", Type: "bigint(20) unsigned", Kind: engine.KindUint64, Nullable: true},
			{Name: "amount", Type: "double", Kind: engine.KindFloat64, Nullable: true},
			{Name: "note", Type: "varchar(255)", Kind: engine.KindText, Nullable: true},
			{Name: "raw", Type: "varbinary(16)", Kind: engine.KindBytes, Nullable: true},
			{Name: "price, \"odd\" col", Type: "decimal(65,30)", Kind: engine.KindText, Nullable: true},
		},
		n:   bigRows,
		row: bigRow,
	}
	return &fakeSource{tables: []*fakeTable{small, empty, big}}
}

func bigRow(i int) [][]byte {
	row := make([][]byte, 7)
	row[0] = []byte(strconv.Itoa(i + 1))
	switch {
	case i == 0:
		row[1] = []byte(strconv.FormatInt(math.MinInt64, 10))
	case i == 1:
		row[1] = []byte(strconv.FormatInt(math.MaxInt64, 10))
	case i%11 != 0:
		row[1] = []byte(strconv.Itoa(-i * 7))
	}
	switch {
	case i == 0:
		row[2] = []byte(strconv.FormatUint(math.MaxUint64, 10))
	case i%5 != 0:
		row[2] = []byte(strconv.FormatUint(uint64(i)*3+1<<63, 10))
	}
	switch i % 13 {
	case 0:
	case 1:
		row[3] = []byte("-0")
	case 2:
		row[3] = []byte("1.7976931348623157e308")
	case 3:
		row[3] = []byte("5e-324")
	default:
		row[3] = []byte(strconv.FormatFloat(float64(i)/7, 'g', -1, 64))
	}
	switch i % 7 {
	case 0:
	case 1:
		row[4] = []byte{}
	default:
		row[4] = []byte(fmt.Sprintf("héllo 😀 %d ✓", i))
	}
	switch i % 9 {
	case 0:
	case 1:
		row[5] = []byte{}
	default:
		row[5] = []byte{0, byte(i), 0, 0xff, byte(i >> 8)}
	}
	if i%17 != 0 {
		row[6] = []byte(fmt.Sprintf("%d.%030d", i, i))
	}
	return row
}
