package activities

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/testservices"
)

// Every awkward MariaDB type and edge value goes through the whole archive (Parquet + manifest
// in a real MinIO) and comes back identical: CHECKSUM TABLE of the restore equals the source.
func TestTypeTortureRoundTripsThroughTheArchive(t *testing.T) {
	root := testservices.MariaDB(t)
	s3 := testservices.MinIO(t)
	db := uniqueName("rt_torture_")
	ctx := t.Context()
	for _, q := range []string{
		"CREATE DATABASE " + db + " CHARACTER SET utf8mb4",
		"CREATE TABLE " + db + `.t (
		id INT NOT NULL PRIMARY KEY,
		u BIGINT UNSIGNED, i BIGINT, ti TINYINT, d65 DECIMAL(65,30), d12 DECIMAL(12,2), f FLOAT, dbl DOUBLE,
		b1 BIT(1), b64 BIT(64), d DATE, dt DATETIME(6), ts TIMESTAMP(6) NULL, tm TIME(6), y YEAR,
		l1 VARCHAR(20) CHARACTER SET latin1, u8 VARCHAR(40) CHARACTER SET utf8mb4, tx TEXT,
		bin BINARY(4), vb VARBINARY(10), bl BLOB, en ENUM('','a','b'), st SET('a','b','c'),
		js JSON, geo GEOMETRY, gv INT AS (id + 1) VIRTUAL, gs VARCHAR(50) AS (CONCAT(u8, '!')) STORED
	) CHARACTER SET utf8mb4`,
		"SET STATEMENT sql_mode = '' FOR INSERT INTO " + db + `.t (id,u,i,ti,d65,d12,f,dbl,b1,b64,d,dt,ts,tm,y,l1,u8,tx,bin,vb,bl,en,st,js,geo) VALUES
		(0, 18446744073709551615, -9223372036854775808, -128, '-99999999999999999999999999999999999.999999999999999999999999999999', -0.01, 3.14, -0.0,
		 b'1', b'1111111111111111111111111111111111111111111111111111111111111111', '0000-00-00', '0000-00-00 00:00:00.000000',
		 '2038-01-19 03:14:07.999999', '-838:59:59.000000', 0, 'café', 'emoji 😀 tab\there', 'line1\nline2\\back\r\0nul',
		 X'00000000', X'00', X'00FF005C0A09', '', 'a,c', '{"k": "ü", "n": [1, 2.5]}', ST_GeomFromText('LINESTRING(0 0, 1 1)')),
		(1, 0, 9223372036854775807, 127, '0.000000000000000000000000000001', 9999999999.99, 1e-30, 1.7976931348623157e308, b'0', b'0', '2024-02-29', '9999-12-31 23:59:59.999999',
		 NULL, '838:59:59.000000', 2155, '', '', '', X'FFFFFFFF', X'', X'', 'b', '', 'null', ST_GeomFromText('POINT(1 2)')),
		(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
	} {
		_, err := root.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() { _, _ = root.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+db) })

	cfg := localConfig(t, s3)
	ad, err := Connect(cfg, "local")
	require.NoError(t, err)
	store, err := OpenStore(ctx, cfg, "")
	require.NoError(t, err)
	require.NoError(t, store.EnsureBucket(ctx))

	src, err := ad.Source(ctx, db, engine.AccessSnapshot{Object: db})
	require.NoError(t, err)
	_, err = archive.Export(ctx, src, store, "torture/", db, archive.ExportOptions{})
	src.Close()
	require.NoError(t, err)
	v, err := archive.Verify(ctx, store, "torture/")
	require.NoError(t, err)
	require.True(t, v.OK, "%v", v.Problems)

	loader := ad.(engine.Loader)
	into := db + "_r"
	t.Cleanup(func() { _ = loader.DropTarget(context.Background(), into) })
	_, err = archive.Restore(ctx, store, "torture/", loader, into, archive.RestoreOptions{})
	require.NoError(t, err)
	want, err := loader.Checksums(ctx, db, []string{"t"})
	require.NoError(t, err)
	got, err := loader.Checksums(ctx, into, []string{"t"})
	require.NoError(t, err)
	require.Equal(t, want, got, "the restore of the archive differs from the source")
}
