package oracle

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	go_ora "github.com/sijms/go-ora/v2"

	"github.com/dataretire/retire/activities/engine"
)

// typeClass is how one Oracle column type is read, archived and written back.
type typeClass int

const (
	tNumber       typeClass = iota // NUMBER, FLOAT: exact decimal text
	tInt64                         // NUMBER(p,0), p <= 18
	tBinaryFloat                   // read widened to BINARY_DOUBLE (exact): go-ora mangles small BINARY_FLOATs
	tBinaryDouble                  //
	tDate                          // DATE carries a time part
	tTimestamp                     // TIMESTAMP(n)
	tTimestampTZ                   // TIMESTAMP(n) WITH TIME ZONE: region or offset kept
	tTimestampLTZ                  // TIMESTAMP(n) WITH LOCAL TIME ZONE: normalized to UTC
	tIntervalYM                    // INTERVAL YEAR TO MONTH
	tIntervalDS                    // INTERVAL DAY TO SECOND
	tChar                          // CHAR, VARCHAR2
	tNChar                         // NCHAR, NVARCHAR2
	tLong                          // LONG
	tClob                          //
	tNClob                         //
	tBlob                          //
	tRaw                           //
	tLongRaw                       //
	tRowid                         // ROWID, UROWID
	tXML                           // XMLTYPE, archived as its serialized text
	tJSON                          // JSON (21c), archived as its serialized text
)

// Server-side formats. The server formats temporal values itself (TO_CHAR) because go-ora
// relabels DATE and TIMESTAMP values with a time zone (a wall time inside a DST gap would
// move) and decodes region time zones and intervals lossily (microseconds only).
const (
	fmtDate      = "SYYYY-MM-DD HH24:MI:SS"
	fmtTimestamp = "SYYYY-MM-DD HH24:MI:SS.FF9"
	fmtTZ        = "SYYYY-MM-DD HH24:MI:SS.FF9 TZR"
	utcSuffix    = " +00:00"
	// tinyNumber bounds the positive NUMBERs go-ora decodes as 0 (exponent byte 0x80, which
	// its decoder takes for zero): [1e-130, 1e-128). Those are read again through DUMP.
	tinyNumber = "1E-127"
)

// colDef is a dba_tab_cols row.
type colDef struct {
	name       string
	dataType   string
	typeOwner  string
	length     int64
	charLength int64
	charUsed   string // B or C
	precision  *int64
	scale      *int64
	nullable   bool
}

// column is a column as the archive and the restore see it.
type column struct {
	engine.Column
	class typeClass
}

// hasLOB says whether reading the column makes go-ora hold whole values in memory.
func (c column) hasLOB() bool {
	switch c.class {
	case tClob, tNClob, tBlob, tLong, tLongRaw, tXML, tJSON:
		return true
	}
	return false
}

// isLOB is for the LOBs, whose empty value is not NULL (go-ora reads both as nil).
func (c column) isLOB() bool {
	switch c.class {
	case tClob, tNClob, tBlob:
		return true
	}
	return false
}

var errUnsupported = errors.New("the archive cannot hold this type")

