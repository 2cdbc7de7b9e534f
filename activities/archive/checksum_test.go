package archive

import (
	"math"
	"strings"
	"testing"

	"github.com/dataretire/retire/activities/engine"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"
)

var sumKinds = []engine.Kind{engine.KindInt64, engine.KindUint64, engine.KindFloat64, engine.KindText, engine.KindBytes}

// sumRow builds a Parquet row the way the writer does; nil is NULL.
func sumRow(vals ...any) parquet.Row {
	row := make(parquet.Row, len(vals))
	for i, v := range vals {
		var pv parquet.Value
		switch v := v.(type) {
		case nil:
			row[i] = parquet.NullValue().Level(0, 0, i)
			continue
		case int64:
			pv = parquet.Int64Value(v)
		case uint64:
			pv = parquet.Int64Value(int64(v))
		case float64:
			pv = parquet.DoubleValue(v)
		case string:
			pv = parquet.ByteArrayValue([]byte(v))
		case []byte:
			pv = parquet.ByteArrayValue(v)
		}
		row[i] = pv.Level(0, 1, i)
	}
	return row
}

func rowSum(t *testing.T, rows ...parquet.Row) string {
	t.Helper()
	var s RowSum
	for _, r := range rows {
		require.NoError(t, s.AddRow(sumKinds, r))
	}
	return s.String()
}

func TestRowSumOrderIndependent(t *testing.T) {
	a := sumRow(int64(-1), uint64(math.MaxUint64), 1.5, "héllo 😀", []byte{0, 1, 0})
	b := sumRow(int64(2), uint64(0), -0.0, "", []byte{})
	c := sumRow(nil, nil, nil, nil, nil)
	abc := rowSum(t, a, b, c)
	require.Equal(t, abc, rowSum(t, c, a, b))
	require.Equal(t, abc, rowSum(t, b, c, a))
	require.True(t, strings.HasPrefix(abc, "rowsum-sha256:"))
	require.Len(t, abc, len("rowsum-sha256:")+64)

	// Chunks combine: sum(a) + sum(b, c) == sum(a, b, c).
	var s1, s2 RowSum
	require.NoError(t, s1.AddRow(sumKinds, a))
	require.NoError(t, s2.AddRow(sumKinds, b))
	require.NoError(t, s2.AddRow(sumKinds, c))
	s1.Add(&s2)
	require.Equal(t, abc, s1.String())

	var empty RowSum
	require.Equal(t, "rowsum-sha256:"+strings.Repeat("0", 64), empty.String())
}

func TestRowSumDistinguishes(t *testing.T) {
	base := rowSum(t, sumRow(int64(7), uint64(7), 7.0, "seven", []byte("7")))
	for name, row := range map[string]parquet.Row{
		"NULL text vs empty text":  sumRow(int64(7), uint64(7), 7.0, nil, []byte("7")),
		"changed int":              sumRow(int64(8), uint64(7), 7.0, "seven", []byte("7")),
		"changed uint":             sumRow(int64(7), uint64(6), 7.0, "seven", []byte("7")),
		"changed float":            sumRow(int64(7), uint64(7), math.Nextafter(7, 8), "seven", []byte("7")),
		"changed text":             sumRow(int64(7), uint64(7), 7.0, "Seven", []byte("7")),
		"changed bytes":            sumRow(int64(7), uint64(7), 7.0, "seven", []byte("7\x00")),
		"value moved across field": sumRow(int64(7), uint64(7), 7.0, "seven7", []byte("")),
	} {
		require.NotEqual(t, base, rowSum(t, row), name)
	}

	require.NotEqual(t,
		rowSum(t, sumRow(int64(1), uint64(1), 1.0, "", []byte{})),
		rowSum(t, sumRow(int64(1), uint64(1), 1.0, nil, []byte{})),
		"NULL and empty string must differ")
	require.NotEqual(t,
		rowSum(t, sumRow(int64(1), uint64(1), 1.0, "x", []byte{})),
		rowSum(t, sumRow(int64(1), uint64(1), 1.0, "x", nil)),
		"NULL and empty bytes must differ")
	require.NotEqual(t,
		rowSum(t, sumRow(int64(0), uint64(0), 0.0, "x", nil)),
		rowSum(t, sumRow(int64(0), uint64(0), math.Copysign(0, -1), "x", nil)),
		"0 and -0 must differ")

	// A row counted twice is not the same as once (sums, not XOR).
	one := rowSum(t, sumRow(nil, nil, nil, nil, nil))
	require.NotEqual(t, one, rowSum(t, sumRow(nil, nil, nil, nil, nil), sumRow(nil, nil, nil, nil, nil)))
}

func TestRowSumRejectsMalformedRows(t *testing.T) {
	var s RowSum
	require.Error(t, s.AddRow(sumKinds, sumRow(int64(1))))
	require.Error(t, s.AddRow([]engine.Kind{"decimal"}, sumRow(int64(1))))
}

func TestKeyName(t *testing.T) {
	require.Equal(t, "film_text-2$", keyName("film_text-2$"))
	require.Equal(t, "a@2fb@20c", keyName("a/b c"))
	require.Equal(t, "@2e@2e", keyName(".."))
	require.Equal(t, "@40", keyName("@"))
	require.Equal(t, "caf@c3@a9", keyName("café"))

	require.Equal(t, "schema/film.sql", tableDDLKey("film"))
	require.Equal(t, "schema/@76iews.sql", tableDDLKey("views"), "a table must not overwrite views.sql")
	require.Equal(t, "schema/@67rants.sql", tableDDLKey("grants"))
	require.Equal(t, "schema/views2.sql", tableDDLKey("views2"))
}
