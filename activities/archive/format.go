// Package archive writes a database object to object storage as Parquet plus its DDL, and
// reads it back to prove it complete before anything is dropped.
//
// Layout (format v1), every key relative to the archive path so an archive can be copied
// elsewhere as a whole:
//
//	manifest.json                      written last: no manifest, no archive
//	schema/<table>.sql                 CREATE TABLE as the server printed it
//	schema/views.sql, routines.sql, triggers.sql, events.sql, grants.sql
//	data/<table>/part-00000.parquet    zstd Parquet, one optional column per source column;
//	data/<table>/part-00001.parquet    one part per chunk (primary-key range) of the table,
//	data/<table>/part-00001-001.parquet  and more parts of a chunk past maxPartBytes
//
// # Values
//
// Every value is kept exactly: what ReadTable gives back is, byte for byte, what the
// source's engine.Rows yielded at export (see engine.Kind for the notation of each kind).
// A column's manifest entry has its original type text and its Encoding, how its values
// are stored in Parquet:
//
//	encoding        Parquet                                    source kinds
//	int64           INT64, INT(64, signed)                     KindInt64
//	uint64          INT64, INT(64, unsigned)                   KindUint64
//	float           FLOAT                                      KindFloat32
//	double          DOUBLE                                     KindFloat64
//	decimal(p,s)    DECIMAL(p,s) on INT32 (p <= 9), INT64       KindDecimal, p <= 38
//	                (p <= 18) or FIXED_LEN_BYTE_ARRAY (p <= 38)
//	text            BYTE_ARRAY, STRING (UTF-8)                 KindText; KindDecimal, p > 38
//	bytes           BYTE_ARRAY                                 KindBytes
//
// Typed encodings are chosen only where the text can be rebuilt exactly from the typed
// value; Export checks it for every value and fails rather than store one it could not
// give back. Dates, datetimes, timestamps, times and years stay the server's exact text
// (String): MySQL allows zero and partial dates ('0000-00-00', '2020-00-15'), times beyond
// 24 hours and negative ones, which no Parquet date or time type can hold, and a column
// has one physical type for all its values. Text is always UTF-8 (the MySQL source reads
// through a utf8mb4 connection, so a latin1 'é' arrives as U+00E9); Manifest.TextEncoding
// says so. Decimal columns with FIXED_LEN_BYTE_ARRAY carry no min/max statistics:
// parquet-go would order them as unsigned bytes, and a reader pruning on wrong statistics
// returns wrong answers.
//
// # Checksums
//
// A table's content checksum is a RowSum (checksum.go) of the exact source values, added
// up over its chunks. Verify recomputes it from the values ReadTable decodes, so a pass
// proves that a restore reads back exactly what was exported.
package archive

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// FormatV1 is the manifest's format field.
const FormatV1 = "retire-archive/v1"

// TextUTF8 is Manifest.TextEncoding: every text value is UTF-8.
const TextUTF8 = "utf-8"

// ManifestName is the manifest's key under the archive path.
const ManifestName = "manifest.json"

// ObjectDDLFiles are the DDL files every archive carries besides one per table, written
// empty when the object has none, so that a restore never has to guess.
var ObjectDDLFiles = []string{"views.sql", "routines.sql", "triggers.sql", "events.sql", "grants.sql"}

// Manifest describes a complete archive.
type Manifest struct {
	Format string `json:"format"`
	// CreatedAt is when the export started, at a fixed width (see Timestamp) so that the
	// manifest's size and SHA-256 depend on nothing but what the archive holds.
	CreatedAt Timestamp         `json:"created_at"`
	Source    engine.SourceInfo `json:"source"`
	Object    string            `json:"object"`
	// TextEncoding is the character encoding of every text value: "utf-8".
	TextEncoding string        `json:"text_encoding"`
	Tables       []TableResult `json:"tables"`
	// Files are the object-level DDL files (schema/views.sql ...).
	Files []File `json:"files"`
}

// TimestampLayout is how a Timestamp is written: RFC 3339 in UTC with all nine digits of
// the fraction, e.g. "2024-05-01T12:00:00.120000000Z". Any RFC 3339 parser reads it.
const TimestampLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Timestamp is a time that JSON-encodes at a fixed width (TimestampLayout, always UTC).
// time.Time's own encoding drops the fraction's trailing zeros, so a manifest holding one
// would change size, and with it the archive's byte total, from one export to the next
// (one instant in ten ends in a zero). It decodes any RFC 3339 time, so manifests written
// before it still read.
type Timestamp struct{ time.Time }

// NewTimestamp is t as a Timestamp, in UTC and without its monotonic clock reading.
func NewTimestamp(t time.Time) Timestamp { return Timestamp{t.UTC()} }