// describe maps a dictionary column to its class, archive kind and original type text.
func describe(d colDef) (column, error) {
	dt := strings.ToUpper(strings.TrimSpace(d.dataType))
	col := column{Column: engine.Column{Name: d.name, Type: dt, Nullable: d.nullable}}
	set := func(c typeClass, k engine.Kind) (column, error) {
		col.class, col.Kind = c, k
		return col, nil
	}
	if d.typeOwner != "" && dt != "XMLTYPE" {
		return col, fmt.Errorf("column %s is of the object type %s.%s: %w", d.name, d.typeOwner, dt, errUnsupported)
	}
	switch {
	case dt == "NUMBER":
		col.Type = numberText(d.precision, d.scale)
		if d.scale != nil && *d.scale == 0 && d.precision != nil && *d.precision >= 1 && *d.precision <= 18 {
			return set(tInt64, engine.KindInt64)
		}
		return set(tNumber, engine.KindText)
	case dt == "FLOAT":
		if d.precision != nil {
			col.Type = fmt.Sprintf("FLOAT(%d)", *d.precision)
		}
		return set(tNumber, engine.KindText)
	case dt == "BINARY_FLOAT":
		return set(tBinaryFloat, engine.KindFloat64)
	case dt == "BINARY_DOUBLE":
		return set(tBinaryDouble, engine.KindFloat64)
	case dt == "DATE":
		return set(tDate, engine.KindText)
	case strings.HasPrefix(dt, "TIMESTAMP") && strings.HasSuffix(dt, "WITH LOCAL TIME ZONE"):
		return set(tTimestampLTZ, engine.KindText)
	case strings.HasPrefix(dt, "TIMESTAMP") && strings.HasSuffix(dt, "WITH TIME ZONE"):
		return set(tTimestampTZ, engine.KindText)
	case strings.HasPrefix(dt, "TIMESTAMP"):
		return set(tTimestamp, engine.KindText)
	case strings.HasPrefix(dt, "INTERVAL YEAR"):
		return set(tIntervalYM, engine.KindText)
	case strings.HasPrefix(dt, "INTERVAL DAY"):
		return set(tIntervalDS, engine.KindText)
	case dt == "CHAR" || dt == "VARCHAR2":
		unit := "BYTE"
		if d.charUsed == "C" {
			unit = "CHAR"
		}
		col.Type = fmt.Sprintf("%s(%d %s)", dt, d.charLength, unit)
		return set(tChar, engine.KindText)
	case dt == "NCHAR" || dt == "NVARCHAR2":
		col.Type = fmt.Sprintf("%s(%d)", dt, d.charLength)
		return set(tNChar, engine.KindText)
	case dt == "LONG":
		return set(tLong, engine.KindText)
	case dt == "CLOB":
		return set(tClob, engine.KindText)
	case dt == "NCLOB":
		return set(tNClob, engine.KindText)
	case dt == "BLOB":
		return set(tBlob, engine.KindBytes)
	case dt == "RAW":
		col.Type = fmt.Sprintf("RAW(%d)", d.length)
		return set(tRaw, engine.KindBytes)
	case dt == "LONG RAW":
		return set(tLongRaw, engine.KindBytes)
	case dt == "ROWID" || dt == "UROWID":
		return set(tRowid, engine.KindText)
	case dt == "XMLTYPE":
		return set(tXML, engine.KindText)
	case dt == "JSON":
		return set(tJSON, engine.KindText)
	}
	return col, fmt.Errorf("column %s has type %s: %w", d.name, dt, errUnsupported)
}

func numberText(precision, scale *int64) string {
	switch {
	case precision == nil && scale == nil:
		return "NUMBER"
	case precision == nil:
		return fmt.Sprintf("NUMBER(*,%d)", *scale)
	case scale == nil || *scale == 0:
		return fmt.Sprintf("NUMBER(%d)", *precision)
	}
	return fmt.Sprintf("NUMBER(%d,%d)", *precision, *scale)
}

// selectExpr is what the scan selects for a column whose quoted name is qn.
func selectExpr(c column, qn string) string {
	switch c.class {
	case tBinaryFloat:
		return "TO_BINARY_DOUBLE(" + qn + ")"
	case tDate:
		return "TO_CHAR(" + qn + ", '" + fmtDate + "')"
	case tTimestamp:
		return "TO_CHAR(" + qn + ", '" + fmtTimestamp + "')"
	case tTimestampTZ:
		return "TO_CHAR(" + qn + ", '" + fmtTZ + "')"
	case tTimestampLTZ:
		return "TO_CHAR(SYS_EXTRACT_UTC(CAST(" + qn + " AS TIMESTAMP WITH TIME ZONE)), '" + fmtTimestamp + "')"
	case tIntervalYM, tIntervalDS:
		return "TO_CHAR(" + qn + ")"
	case tRowid:
		return "ROWIDTOCHAR(" + qn + ")"
	case tXML:
		return "XMLSERIALIZE(CONTENT " + qn + " AS CLOB)"
	case tJSON:
		return "JSON_SERIALIZE(" + qn + " RETURNING CLOB)"
	}
	return qn
}

// fixupExpr is an extra select item some classes need, or "": the DUMP of positive NUMBERs
// go-ora would read as 0, and for LOBs whether the value is NULL or empty.
func fixupExpr(c column, qn string) string {
	switch c.class {
	case tNumber:
		return "CASE WHEN " + qn + " > 0 AND " + qn + " < " + tinyNumber + " THEN DUMP(" + qn + ") END"
	case tClob, tNClob, tBlob:
		return "CASE WHEN " + qn + " IS NULL THEN 0 ELSE 1 END"
	}
	return ""
}

