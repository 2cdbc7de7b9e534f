package archive

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/activities/mysql"
	"github.com/dataretire/retire/testservices"
)

// benchDB holds sysbench-like tables that the benchmarks keep between runs (generating a
// million rows takes a while); RETIRE_BENCH_DB names another database.
func benchDB() string {
	if db := os.Getenv("RETIRE_BENCH_DB"); db != "" {
		return db
	}
	return "rt_archive_bench"
}

// sysbenchTable makes db.name a sysbench oltp table of n rows (id INT PK, k INT,
// c CHAR(120), pad CHAR(60)) unless it already has exactly n rows. Rows come from
// INSERT ... SELECT over a cross join of digits, the values from RAND() as sysbench makes
// them: groups of 11 digits joined by "-".
func sysbenchTable(t testing.TB, db, name string, n int) {
	t.Helper()
	root := testservices.MariaDB(t)
	ctx := context.Background()
	var have int64
	if root.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+db+"."+name).Scan(&have) == nil && have == int64(n) {
		return
	}
	groups := func(k int) string {
		parts := make([]string, k)
		for i := range parts {
			parts[i] = "LPAD(FLOOR(RAND() * 99999999999), 11, '0')"
		}
		return "CONCAT_WS('-', " + strings.Join(parts, ", ") + ")"
	}
	digits := "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
	from := make([]string, 0, 7)
	expr := make([]string, 0, 7)
	for i, m := 0, 1; m < n; i, m = i+1, m*10 {
		from = append(from, digits+" d"+strconv.Itoa(i))
		expr = append(expr, fmt.Sprintf("d%d.d * %d", i, m))
	}
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS " + db,
		"DROP TABLE IF EXISTS " + db + "." + name,
		"CREATE TABLE " + db + "." + name + " (id INT NOT NULL, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', " +
			"pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k_1 (k)) ENGINE=InnoDB",
		"INSERT INTO " + db + "." + name + " (id, k, c, pad) SELECT id, FLOOR(RAND() * " + strconv.Itoa(n) + "), " + groups(10) + ", " + groups(5) +
			" FROM (SELECT 1 + " + strings.Join(expr, " + ") + " AS id FROM " + strings.Join(from, " CROSS JOIN ") + ") ids WHERE id <= " + strconv.Itoa(n),
	} {
		_, err := root.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
}

func mysqlAdapter(t testing.TB) *mysql.Adapter {
	t.Helper()
	testservices.MariaDB(t)
	a, err := mysql.New(mysql.Config{Host: "127.0.0.1", Port: 3306, User: "root", QueryTimeout: time.Minute})
	require.NoError(t, err)
	return a
}

func benchStore(t testing.TB) *Store {
	t.Helper()
	srv := testservices.MinIO(t)
	s, err := NewStore(context.Background(), StoreConfig{
		Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: "retire-bench",
	})
	require.NoError(t, err)
	require.NoError(t, s.EnsureBucket(context.Background()))
	return s
}

// peakRSS is the process's peak resident set since the last resetPeakRSS, in bytes.
func peakRSS(t testing.TB) int64 {
	data, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// resetPeakRSS starts a new peak (Linux: writing 5 to clear_refs resets VmHWM).
func resetPeakRSS() {
	runtime.GC()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// BenchmarkExportSysbench exports one sysbench table of RETIRE_BENCH_ROWS rows (default
// 1,000,000) from the local MariaDB to a local MinIO, and reports rows/s, MB/s of Parquet
// and the peak RSS of the exporting process. Profile it with
//
//	go test ./activities/archive/ -run '^$' -bench ExportSysbench -benchtime 1x -cpuprofile cpu.out
func BenchmarkExportSysbench(b *testing.B) {
	rows := 1_000_000
	if s := os.Getenv("RETIRE_BENCH_ROWS"); s != "" {
		var err error
		rows, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	db, table := benchDB(), fmt.Sprintf("sbtest_%d", rows)
	sysbenchTable(b, db, table, rows)
	a := mysqlAdapter(b)
	store := benchStore(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resetPeakRSS()
		src, err := a.Source(ctx, db, engine.AccessSnapshot{})
		require.NoError(b, err)
		start := time.Now()
		res, err := Export(ctx, &onlyTables{Source: src, tables: []string{table}}, store, fmt.Sprintf("bench/run-%d/", i), db, benchOptions())
		require.NoError(b, err)
		secs := time.Since(start).Seconds()
		src.Close()
		require.EqualValues(b, rows, res.Rows)
		b.ReportMetric(float64(res.Rows)/secs, "rows/s")
		b.ReportMetric(float64(res.Bytes)/secs/1e6, "MB/s")
		b.ReportMetric(float64(res.Bytes)/1e6, "MB")
		b.ReportMetric(float64(peakRSS(b))/(1<<20), "peakRSS-MiB")
	}
}

// onlyTables narrows a source to some of its tables.
type onlyTables struct {
	engine.Source
	tables []string
}

func (o *onlyTables) Tables() []string { return o.tables }

func (o *onlyTables) Chunks(ctx context.Context, table string, target int64) ([]engine.Chunk, error) {
	return o.Source.(engine.Chunker).Chunks(ctx, table, target)
}

func (o *onlyTables) ScanChunk(ctx context.Context, table string, c engine.Chunk) (engine.Rows, error) {
	return o.Source.(engine.Chunker).ScanChunk(ctx, table, c)
}

// benchOptions reads RETIRE_BENCH_PARALLEL and RETIRE_BENCH_CHUNK_ROWS (defaults: the
// export's).
func benchOptions() ExportOptions {
	var o ExportOptions
	if v, err := strconv.Atoi(os.Getenv("RETIRE_BENCH_PARALLEL")); err == nil {
		o.Parallel = v
	}
	if v, err := strconv.ParseInt(os.Getenv("RETIRE_BENCH_CHUNK_ROWS"), 10, 64); err == nil {
		o.ChunkRows = v
	}
	return o
}
