// Package archive writes a database object to object storage as Parquet plus its DDL, and
// reads it back to prove it complete before anything is dropped.
//
// Layout (format v1), every key relative to the archive path so an archive can be copied
// elsewhere as a whole:
//
//	manifest.json                      written last: no manifest, no archive
//	schema/<table>.sql                 CREATE TABLE as the server printed it
//	schema/views.sql, routines.sql, triggers.sql, events.sql, grants.sql
//	data/<table>/part-00000.parquet    zstd Parquet, one optional column per source column
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

// ManifestName is the manifest's key under the archive path.
const ManifestName = "manifest.json"

// ObjectDDLFiles are the DDL files every archive carries besides one per table, written
// empty when the object has none, so that a restore never has to guess.
var ObjectDDLFiles = []string{"views.sql", "routines.sql", "triggers.sql", "events.sql", "grants.sql"}

// Manifest describes a complete archive.
type Manifest struct {
	Format    string            `json:"format"`
	CreatedAt time.Time         `json:"created_at"`
	Source    engine.SourceInfo `json:"source"`
	Object    string            `json:"object"`
	Tables    []TableResult     `json:"tables"`
	// Files are the object-level DDL files (schema/views.sql ...).
	Files []File `json:"files"`
}

// TableResult is one table of the manifest; ExportOptions.Done carries these between
// attempts.
type TableResult struct {
	Name    string          `json:"name"`
	Columns []engine.Column `json:"columns"`
	Rows    int64           `json:"rows"`
	// Checksum is the RowSum of every row, "rowsum-sha256:<hex>".
	Checksum string     `json:"checksum"`
	DDL      File       `json:"ddl"`
	Files    []DataFile `json:"files"`
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

func partKey(table string, part int) string {
	return fmt.Sprintf("data/%s/part-%05d.parquet", keyName(table), part)
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
