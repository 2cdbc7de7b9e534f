package archive

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
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
	end     int // 0: the table's end
	scratch []byte
}

func (r *fakeRows) Columns() []engine.Column { return r.t.cols }

func (r *fakeRows) Next(dst [][]byte) bool {
	if r.i >= r.t.n || (r.end > 0 && r.i >= r.end) {
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
			{Name: "fee", Type: "decimal(12,2)", Kind: engine.KindDecimal, Precision: 12, Scale: 2, Nullable: true},
			{Name: "big_fee", Type: "decimal(30,4)", Kind: engine.KindDecimal, Precision: 30, Scale: 4, Nullable: true},
			{Name: "ratio", Type: "float", Kind: engine.KindFloat32, Nullable: true},
			{Name: "tiny", Type: "decimal(3,1)", Kind: engine.KindDecimal, Precision: 3, Scale: 1, Nullable: true},
		},
		n:   bigRows,
		row: bigRow,
	}
	return &fakeSource{tables: []*fakeTable{small, empty, big}}
}

func bigRow(i int) [][]byte {
	row := make([][]byte, 11)
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
		row[3] = []byte("1.7976931348623157e+308")
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
	switch {
	case i == 0:
		row[7] = []byte("9999999999.99")
	case i == 1:
		row[7] = []byte("-9999999999.99")
	case i%19 != 0:
		row[7] = []byte(decimalText(int64(i*37)-1_000_000, 2))
	}
	switch {
	case i == 0:
		row[8] = []byte("99999999999999999999999999.9999")
	case i == 1:
		row[8] = []byte("-99999999999999999999999999.9999")
	case i%23 != 0:
		row[8] = []byte(decimalText(int64(i)*1_000_003-7_000_000_000, 4))
	}
	if i%29 != 0 {
		row[9] = []byte(strconv.FormatFloat(float64(float32(i)/3), 'g', -1, 32))
	}
	if i%31 != 0 {
		row[10] = []byte(decimalText(int64(i%1999)-999, 1))
	}
	return row
}

// decimalText prints n/10^scale as MySQL prints a DECIMAL of that scale.
func decimalText(n int64, scale int) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	for len(s) <= scale {
		s = "0" + s
	}
	if scale > 0 {
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// chunkedSource is a fakeSource that also splits tables (engine.Chunker): a chunk is a
// range of row numbers, so tests see exactly which rows each chunk holds.
type chunkedSource struct {
	*fakeSource
	mu        sync.Mutex
	chunkScan map[string]int // "table#index" -> scans
	// failScan, when set, can make ScanChunk fail for a chunk.
	failScan func(table string, c engine.Chunk) error
}

var _ engine.Chunker = (*chunkedSource)(nil)

func (s *chunkedSource) Chunks(ctx context.Context, name string, target int64) ([]engine.Chunk, error) {
	t, err := s.table(name)
	if err != nil {
		return nil, err
	}
	if int64(t.n) <= target {
		return []engine.Chunk{{Index: 0}}, nil
	}
	var out []engine.Chunk
	for lo := 0; lo < t.n; lo += int(target) {
		c := engine.Chunk{Index: len(out), Key: []string{"#row"}}
		if lo > 0 {
			c.Lower = []string{strconv.Itoa(lo)}
		}
		if hi := lo + int(target); hi < t.n {
			c.Upper = []string{strconv.Itoa(hi)}
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *chunkedSource) ScanChunk(ctx context.Context, name string, c engine.Chunk) (engine.Rows, error) {
	t, err := s.table(name)
	if err != nil {
		return nil, err
	}
	if s.failScan != nil {
		if err := s.failScan(name, c); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	if s.chunkScan == nil {
		s.chunkScan = map[string]int{}
	}
	s.chunkScan[fmt.Sprintf("%s#%d", name, c.Index)]++
	s.mu.Unlock()
	lo, hi := 0, t.n
	if c.Lower != nil {
		lo, _ = strconv.Atoi(c.Lower[0])
	}
	if c.Upper != nil {
		hi, _ = strconv.Atoi(c.Upper[0])
	}
	return &fakeRows{t: t, i: lo, end: hi}, nil
}

func (s *chunkedSource) scannedChunks(name string) map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int{}
	for k, v := range s.chunkScan {
		var i int
		if table, idx, ok := strings.Cut(k, "#"); ok && table == name {
			i, _ = strconv.Atoi(idx)
			out[i] = v
		}
	}
	return out
}
