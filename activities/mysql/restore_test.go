package mysql

import (
	"bytes"
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// Rows scanned from a source and loaded into a copy with the same DDL make an identical
// table (CHECKSUM TABLE), for every awkward type: restore is exact without the archive too.
func TestLoadTableRoundTripsEveryType(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	src := createDB(t, root, "ldsrc")
	mustExec(t, root, "CREATE TABLE "+src+`.t (
		id INT NOT NULL PRIMARY KEY,
		u BIGINT UNSIGNED, i TINYINT, d65 DECIMAL(65,30), f FLOAT, dbl DOUBLE,
		b1 BIT(1), b64 BIT(64), d DATE, dt DATETIME(6), ts TIMESTAMP(6) NULL, tm TIME(6), y YEAR,
		l1 VARCHAR(20) CHARACTER SET latin1, u8 VARCHAR(40) CHARACTER SET utf8mb4, tx TEXT,
		bin BINARY(4), vb VARBINARY(10), bl BLOB, en ENUM('','a','b'), st SET('a','b','c'),
		js JSON, geo GEOMETRY, gv INT AS (id + 1) VIRTUAL, gs VARCHAR(50) AS (CONCAT(u8, '!')) STORED
	) CHARACTER SET utf8mb4`,
		// Zero dates need a permissive sql_mode (MariaDB's SET STATEMENT keeps it to this one).
		"SET STATEMENT sql_mode = '' FOR INSERT INTO "+src+`.t (id,u,i,d65,f,dbl,b1,b64,d,dt,ts,tm,y,l1,u8,tx,bin,vb,bl,en,st,js,geo) VALUES
		(0, 18446744073709551615, -128, '-99999999999999999999999999999999999.999999999999999999999999999999', 3.14, -0.0,
		 b'1', b'1111111111111111111111111111111111111111111111111111111111111111', '0000-00-00', '0000-00-00 00:00:00.000000',
		 '2038-01-19 03:14:07.999999', '-838:59:59.000000', 0, 'café', 'emoji 😀 tab\there', 'line1\nline2\\back\r\0nul',
		 X'00000000', X'00', X'00FF005C0A09', '', 'a,c', '{"k": "ü", "n": [1, 2.5]}', ST_GeomFromText('LINESTRING(0 0, 1 1)')),
		(1, 0, 127, '0.000000000000000000000000000001', 1e-30, 1.7976931348623157e308, b'0', b'0', '2024-02-29', '9999-12-31 23:59:59.999999',
		 NULL, '838:59:59.000000', 2155, '', '', '', X'FFFFFFFF', X'', X'', 'b', '', 'null', NULL),
		(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)

	source, err := a.Source(ctx, src, engine.AccessSnapshot{})
	require.NoError(t, err)
	defer source.Close()
	ddl, err := source.TableDDL(ctx, "t")
	require.NoError(t, err)

	dst := uniqueName("lddst")
	t.Cleanup(func() { dropQuietly(root, dst) })
	require.NoError(t, a.CreateTarget(ctx, dst, source.Info()))
	require.ErrorIs(t, a.CreateTarget(ctx, dst, source.Info()), engine.ErrRefused, "a restore never writes into an existing database")
	require.NoError(t, a.RunScript(ctx, dst, ddl))

	rows, err := source.Scan(ctx, "t")
	require.NoError(t, err)
	cols := rows.Columns()
	n, err := a.LoadTable(ctx, dst, "t", cols, func(yield func([][]byte) error) error {
		defer rows.Close()
		row := make([][]byte, len(cols))
		for rows.Next(row) {
			if err := yield(row); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	require.NoError(t, err)
	require.EqualValues(t, 3, n)

	want, err := a.Checksums(ctx, src, []string{"t"})
	require.NoError(t, err)
	got, err := a.Checksums(ctx, dst, []string{"t"})
	require.NoError(t, err)
	require.Equal(t, want, got, "restored table differs from the source in: %v", differingColumns(t, root, src, dst, "t", cols))
	require.NotEmpty(t, got["t"])
}

func TestLoadTableRefusesSilentTruncation(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := createDB(t, root, "ldtrunc")
	require.NoError(t, a.RunScript(ctx, db, "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(3))"))
	cols := []engine.Column{{Name: "id", Kind: engine.KindInt64}, {Name: "s", Kind: engine.KindText}}
	_, err := a.LoadTable(ctx, db, "t", cols, func(yield func([][]byte) error) error {
		return yield([][]byte{[]byte("1"), []byte("too long")})
	})
	require.Error(t, err, "a value that does not fit must fail the restore, not be cut")
}

func TestSplitScriptHonoursDelimiter(t *testing.T) {
	script := "-- header\nCREATE TABLE a (x INT);\nDELIMITER ;;\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END ;;\nDELIMITER ;\nCREATE VIEW v AS SELECT 1;\n"
	got := splitScript(script)
	require.Equal(t, []string{"CREATE TABLE a (x INT)", "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", "CREATE VIEW v AS SELECT 1"}, got)
}

func TestWriteTSVEscapes(t *testing.T) {
	var b bytes.Buffer
	cols := []engine.Column{{Kind: engine.KindText}, {Kind: engine.KindBytes}, {Kind: engine.KindText}}
	err := writeTSV(&b, cols, func(yield func([][]byte) error) error {
		return yield([][]byte{[]byte("a\tb\nc\\d\x00"), {0x00, 0xff}, nil})
	})
	require.NoError(t, err)
	require.Equal(t, `a\tb\nc\\d\0`+"\t00ff\t"+`\N`+"\n", b.String())
	require.False(t, strings.Contains(b.String(), "\x00"))
}

// differingColumns names the columns whose values differ, to make a checksum failure readable.
func differingColumns(t *testing.T, root *sql.DB, a, b, table string, cols []engine.Column) []string {
	var out []string
	for _, c := range cols {
		q := func(db string) string {
			var v sql.NullString
			require.NoError(t, root.QueryRow("SELECT GROUP_CONCAT(IFNULL(HEX("+quoteIdent(c.Name)+"), 'NULL') ORDER BY id) FROM "+db+"."+table).Scan(&v))
			return v.String
		}
		if x, y := q(a), q(b); x != y {
			out = append(out, c.Name+": "+x+" != "+y)
		}
	}
	return out
}
