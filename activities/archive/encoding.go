package archive

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/parquet-go/parquet-go"

	"github.com/dataretire/retire/activities/engine"
)

// Encodings of the manifest (Column.Encoding). Decimals are "decimal(p,s)".
const (
	encInt64  = "int64"
	encUint64 = "uint64"
	encFloat  = "float"
	encDouble = "double"
	encText   = "text"
	encBytes  = "bytes"
)

// maxParquetDecimal is the largest precision stored as a Parquet DECIMAL; beyond it a
// decimal is exact text.
const maxParquetDecimal = 38

type codecKind uint8

const (
	cInt64 codecKind = iota
	cUint64
	cFloat
	cDouble
	cDecimal32 // DECIMAL on INT32
	cDecimal64 // DECIMAL on INT64
	cDecimalFixed
	cText
	cBytes
)

// codec turns a column's exact source values into Parquet values and back.
type codec struct {
	kind      codecKind
	precision int
	scale     int
	size      int // FIXED_LEN_BYTE_ARRAY length
}

// encodingOf chooses the Parquet encoding of a source column.
func encodingOf(c engine.Column) (string, error) {
	switch c.Kind {
	case engine.KindInt64:
		return encInt64, nil
	case engine.KindUint64:
		return encUint64, nil
	case engine.KindFloat32:
		return encFloat, nil
	case engine.KindFloat64:
		return encDouble, nil
	case engine.KindDecimal:
		if c.Precision < 1 || c.Scale < 0 || c.Scale > c.Precision {
			return "", fmt.Errorf("column %q: decimal precision %d and scale %d are not valid", c.Name, c.Precision, c.Scale)
		}
		if c.Precision > maxParquetDecimal {
			return encText, nil
		}
		return fmt.Sprintf("decimal(%d,%d)", c.Precision, c.Scale), nil
	case engine.KindText:
		return encText, nil
	case engine.KindBytes:
		return encBytes, nil
	}
	return "", fmt.Errorf("column %q: unknown kind %q", c.Name, c.Kind)
}

// manifestColumns adds the encoding to each source column.
func manifestColumns(cols []engine.Column) ([]Column, error) {
	out := make([]Column, len(cols))
	for i, c := range cols {
		enc, err := encodingOf(c)
		if err != nil {
			return nil, err
		}
		out[i] = Column{Column: c, Encoding: enc}
	}
	return out, nil
}

// codecFor reads an encoding name as the manifest has it.
func codecFor(encoding string) (codec, error) {
	switch encoding {
	case encInt64:
		return codec{kind: cInt64}, nil
	case encUint64:
		return codec{kind: cUint64}, nil
	case encFloat:
		return codec{kind: cFloat}, nil
	case encDouble:
		return codec{kind: cDouble}, nil
	case encText:
		return codec{kind: cText}, nil
	case encBytes:
		return codec{kind: cBytes}, nil
	}
	var p, s int
	var tail string
	if n, _ := fmt.Sscanf(encoding, "decimal(%d,%d)%s", &p, &s, &tail); n == 2 && encoding == fmt.Sprintf("decimal(%d,%d)", p, s) &&
		p >= 1 && p <= maxParquetDecimal && s >= 0 && s <= p {
		c := codec{precision: p, scale: s}
		switch {
		case p <= 9:
			c.kind = cDecimal32
		case p <= 18:
			c.kind = cDecimal64
		default:
			c.kind, c.size = cDecimalFixed, decimalBytes(p)
		}
		return c, nil
	}
	return codec{}, fmt.Errorf("unknown encoding %q", encoding)
}

func codecsOf(cols []Column) ([]codec, error) {
	out := make([]codec, len(cols))
	for i, c := range cols {
		var err error
		if out[i], err = codecFor(c.Encoding); err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
	}
	return out, nil
}

// decimalBytes is the smallest two's-complement width holding every p-digit number.
func decimalBytes(p int) int {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil) // 10^p
	for n := 1; ; n++ {
		if limit.Cmp(new(big.Int).Lsh(big.NewInt(1), uint(8*n-1))) <= 0 {
			return n
		}
	}
}

// node is the Parquet leaf of the encoding.
func (c codec) node() parquet.Node {
	switch c.kind {
	case cInt64:
		return parquet.Int(64)
	case cUint64:
		return parquet.Uint(64)
	case cFloat:
		return parquet.Leaf(parquet.FloatType)
	case cDouble:
		return parquet.Leaf(parquet.DoubleType)
	case cDecimal32:
		return parquet.Decimal(c.scale, c.precision, parquet.Int32Type)
	case cDecimal64:
		return parquet.Decimal(c.scale, c.precision, parquet.Int64Type)
	case cDecimalFixed:
		return parquet.Decimal(c.scale, c.precision, parquet.FixedLenByteArrayType(c.size))
	case cText:
		return parquet.String()
	default:
		return parquet.Leaf(parquet.ByteArrayType)
	}
}

