package archive

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// tr is a row of exact source values; nil is NULL.
func tr(vals ...any) [][]byte {
	row := make([][]byte, len(vals))
	for i, v := range vals {
		switch v := v.(type) {
		case nil:
		case string:
			row[i] = []byte(v)
		case []byte:
			row[i] = v
			if v == nil {
				row[i] = nil
			}
		}
	}
	return row
}

func rowSum(t *testing.T, rows ...[][]byte) string {
	t.Helper()
	var s RowSum
	for _, r := range rows {
		require.NoError(t, s.AddRow(r))
	}
	return s.String()
}

func TestRowSumOrderIndependent(t *testing.T) {
	a := tr("-1", "18446744073709551615", "1.5", "héllo 😀", []byte{0, 1, 0})
	b := tr("2", "0", "-0", "", []byte{})
	c := tr(nil, nil, nil, nil, nil)
	abc := rowSum(t, a, b, c)
	require.Equal(t, abc, rowSum(t, c, a, b))
	require.Equal(t, abc, rowSum(t, b, c, a))
	require.True(t, strings.HasPrefix(abc, "rowsum-sha256:"))
	require.Len(t, abc, len("rowsum-sha256:")+64)

	// Chunks combine: sum(a) + sum(b, c) == sum(a, b, c).
	var s1, s2 RowSum
	require.NoError(t, s1.AddRow(a))
	require.NoError(t, s2.AddRow(b))
	require.NoError(t, s2.AddRow(c))
	s1.Add(&s2)
	require.Equal(t, abc, s1.String())

	// The manifest form reads back.
	back, err := ParseRowSum(abc)
	require.NoError(t, err)
	require.Equal(t, abc, back.String())
	for _, bad := range []string{"", "rowsum-sha256:", "rowsum-md5:" + strings.Repeat("0", 64), "rowsum-sha256:" + strings.Repeat("g", 64)} {
		_, err := ParseRowSum(bad)
		require.Error(t, err, bad)
	}

	var empty RowSum
	require.Equal(t, "rowsum-sha256:"+strings.Repeat("0", 64), empty.String())
}

func TestRowSumDistinguishes(t *testing.T) {
	base := rowSum(t, tr("7", "7", "7", "seven", "7"))
	for name, row := range map[string][][]byte{
		"NULL text vs empty text":  tr("7", "7", "7", nil, "7"),
		"changed int":              tr("8", "7", "7", "seven", "7"),
		"changed text":             tr("7", "7", "7", "Seven", "7"),
		"changed bytes":            tr("7", "7", "7", "seven", "7\x00"),
		"value moved across field": tr("7", "7", "7", "seven7", ""),
		"columns swapped":          tr("7", "7", "seven", "7", "7"),
	} {
		require.NotEqual(t, base, rowSum(t, row), name)
	}
	require.NotEqual(t, rowSum(t, tr("x", "")), rowSum(t, tr("x", nil)), "NULL and empty must differ")
	require.NotEqual(t, rowSum(t, tr("0")), rowSum(t, tr("-0")), "0 and -0 must differ")

	// A row counted twice is not the same as once (sums, not XOR).
	one := rowSum(t, tr(nil, nil))
	require.NotEqual(t, one, rowSum(t, tr(nil, nil), tr(nil, nil)))
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

	require.Equal(t, "data/t/part-00000.parquet", partKey("t", 0, 0))
	require.Equal(t, "data/t/part-00012.parquet", partKey("t", 12, 0))
	require.Equal(t, "data/t/part-00012-001.parquet", partKey("t", 12, 1))
}