// bindExpr is the VALUES item that turns the bind value of bindValue into the column type.
func bindExpr(c column, placeholder string) string {
	switch c.class {
	case tBinaryFloat:
		return "TO_BINARY_FLOAT(" + placeholder + ")"
	case tBinaryDouble:
		return "TO_BINARY_DOUBLE(" + placeholder + ")"
	case tDate:
		return "TO_DATE(" + placeholder + ", '" + fmtDate + "')"
	case tTimestamp:
		return "TO_TIMESTAMP(" + placeholder + ", '" + fmtTimestamp + "')"
	case tTimestampTZ, tTimestampLTZ:
		return "TO_TIMESTAMP_TZ(" + placeholder + ", '" + fmtTZ + "')"
	case tIntervalYM:
		return "TO_YMINTERVAL(" + placeholder + ")"
	case tIntervalDS:
		return "TO_DSINTERVAL(" + placeholder + ")"
	case tRowid:
		if c.Type == "ROWID" {
			return "CHARTOROWID(" + placeholder + ")"
		}
	case tXML:
		return "XMLTYPE(" + placeholder + ")"
	}
	return placeholder
}

// emptyLOBExpr is the literal that inserts an empty (not NULL) LOB.
func emptyLOBExpr(c column) string {
	if c.class == tBlob {
		return "EMPTY_BLOB()"
	}
	return "EMPTY_CLOB()"
}

var (
	decimalText = regexp.MustCompile(`^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$`)
	integerText = regexp.MustCompile(`^-?[0-9]+$`)
)

// toArchive turns a value as go-ora returns it into the archive bytes of its class,
// appending to buf (reused from row to row). nil is NULL.
func toArchive(c typeClass, v any, buf []byte) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if buf == nil {
		buf = []byte{} // an empty value must not read as NULL
	}
	buf = buf[:0]
	switch c {
	case tNumber:
		return appendDecimal(buf, v)
	case tInt64:
		return appendInteger(buf, v)
	case tBinaryFloat, tBinaryDouble:
		return appendFloat(buf, v)
	case tDate, tTimestamp, tTimestampTZ, tTimestampLTZ:
		return appendTime(buf, c, v)
	case tIntervalYM, tIntervalDS, tRowid:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("unexpected %T for an interval or rowid", v)
		}
		return append(buf, strings.TrimSpace(s)...), nil
	case tChar, tNChar, tLong, tClob, tNClob, tXML, tJSON:
		return appendText(buf, v)
	case tBlob, tRaw, tLongRaw:
		return appendBytes(buf, v)
	}
	return nil, fmt.Errorf("unknown type class %d", c)
}

func appendText(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return append(buf, x...), nil
	case []byte:
		return append(buf, x...), nil
	case go_ora.Clob:
		if !x.Valid {
			return nil, nil
		}
		return append(buf, x.String...), nil
	case go_ora.NClob:
		if !x.Valid {
			return nil, nil
		}
		return append(buf, x.String...), nil
	case go_ora.NVarChar:
		return append(buf, x...), nil
	}
	return nil, fmt.Errorf("unexpected %T for character data", v)
}

func appendBytes(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case []byte:
		return append(buf, x...), nil
	case go_ora.Blob:
		if x.Data == nil {
			return nil, nil
		}
		return append(buf, x.Data...), nil
	case string:
		return append(buf, x...), nil
	}
	return nil, fmt.Errorf("unexpected %T for binary data", v)
}

// appendDecimal keeps NUMBER exact: go-ora decodes it to decimal text itself, and nothing
// here goes through float64 (a float64 is refused rather than rounded).
func appendDecimal(buf []byte, v any) ([]byte, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case go_ora.Number:
		var err error
		if s, err = x.String(); err != nil {
			return nil, err
		}
	case *go_ora.Number:
		var err error
		if s, err = x.String(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unexpected %T for NUMBER: only exact values are archived", v)
	}
	d, err := canonicalDecimal(s)
	if err != nil {
		return nil, err
	}
	return append(buf, d...), nil
}