// MarshalText writes t in TimestampLayout; years outside 0000-9999 are refused, as
// time.Time refuses them.
func (t Timestamp) MarshalText() ([]byte, error) {
	u := t.UTC()
	if y := u.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("timestamp %v: year outside [0,9999]", u)
	}
	return u.AppendFormat(nil, TimestampLayout), nil
}

// MarshalJSON is MarshalText quoted.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	b, err := t.MarshalText()
	if err != nil {
		return nil, err
	}
	return append(append([]byte{'"'}, b...), '"'), nil
}

// UnmarshalText reads any RFC 3339 time.
func (t *Timestamp) UnmarshalText(b []byte) error { return t.Time.UnmarshalText(b) }

// UnmarshalJSON reads any RFC 3339 time as a JSON string.
func (t *Timestamp) UnmarshalJSON(b []byte) error { return t.Time.UnmarshalJSON(b) }

// TableResult is one table of the manifest; ExportOptions.Done carries these between
// attempts.
type TableResult struct {
	Name    string   `json:"name"`
	Columns []Column `json:"columns"`
	Rows    int64    `json:"rows"`
	// Checksum is the RowSum of every row, "rowsum-sha256:<hex>".
	Checksum string `json:"checksum"`
	DDL      File   `json:"ddl"`
	// Files are the Parquet parts, in chunk (key) order.
	Files []DataFile `json:"files"`
}

// Column is a manifest column: the source's declaration (name, original type text, kind,
// nullability, generated) and how the archive stores it.
type Column struct {
	engine.Column
	// Encoding is the Parquet encoding of the values: int64, uint64, float, double,
	// decimal(p,s), text or bytes (see the package documentation).
	Encoding string `json:"encoding"`
}

// EngineColumns are the source declarations of cols, e.g. for an engine.Loader.
func EngineColumns(cols []Column) []engine.Column {
	out := make([]engine.Column, len(cols))
	for i, c := range cols {
		out[i] = c.Column
	}
	return out
}

// ChunkResult is one exported chunk of a table that is not finished yet. A retry given it
// in ExportOptions.DoneChunks keeps the chunk's files, provided the table still splits
// into the same chunk and the files are still in the store with their recorded sizes.
type ChunkResult struct {
	Table string       `json:"table"`
	Chunk engine.Chunk `json:"chunk"`
	Rows  int64        `json:"rows"`
	// Checksum is the RowSum of the chunk's rows; a table's is the sum of its chunks'.
	Checksum string `json:"checksum"`
	// Files are the chunk's parts, usually one.
	Files []DataFile `json:"files"`
}

// File is a stored file and what it must hash to. Key is relative to the archive path.
type File struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// DataFile is one Parquet part of a table.
type DataFile struct {
	Key    string `json:"key"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	Rows   int64  `json:"rows"`
}

// Totals counts what the manifest lists, the manifest itself not included.
func (m *Manifest) Totals() (tables int, rows int64, files int, bytes int64) {
	for _, f := range m.Files {
		files++
		bytes += f.Bytes
	}
	for _, t := range m.Tables {
		tables++
		rows += t.Rows
		files++
		bytes += t.DDL.Bytes
		for _, f := range t.Files {
			files++
			bytes += f.Bytes
		}
	}
	return tables, rows, files, bytes
}

// archivePath normalises the caller's path to end in exactly one slash.
func archivePath(path string) (string, error) {
	p := strings.Trim(path, "/")
	if p == "" {
		return "", fmt.Errorf("archive path is empty")
	}
	if err := checkKey(p); err != nil {
		return "", err
	}
	return p + "/", nil
}

// tableDDLKey is schema/<table>.sql. A table named like an object DDL file ("views",
// "grants"...) gets its first byte escaped, so it cannot overwrite that file; the escape
// keeps keys unique because "@" in a name is always escaped itself.
func tableDDLKey(table string) string {
	name := keyName(table)
	if slices.Contains(ObjectDDLFiles, name+".sql") {
		name = fmt.Sprintf("@%02x", name[0]) + name[1:]
	}
	return "schema/" + name + ".sql"
}

// partKey is data/<table>/part-CCCCC.parquet for the first part of chunk CCCCC, and
// part-CCCCC-PPP.parquet for the next ones (a chunk larger than maxPartBytes).
func partKey(table string, chunk, part int) string {
	if part == 0 {
		return fmt.Sprintf("data/%s/part-%05d.parquet", keyName(table), chunk)
	}
	return fmt.Sprintf("data/%s/part-%05d-%03d.parquet", keyName(table), chunk, part)
}

// keyName makes a table name safe as one key segment. MySQL allows almost any character in
// a quoted table name, "/" and ".." included; every byte outside [A-Za-z0-9_$-] becomes
// "@" and two hex digits, which is fixed-width and therefore never ambiguous. The manifest
// maps names to keys, so nothing ever has to decode it.
func keyName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '$', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "@%02x", c)
		}
	}
	return b.String()
}
