package mysql

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

func TestSourceScanIsExact(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := createDB(t, root, "scan")
	mustExec(t, root, "CREATE TABLE "+db+`.vals (
		id INT NOT NULL PRIMARY KEY,
		maybe VARCHAR(10) NULL,
		big BIGINT UNSIGNED,
		small SMALLINT UNSIGNED,
		neg BIGINT,
		dec65 DECIMAL(65,30),
		blb BLOB,
		txt VARCHAR(40) CHARACTER SET utf8mb4,
		empty VARCHAR(5),
		flags BIT(8),
		dbl DOUBLE,
		dt DATETIME(6),
		yr YEAR,
		en ENUM('a','b'),
		st SET('x','y'),
		js JSON,
		geo GEOMETRY,
		vb VARBINARY(8),
		gen INT AS (id * 2) VIRTUAL
	)`)
	mustExec(t, root, "INSERT INTO "+db+`.vals (id, maybe, big, small, neg, dec65, blb, txt, empty, flags, dbl, dt, yr, en, st, js, geo, vb) VALUES
		(1, NULL, 18446744073709551615, 65535, -9223372036854775808,
		 '12345678901234567890123456789012345.123456789012345678901234567890',
		 X'00FF000102', 'héllo 😀 世界', '', b'10100101', 1.5, '2024-02-29 23:59:59.123456', 2024, 'b', 'x,y',
		 '{"k": [1, 2]}', ST_GeomFromText('POINT(1 2)'), X'0000'),
		(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)

	src, err := a.Source(ctx, db, engine.AccessSnapshot{})
	require.NoError(t, err)
	defer src.Close()
	info := src.Info()
	require.Equal(t, "mariadb", info.Engine)
	require.NotEmpty(t, info.Version)
	require.Equal(t, "utf8mb4", info.Charset)
	require.Equal(t, []string{"vals"}, src.Tables())

	ddl, err := src.TableDDL(ctx, "vals")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(ddl, "CREATE TABLE `vals`"), ddl)

	rows, err := src.Scan(ctx, "vals")
	require.NoError(t, err)
	cols := rows.Columns()
	kinds := map[string]engine.Kind{}
	for _, c := range cols {
		kinds[c.Name] = c.Kind
	}
	require.Equal(t, map[string]engine.Kind{
		"id": engine.KindInt64, "maybe": engine.KindText, "big": engine.KindUint64, "small": engine.KindInt64,
		"neg": engine.KindInt64, "dec65": engine.KindText, "blb": engine.KindBytes, "txt": engine.KindText,
		"empty": engine.KindText, "flags": engine.KindBytes, "dbl": engine.KindFloat64, "dt": engine.KindText,
		"yr": engine.KindText, "en": engine.KindText, "st": engine.KindText, "js": engine.KindText,
		"geo": engine.KindBytes, "vb": engine.KindBytes, "gen": engine.KindInt64,
	}, kinds)
	require.Equal(t, "decimal(65,30)", cols[5].Type)
	require.True(t, cols[18].Generated, "generated columns are flagged")
	require.False(t, cols[0].Generated)
	require.Equal(t, "+00:00", info.TimeZone, "TIMESTAMP values are read in UTC")
	require.Equal(t, "bigint(20) unsigned", cols[2].Type)
	require.False(t, cols[0].Nullable)
	require.True(t, cols[1].Nullable)

	var got [][][]byte
	dst := make([][]byte, len(cols))
	for rows.Next(dst) {
		row := make([][]byte, len(dst))
		for i, v := range dst {
			if v != nil {
				row[i] = bytes.Clone(v)
				if row[i] == nil {
					row[i] = []byte{}
				}
			}
		}
		got = append(got, row)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Len(t, got, 2)

	r := got[0]
	require.Equal(t, "1", string(r[0]))
	require.Nil(t, r[1], "NULL")
	require.Equal(t, "18446744073709551615", string(r[2]))
	require.Equal(t, "65535", string(r[3]))
	require.Equal(t, "-9223372036854775808", string(r[4]))
	require.Equal(t, "12345678901234567890123456789012345.123456789012345678901234567890", string(r[5]))
	require.Equal(t, []byte{0x00, 0xFF, 0x00, 0x01, 0x02}, r[6])
	require.Equal(t, "héllo 😀 世界", string(r[7]))
	require.NotNil(t, r[8], "an empty string is not NULL")
	require.Empty(t, r[8])
	require.Equal(t, []byte{0xA5}, r[9])
	require.Equal(t, "1.5", string(r[10]))
	require.Equal(t, "2024-02-29 23:59:59.123456", string(r[11]))
	require.Equal(t, "2024", string(r[12]))
	require.Equal(t, "b", string(r[13]))
	require.Equal(t, "x,y", string(r[14]))
	require.Equal(t, `{"k": [1, 2]}`, string(r[15]))
	require.Len(t, r[16], 25, "geometry: 4-byte SRID + WKB point")
	require.Equal(t, []byte{0, 0}, r[17])
	require.Equal(t, "2", string(r[18]), "generated columns are read")
	require.Equal(t, "2", string(got[1][0]))
	for i := 1; i < len(got[1])-1; i++ {
		require.Nil(t, got[1][i], "column %s", cols[i].Name)
	}

	_, err = src.Scan(ctx, "nope")
	require.ErrorIs(t, err, engine.ErrRefused)
	_, err = src.TableDDL(ctx, "vals`; DROP DATABASE x; --")
	require.ErrorIs(t, err, engine.ErrRefused)
}

func TestSourceScanStopsEarly(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := loadSakila(t, root)
	src, err := a.Source(ctx, db, engine.AccessSnapshot{Object: db, Strategy: engine.StrategyRevoke})
	require.NoError(t, err)
	defer src.Close()

	rows, err := src.Scan(ctx, "rental")
	require.NoError(t, err)
	dst := make([][]byte, len(rows.Columns()))
	require.True(t, rows.Next(dst))
	require.NoError(t, rows.Close(), "closing before the end is fine")

	rows, err = src.Scan(ctx, "payment")
	require.NoError(t, err)
	n := 0
	for rows.Next(dst) {
		n++
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, int(sakilaRows["payment"]), n)
}

func TestSourceObjectDDLReplays(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := loadSakila(t, root)
	reader := createUser(t, root, "reader", "pw-reader-1")
	mustExec(t, root, fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", db, reader))

	src, err := a.Source(ctx, db, engine.AccessSnapshot{})
	require.NoError(t, err)
	defer src.Close()
	require.Len(t, src.Tables(), 16)
	ddl, err := src.ObjectDDL(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"views.sql", "routines.sql", "triggers.sql", "events.sql", "grants.sql"}, keys(ddl))

	require.Len(t, regexp.MustCompile(`(?m)^CREATE .*VIEW `).FindAllString(ddl["views.sql"], -1), 7)
	require.Len(t, regexp.MustCompile(`(?m)^CREATE .*PROCEDURE `).FindAllString(ddl["routines.sql"], -1), 3)
	require.Len(t, regexp.MustCompile(`(?m)^CREATE .*FUNCTION `).FindAllString(ddl["routines.sql"], -1), 3)
	require.Len(t, regexp.MustCompile(`(?m)^CREATE .*TRIGGER `).FindAllString(ddl["triggers.sql"], -1), 6)
	require.Contains(t, ddl["routines.sql"], "DELIMITER ;;")
	require.NotContains(t, ddl["events.sql"], "CREATE")
	require.Contains(t, ddl["grants.sql"], fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%';", db, reader))
	require.NotContains(t, strings.ToUpper(ddl["grants.sql"]), "IDENTIFIED")

	// Replay views, routines and triggers into a copy of the tables: the client must accept
	// the files as written, and everything must come back.
	cp := createDB(t, root, "replay")
	var script strings.Builder
	for _, tb := range src.Tables() {
		fmt.Fprintf(&script, "CREATE TABLE %s.%s LIKE %s.%s;\n", cp, tb, db, tb)
	}
	script.WriteString("USE " + cp + ";\n")
	script.WriteString(ddl["routines.sql"] + ddl["triggers.sql"] + ddl["views.sql"] + ddl["events.sql"])
	runClient(t, script.String())
	require.Equal(t, int64(6), count(t, root, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?", cp))
	require.Equal(t, int64(6), count(t, root, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", cp))
	require.Equal(t, int64(7), count(t, root, "SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?", cp))
	// The replayed views read the copy, not the original.
	require.Equal(t, int64(0), count(t, root, "SELECT COUNT(*) FROM "+cp+".actor_info"))
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Chunks split a table on its key so that the chunks' rows are every row exactly once:
// a sparse signed integer key, a composite string key, and tables that stay whole.
func TestSourceChunksCoverEveryRow(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := createDB(t, root, "chunks")
	mustExec(t, root,
		"CREATE TABLE "+db+".ints (id BIGINT NOT NULL PRIMARY KEY, v INT)",
		"CREATE TABLE "+db+".strs (a VARCHAR(8) NOT NULL, b INT NOT NULL, f FLOAT, y YEAR, PRIMARY KEY (a, b))",
		"CREATE TABLE "+db+".nokey (v INT)",
		"CREATE TABLE "+db+".datekey (d DATE NOT NULL PRIMARY KEY)",
	)
	var ints, strs []string
	for i := 0; i < 2000; i++ {
		ints = append(ints, fmt.Sprintf("(%d, %d)", (i-1000)*7919*1000003, i))
		strs = append(strs, fmt.Sprintf("('%s', %d, %d.125, %d)", []string{"", "a", "B", "é", "zz"}[i%5], i, i, []int{0, 1901, 2155}[i%3]))
	}
	mustExec(t, root,
		"INSERT INTO "+db+".ints VALUES "+strings.Join(ints, ", "),
		"INSERT INTO "+db+".strs VALUES "+strings.Join(strs, ", "),
		"INSERT INTO "+db+".nokey VALUES (1), (1), (NULL)",
		"INSERT INTO "+db+".datekey VALUES ('2020-01-01'), ('2021-01-01')",
		"ANALYZE TABLE "+db+".ints, "+db+".strs, "+db+".nokey, "+db+".datekey",
	)
	src, err := a.Source(ctx, db, engine.AccessSnapshot{})
	require.NoError(t, err)
	defer src.Close()
	ch := src.(engine.Chunker)

	for table, want := range map[string]int{"ints": 2000, "strs": 2000} {
		chunks, err := ch.Chunks(ctx, table, 150)
		require.NoError(t, err)
		require.Greater(t, len(chunks), 5, table)
		seen := map[string]bool{}
		n := 0
		for _, c := range chunks {
			rows, err := ch.ScanChunk(ctx, table, c)
			require.NoError(t, err)
			dst := make([][]byte, len(rows.Columns()))
			for rows.Next(dst) {
				key := string(dst[0]) + "/" + string(dst[1])
				require.False(t, seen[key], "%s: row %s in two chunks", table, key)
				seen[key] = true
				n++
			}
			require.NoError(t, rows.Err())
			require.NoError(t, rows.Close())
		}
		require.Equal(t, want, n, table)
	}
	for _, table := range []string{"nokey", "datekey"} {
		chunks, err := ch.Chunks(ctx, table, 1)
		require.NoError(t, err)
		require.Equal(t, []engine.Chunk{{Index: 0}}, chunks, table)
	}

	// FLOAT is read exactly (the server would print 6 digits), YEAR as 4 digits.
	rows, err := src.Scan(ctx, "strs")
	require.NoError(t, err)
	defer rows.Close()
	require.Equal(t, engine.KindFloat32, rows.Columns()[2].Kind)
	dst := make([][]byte, 4)
	years := map[string]bool{}
	for rows.Next(dst) {
		b, _ := strconv.Atoi(string(dst[1]))
		require.Equal(t, strconv.FormatFloat(float64(float32(float64(b)+0.125)), 'g', -1, 32), string(dst[2]))
		years[string(dst[3])] = true
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]bool{"0000": true, "1901": true, "2155": true}, years)
}