// canonicalDecimal writes a decimal without exponent, leading or trailing zeros: the one
// spelling of each NUMBER, so that checksums of two exports agree.
func canonicalDecimal(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !decimalText.MatchString(s) {
		return "", fmt.Errorf("%q is not a decimal number", s)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1000 || e < -1000 {
			return "", fmt.Errorf("%q has an exponent out of range", s)
		}
		exp, s = e, s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := intPart + frac
	point := len(intPart) + exp // position of the decimal point in digits
	// Trim leading zeros, moving the point with them.
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
		point--
	}
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return "0", nil
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case point <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -point))
		b.WriteString(digits)
	case point >= len(digits):
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", point-len(digits)))
	default:
		b.WriteString(digits[:point])
		b.WriteByte('.')
		b.WriteString(digits[point:])
	}
	return b.String(), nil
}

// numberFromDump decodes DUMP(n) ("Typ=2 Len=2: 128,2") of a NUMBER into canonical text.
// It is the fallback for the positive values go-ora reads as 0.
func numberFromDump(dump string) (string, error) {
	_, list, ok := strings.Cut(dump, ": ")
	if !ok || !strings.HasPrefix(dump, "Typ=2 ") {
		return "", fmt.Errorf("unexpected DUMP output %q", dump)
	}
	parts := strings.Split(list, ",")
	b := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 || n > 255 {
			return "", fmt.Errorf("unexpected DUMP output %q", dump)
		}
		b[i] = n
	}
	if len(b) == 1 && b[0] == 128 {
		return "0", nil
	}
	if len(b) < 2 {
		return "", fmt.Errorf("unexpected DUMP output %q", dump)
	}
	neg := b[0] < 128
	var exp int // base-100 exponent of the first digit pair
	mant := b[1:]
	if neg {
		exp = 62 - b[0]
		if mant[len(mant)-1] == 102 {
			mant = mant[:len(mant)-1]
		}
	} else {
		exp = b[0] - 193
	}
	var digits strings.Builder
	for _, m := range mant {
		d := m - 1
		if neg {
			d = 101 - m
		}
		if d < 0 || d > 99 {
			return "", fmt.Errorf("unexpected DUMP output %q", dump)
		}
		fmt.Fprintf(&digits, "%02d", d)
	}
	// digits is 0.d1d2... x 100^(exp+1), i.e. its decimal point sits after 2*(exp+1) digits.
	text := digits.String() + "e" + strconv.Itoa(2*(exp+1)-len(digits.String()))
	if neg {
		text = "-" + text
	}
	return canonicalDecimal(text)
}

func appendInteger(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case string:
		s := strings.TrimSpace(x)
		if !integerText.MatchString(s) {
			return nil, fmt.Errorf("%q is not an integer", x)
		}
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return nil, err
		}
		return append(buf, s...), nil
	case go_ora.Number, *go_ora.Number:
		d, err := appendDecimal(nil, x)
		if err != nil {
			return nil, err
		}
		return appendInteger(buf, string(d))
	}
	return nil, fmt.Errorf("unexpected %T for an integer NUMBER", v)
}

// appendFloat writes the shortest text that reads back as the same float64; NaN and the
// infinities as strconv spells them ("NaN", "+Inf", "-Inf"), which the archive parses.
func appendFloat(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case float64:
		return strconv.AppendFloat(buf, x, 'g', -1, 64), nil
	case float32:
		return strconv.AppendFloat(buf, float64(x), 'g', -1, 64), nil // widening is exact
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return nil, err
		}
		return strconv.AppendFloat(buf, f, 'g', -1, 64), nil
	}
	return nil, fmt.Errorf("unexpected %T for a binary float", v)
}