// errNotExact says that a value would not read back as the same bytes.
var errNotExact = errors.New("would not read back exactly")

// bstr views b as a string for parsing, without copying. The string must not outlive the
// call it is passed to (strconv's errors are never kept).
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// encode turns an exact source value into its Parquet value (without levels). Bytes that
// the Parquet value must keep (fixed-length decimals; text and bytes are the caller's
// business) are appended to arena. It fails on a value that is not in the canonical
// notation of its kind, so every stored value reads back as exactly the bytes given.
func (c codec) encode(b []byte, arena []byte) (parquet.Value, []byte, error) {
	var tmp [32]byte
	switch c.kind {
	case cInt64:
		n, err := parseCanonicalInt(b)
		return parquet.Int64Value(n), arena, err
	case cUint64:
		n, err := parseCanonicalUint(b)
		return parquet.Int64Value(int64(n)), arena, err // same bits; Uint(64) reads them unsigned
	case cFloat:
		f, err := strconv.ParseFloat(bstr(b), 32)
		if err != nil {
			return parquet.Value{}, arena, numError(err)
		}
		if string(strconv.AppendFloat(tmp[:0], f, 'g', -1, 32)) != bstr(b) {
			return parquet.Value{}, arena, errNotExact
		}
		return parquet.FloatValue(float32(f)), arena, nil
	case cDouble:
		f, err := strconv.ParseFloat(bstr(b), 64)
		if err != nil {
			return parquet.Value{}, arena, numError(err)
		}
		if string(strconv.AppendFloat(tmp[:0], f, 'g', -1, 64)) != bstr(b) {
			return parquet.Value{}, arena, errNotExact
		}
		return parquet.DoubleValue(f), arena, nil
	case cDecimal32, cDecimal64, cDecimalFixed:
		neg, hi, lo, err := parseDecimal(b, c.precision, c.scale)
		if err != nil {
			return parquet.Value{}, arena, err
		}
		switch c.kind {
		case cDecimal32:
			v := int32(lo)
			if neg {
				v = -v
			}
			return parquet.Int32Value(v), arena, nil
		case cDecimal64:
			v := int64(lo)
			if neg {
				v = -v
			}
			return parquet.Int64Value(v), arena, nil
		}
		if neg { // two's complement of the 128-bit magnitude
			lo, hi = ^lo+1, ^hi
			if lo == 0 {
				hi++
			}
		}
		start := len(arena)
		var be [16]byte
		be[0], be[1], be[2], be[3], be[4], be[5], be[6], be[7] = byte(hi>>56), byte(hi>>48), byte(hi>>40), byte(hi>>32), byte(hi>>24), byte(hi>>16), byte(hi>>8), byte(hi)
		be[8], be[9], be[10], be[11], be[12], be[13], be[14], be[15] = byte(lo>>56), byte(lo>>48), byte(lo>>40), byte(lo>>32), byte(lo>>24), byte(lo>>16), byte(lo>>8), byte(lo)
		arena = append(arena, be[16-c.size:]...)
		return parquet.FixedLenByteArrayValue(arena[start:len(arena):len(arena)]), arena, nil
	}
	return parquet.Value{}, arena, fmt.Errorf("codec %d has no typed value", c.kind)
}

// render appends the exact source text of a non-NULL Parquet value to dst. Text and bytes
// are not copied: ok is false and the caller uses v.ByteArray() as it is.
func (c codec) render(dst []byte, v parquet.Value) (_ []byte, ok bool) {
	switch c.kind {
	case cInt64:
		return strconv.AppendInt(dst, v.Int64(), 10), true
	case cUint64:
		return strconv.AppendUint(dst, v.Uint64(), 10), true
	case cFloat:
		return strconv.AppendFloat(dst, float64(v.Float()), 'g', -1, 32), true
	case cDouble:
		return strconv.AppendFloat(dst, v.Double(), 'g', -1, 64), true
	case cDecimal32:
		n := int64(v.Int32())
		return appendDecimal(dst, n < 0, 0, absInt64(n), c.scale), true
	case cDecimal64:
		n := v.Int64()
		return appendDecimal(dst, n < 0, 0, absInt64(n), c.scale), true
	case cDecimalFixed:
		b := v.ByteArray()
		var hi, lo uint64
		if len(b) > 0 && b[0]&0x80 != 0 {
			hi, lo = math.MaxUint64, math.MaxUint64 // sign extension
		}
		for _, x := range b {
			hi = hi<<8 | lo>>56
			lo = lo<<8 | uint64(x)
		}
		neg := int64(hi) < 0
		if neg {
			lo, hi = ^lo+1, ^hi
			if lo == 0 {
				hi++
			}
		}
		return appendDecimal(dst, neg, hi, lo, c.scale), true
	}
	return dst, false
}

