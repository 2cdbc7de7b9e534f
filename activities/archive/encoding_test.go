package archive

import (
	"math"
	"math/big"
	"strconv"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// roundTrip encodes a value with the codec of an encoding and renders it back.
func roundTrip(t *testing.T, encoding, text string) (string, error) {
	t.Helper()
	c, err := codecFor(encoding)
	require.NoError(t, err)
	v, _, err := c.encode([]byte(text), nil)
	if err != nil {
		return "", err
	}
	out, typed := c.render(nil, v.Level(0, 1, 0))
	require.True(t, typed)
	return string(out), nil
}

func TestCodecsAreExact(t *testing.T) {
	for enc, values := range map[string][]string{
		"int64":          {"0", "1", "-1", "9223372036854775807", "-9223372036854775808", "42"},
		"uint64":         {"0", "18446744073709551615", "9223372036854775808"},
		"double":         {"0", "-0", "1.5", "1e-30", "1.7976931348623157e+308", "5e-324", "0.30000000000000004", "1e+15", "NaN", "+Inf", "-Inf"},
		"float":          {"0", "-0", "1.2345678", "3.4028235e+38", "1e-45", "1.6777216e+07", "3.14", "100000"},
		"decimal(5,2)":   {"0.00", "-0.01", "999.99", "-999.99", "12.50", "1.00"},
		"decimal(9,0)":   {"0", "999999999", "-999999999", "12"},
		"decimal(12,2)":  {"0.00", "9999999999.99", "-9999999999.99", "-0.01", "123.45"},
		"decimal(18,18)": {"0.000000000000000000", "0.999999999999999999", "-0.000000000000000001"},
		"decimal(19,4)":  {"0.0000", "999999999999999.9999", "-999999999999999.9999", "-0.0001"},
		"decimal(38,0)":  {"99999999999999999999999999999999999999", "-99999999999999999999999999999999999999", "0", "-1", "18446744073709551616"},
		"decimal(38,30)": {"12345678.123456789012345678901234567890", "-0.000000000000000000000000000001", "0.000000000000000000000000000000"},
		"decimal(20,10)": {"-9999999999.9999999999", "1.0000000000", "-1.0000000000"},
	} {
		for _, v := range values {
			got, err := roundTrip(t, enc, v)
			require.NoError(t, err, "%s %q", enc, v)
			require.Equal(t, v, got, enc)
		}
	}

	// Values whose text the typed value could not rebuild are refused, not stored rounded.
	for enc, values := range map[string][]string{
		"int64":         {"", "+1", "01", "-0", "1.0", " 1", "9223372036854775808", "-9223372036854775809", "1e3"},
		"uint64":        {"-1", "18446744073709551616", "00"},
		"double":        {"1.50", "1E+15", "0.1000", "1e15", "abc"},
		"float":         {"1.23456789", "3.140000104904175", "16777216"},
		"decimal(5,2)":  {"1.5", "1.500", "01.50", "-0.00", "1000.00", "1", ".50", "1,50", "+1.00"},
		"decimal(12,0)": {"1.", "1.0", "-0"},
	} {
		for _, v := range values {
			_, err := roundTrip(t, enc, v)
			require.Error(t, err, "%s %q", enc, v)
		}
	}
}

// Every 38-digit decimal survives FIXED_LEN_BYTE_ARRAY: random magnitudes and signs,
// against math/big.
func TestDecimalFixedAgainstBig(t *testing.T) {
	c, err := codecFor("decimal(38,5)")
	require.NoError(t, err)
	require.Equal(t, 16, c.size)
	ten := new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil)
	x := big.NewInt(1)
	for i := 0; i < 2000; i++ {
		x.Mul(x, big.NewInt(6364136223846793005))
		x.Add(x, big.NewInt(1442695040888963407))
		x.Mod(x, ten)
		n := new(big.Int).Rsh(x, uint(i%120))
		if i%2 == 1 {
			n.Neg(n)
		}
		text := new(big.Rat).SetFrac(n, big.NewInt(100000)).FloatString(5)
		got, err := roundTrip(t, "decimal(38,5)", text)
		require.NoError(t, err, text)
		require.Equal(t, text, got)
		// The stored bytes are the big-endian two's complement of the unscaled value.
		v, _, err := c.encode([]byte(text), nil)
		require.NoError(t, err)
		want := new(big.Int).Set(n)
		if want.Sign() < 0 {
			want.Add(want, new(big.Int).Lsh(big.NewInt(1), 128))
		}
		b := want.FillBytes(make([]byte, 16))
		require.Equal(t, b, v.ByteArray(), text)
	}
}

func TestDecimalWidths(t *testing.T) {
	want := map[int]int{1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 9: 4, 10: 5, 18: 8, 19: 9, 20: 9, 28: 12, 29: 13, 38: 16}
	for p, n := range want {
		require.Equal(t, n, decimalBytes(p), "precision %d", p)
	}
}

func TestEncodingOf(t *testing.T) {
	for _, tc := range []struct {
		col  engine.Column
		want string
		node string
	}{
		{engine.Column{Kind: engine.KindInt64}, "int64", "INT(64,true)"},
		{engine.Column{Kind: engine.KindUint64}, "uint64", "INT(64,false)"},
		{engine.Column{Kind: engine.KindFloat32}, "float", ""},
		{engine.Column{Kind: engine.KindFloat64}, "double", ""},
		{engine.Column{Kind: engine.KindDecimal, Precision: 5, Scale: 2}, "decimal(5,2)", "DECIMAL(5,2)"},
		{engine.Column{Kind: engine.KindDecimal, Precision: 12, Scale: 2}, "decimal(12,2)", "DECIMAL(12,2)"},
		{engine.Column{Kind: engine.KindDecimal, Precision: 38, Scale: 10}, "decimal(38,10)", "DECIMAL(38,10)"},
		{engine.Column{Kind: engine.KindDecimal, Precision: 65, Scale: 30}, "text", "STRING"},
		{engine.Column{Kind: engine.KindText}, "text", "STRING"},
		{engine.Column{Kind: engine.KindBytes}, "bytes", ""},
	} {
		enc, err := encodingOf(tc.col)
		require.NoError(t, err)
		require.Equal(t, tc.want, enc)
		c, err := codecFor(enc)
		require.NoError(t, err)
		lt := c.node().Type().LogicalType()
		if tc.node == "" {
			require.Nil(t, lt, enc)
		} else {
			require.Equal(t, tc.node, lt.String(), enc)
		}
	}
	for _, bad := range []engine.Column{{Kind: "money"}, {Kind: engine.KindDecimal}, {Kind: engine.KindDecimal, Precision: 5, Scale: 6}} {
		_, err := encodingOf(bad)
		require.Error(t, err)
	}
	for _, bad := range []string{"decimal(0,0)", "decimal(39,0)", "decimal(5,6)", "decimal(5,2)x", "decimal( 5,2)", "int32"} {
		_, err := codecFor(bad)
		require.Error(t, err, bad)
	}
	// Kinds of the physical values.
	c, _ := codecFor("decimal(9,2)")
	require.Equal(t, parquet.Int32, c.node().Type().Kind())
	c, _ = codecFor("decimal(10,2)")
	require.Equal(t, parquet.Int64, c.node().Type().Kind())
	c, _ = codecFor("decimal(19,2)")
	require.Equal(t, parquet.FixedLenByteArray, c.node().Type().Kind())
	_ = math.MaxInt64
	_ = strconv.Itoa
}