// appendTime writes DATE as 'YYYY-MM-DD HH24:MI:SS', TIMESTAMP with 9 fractional digits,
// WITH TIME ZONE with its region or offset, WITH LOCAL TIME ZONE in UTC with "+00:00".
// Years before 1 AD start with "-" (SYYYY). Server text (TO_CHAR) passes through trimmed.
func appendTime(buf []byte, c typeClass, v any) ([]byte, error) {
	var t time.Time
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x) // SYYYY pads AD years with a space
		if c == tTimestampLTZ && !strings.HasSuffix(s, utcSuffix) {
			s += utcSuffix
		}
		return append(buf, s...), nil
	case time.Time:
		t = x
	case go_ora.TimeStamp:
		t = time.Time(x)
	case go_ora.TimeStampTZ:
		t = time.Time(x)
	default:
		return nil, fmt.Errorf("unexpected %T for a date or timestamp", v)
	}
	switch c {
	case tDate:
		return appendYear(buf, t, "-01-02 15:04:05"), nil
	case tTimestamp:
		return appendYear(buf, t, "-01-02 15:04:05.000000000"), nil
	case tTimestampLTZ:
		t = t.UTC()
		return append(appendYear(buf, t, "-01-02 15:04:05.000000000"), utcSuffix...), nil
	}
	buf = appendYear(buf, t, "-01-02 15:04:05.000000000 ")
	if name := t.Location().String(); strings.Contains(name, "/") {
		return append(buf, name...), nil // a region: keeps the DST rules, not just today's offset
	}
	return t.AppendFormat(buf, "-07:00"), nil
}

// appendYear writes the year as Oracle's SYYYY does (4 digits, "-" before 1 AD) and the rest
// with layout.
func appendYear(buf []byte, t time.Time, layout string) []byte {
	y := t.Year()
	if y <= 0 {
		// Go counts 1 BC as year 0; Oracle writes it -0001.
		buf = append(buf, '-')
		y = 1 - y
	}
	buf = append(buf, fmt.Sprintf("%04d", y)...)
	return t.AppendFormat(buf, layout)
}

// bindValue turns archive bytes back into what go-ora binds for bindExpr of the class.
// Every bind value of one column has the same Go type (array binding takes the type of
// the column from its values).
func bindValue(c typeClass, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	s := string(b)
	switch c {
	case tNumber:
		d, err := canonicalDecimal(s)
		if err != nil {
			return nil, err
		}
		return numberBind(d)
	case tInt64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an int64: %w", s, err)
		}
		return n, nil
	case tBinaryFloat, tBinaryDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, err
		}
		return floatBind(f), nil
	case tDate, tTimestamp, tTimestampTZ, tIntervalYM, tIntervalDS, tRowid, tChar, tLong:
		return s, nil
	case tTimestampLTZ:
		if !strings.HasSuffix(s, utcSuffix) {
			return nil, fmt.Errorf("%q is not a UTC timestamp", s)
		}
		return s, nil
	case tNChar:
		return go_ora.NVarChar(s), nil
	case tClob, tXML, tJSON:
		return go_ora.Clob{String: s, Valid: true}, nil
	case tNClob:
		return go_ora.NClob{String: s, Valid: true}, nil
	case tBlob:
		return go_ora.Blob{Data: append([]byte{}, b...)}, nil
	case tRaw, tLongRaw:
		return append([]byte{}, b...), nil
	}
	return nil, fmt.Errorf("unknown type class %d", c)
}

// numberBind binds a NUMBER exactly (no NLS, no float). go-ora's parser keeps leading zeros
// in the mantissa, which would encode an invalid NUMBER, so it gets d.ddd e N.
func numberBind(canonical string) (*go_ora.Number, error) {
	neg := strings.HasPrefix(canonical, "-")
	s := strings.TrimPrefix(canonical, "-")
	if s == "0" {
		return go_ora.NewNumberFromString("0")
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := intPart + frac
	exp := len(intPart) - 1
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
		exp--
	}
	digits = strings.TrimRight(digits, "0")
	if len(digits) > 40 {
		return nil, fmt.Errorf("%s has more than 40 significant digits: not an Oracle NUMBER", canonical)
	}
	if exp > 125 || exp < -130 {
		return nil, fmt.Errorf("%s is out of the NUMBER range", canonical)
	}
	text := digits[:1]
	if len(digits) > 1 {
		text += "." + digits[1:]
	}
	text += "e" + strconv.Itoa(exp)
	if neg {
		text = "-" + text
	}
	return go_ora.NewNumberFromString(text)
}

// floatBind spells a float for TO_BINARY_DOUBLE / TO_BINARY_FLOAT: they read INF, -INF and
// NaN, and the shortest round-trip decimal otherwise.
func floatBind(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "INF"
	case math.IsInf(f, -1):
		return "-INF"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