// valid reports whether a decoded value can be rendered: a fixed-length decimal must have
// its declared width (a file that disagrees with its schema is damaged, not a panic).
func (c codec) valid(v parquet.Value) bool {
	return c.kind != cDecimalFixed || len(v.ByteArray()) == c.size
}

func absInt64(n int64) uint64 {
	if n < 0 {
		return uint64(-n) // also right for MinInt64
	}
	return uint64(n)
}

func numError(err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return strconv.ErrRange
	}
	return strconv.ErrSyntax
}

// parseCanonicalInt accepts exactly what strconv.FormatInt prints: "-"?, then "0" or a
// digit 1-9 followed by digits, within int64.
func parseCanonicalInt(b []byte) (int64, error) {
	neg := len(b) > 0 && b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	u, err := parseCanonicalUint(digits)
	if err != nil {
		return 0, err
	}
	switch {
	case neg && u == 0:
		return 0, errNotExact // "-0"
	case neg && u > 1<<63:
		return 0, strconv.ErrRange
	case !neg && u > math.MaxInt64:
		return 0, strconv.ErrRange
	case neg:
		return -int64(u), nil // -(1<<63) wraps to MinInt64, as it should
	}
	return int64(u), nil
}

// parseCanonicalUint accepts "0" or a digit 1-9 followed by digits, within uint64.
func parseCanonicalUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, strconv.ErrSyntax
	}
	var n uint64
	for i, c := range b {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
		if i == 0 && c == '0' && len(b) > 1 {
			return 0, errNotExact // leading zero
		}
		hi, lo := bits.Mul64(n, 10)
		lo, carry := bits.Add64(lo, uint64(c-'0'), 0)
		if hi != 0 || carry != 0 {
			return 0, strconv.ErrRange
		}
		n = lo
	}
	return n, nil
}

// parseDecimal reads a decimal in MySQL's canonical notation (see engine.KindDecimal) into
// its sign and the 128-bit magnitude of its unscaled value. A negative zero, leading zeros,
// a missing or extra fractional digit are not canonical: they could not be rebuilt.
func parseDecimal(b []byte, precision, scale int) (neg bool, hi, lo uint64, err error) {
	i := 0
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	intDigits := b[start:i]
	if len(intDigits) == 0 {
		return false, 0, 0, strconv.ErrSyntax
	}
	if len(intDigits) > 1 && intDigits[0] == '0' {
		return false, 0, 0, errNotExact
	}
	var frac []byte
	if scale > 0 {
		if i >= len(b) || b[i] != '.' {
			return false, 0, 0, errNotExact
		}
		i++
		fs := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		frac = b[fs:i]
		if len(frac) != scale {
			return false, 0, 0, errNotExact
		}
	}
	if i != len(b) {
		return false, 0, 0, strconv.ErrSyntax
	}
	significant := len(intDigits)
	if significant == 1 && intDigits[0] == '0' {
		significant = 0
	}
	if significant+scale > precision {
		return false, 0, 0, strconv.ErrRange
	}
	for _, part := range [2][]byte{intDigits, frac} {
		for _, c := range part {
			// (hi, lo) = (hi, lo) * 10 + digit; 38 digits always fit in 128 bits.
			h1, l1 := bits.Mul64(lo, 10)
			hi = hi*10 + h1
			var carry uint64
			lo, carry = bits.Add64(l1, uint64(c-'0'), 0)
			hi += carry
		}
	}
	if neg && hi == 0 && lo == 0 {
		return false, 0, 0, errNotExact // "-0.00"
	}
	return neg, hi, lo, nil
}

// appendDecimal prints a decimal from its sign, 128-bit unscaled magnitude and scale, in
// the notation parseDecimal reads.
func appendDecimal(dst []byte, neg bool, hi, lo uint64, scale int) []byte {
	// Peel 19 decimal digits at a time off the 128-bit magnitude, right to left.
	var buf [3 * 19]byte
	pos := len(buf)
	for {
		var r uint64
		hi, r = hi/1e19, hi%1e19
		lo, r = bits.Div64(r, lo, 1e19)
		for range 19 {
			pos--
			buf[pos] = byte('0' + r%10)
			r /= 10
		}
		if hi == 0 && lo == 0 {
			break
		}
	}
	for len(buf)-pos < scale+1 {
		pos--
		buf[pos] = '0'
	}
	d := buf[pos:]
	// Strip leading zeros, keeping at least scale+1 digits.
	for len(d) > scale+1 && d[0] == '0' {
		d = d[1:]
	}
	if neg {
		dst = append(dst, '-')
	}
	dst = append(dst, d[:len(d)-scale]...)
	if scale > 0 {
		dst = append(dst, '.')
		dst = append(dst, d[len(d)-scale:]...)
	}
	return dst
}
