// Package engine is the contract between the retirement activities and a database engine.
// MySQL/MariaDB implements it today (activities/mysql); Oracle and PostgreSQL are meant to be
// one new folder each. Every method takes a context with a deadline and holds no connection
// after it returns (seeds/004: idle connections die silently behind firewalls).
package engine

import (
	"context"
	"errors"
	"io"
	"slices"
	"time"
)

// ErrRefused marks a request that no retry can fix: a system schema, a name that is not a
// plain identifier, an object that does not exist, a strategy that cannot work here.
// Adapters wrap it (fmt.Errorf("...: %w", engine.ErrRefused)) so activities stop retrying.
var ErrRefused = errors.New("refused")

// Adapter is what the activities need from a database engine.
type Adapter interface {
	// Validate refuses system schemas and names that are not plain identifiers, and checks
	// that the object exists (or reports it gone).
	Validate(ctx context.Context, object string) error
	// Inventory lists everything the object holds and every account that reaches it.
	Inventory(ctx context.Context, object string) (Inventory, error)
	// Sessions is one look at who is connected to the object right now.
	Sessions(ctx context.Context, object string) ([]Session, error)
	// SnapshotAccess records, without changing anything, the access that Cut would remove.
	SnapshotAccess(ctx context.Context, object string, strategy Strategy) (AccessSnapshot, error)
	// Cut removes the access recorded in the snapshot and kills the sessions left. Idempotent.
	Cut(ctx context.Context, snap AccessSnapshot) (CutResult, error)
	// Restore puts back exactly what the snapshot recorded. Idempotent.
	Restore(ctx context.Context, snap AccessSnapshot) error
	// Drop removes the object physically. An object already gone counts as dropped.
	Drop(ctx context.Context, object string, snap AccessSnapshot) error
	// VerifyGone proves the object no longer exists.
	VerifyGone(ctx context.Context, object string, snap AccessSnapshot) (GoneReport, error)
	// Source opens the object for export by the archive.
	Source(ctx context.Context, object string, snap AccessSnapshot) (Source, error)
	// CheckPrivileges reports, without changing anything, what the connection's own account
	// lacks for the phases of a retirement of object under strategy (sampling, inventory, the
	// cut and its restore, the archive, the drop), as the server resolves the account's
	// grants and roles for a new session. The plan refuses a retirement that would fail
	// weeks later, after access was cut (see PrivilegeReport.Err).
	CheckPrivileges(ctx context.Context, object string, strategy Strategy) (PrivilegeReport, error)
	// ServerID is the server's own identity, the same through every connection profile that
	// reaches it (see FormatServerID): two retirements of one object through two profiles
	// are told apart from two objects by it.
	ServerID(ctx context.Context) (string, error)
}

// Strategy is how access is cut during the observation window.
type Strategy string

const (
	// StrategyRevoke revokes every grant that reaches the object and locks accounts whose only
	// access was this object.
	StrategyRevoke Strategy = "revoke"
	// StrategyRename moves the tables into a quarantine schema (like Vitess HOLD).
	StrategyRename Strategy = "rename"
)

// Inventory is what the plan phase found.
type Inventory struct {
	Engine        string     `json:"engine"`
	Version       string     `json:"version"`
	Object        string     `json:"object"`
	Charset       string     `json:"charset,omitempty"`
	Collation     string     `json:"collation,omitempty"`
	Tables        []Table    `json:"tables"`
	Views         []string   `json:"views"`
	Routines      []Routine  `json:"routines"`
	Triggers      []string   `json:"triggers"`
	Events        []string   `json:"events"`
	Accounts      []Account  `json:"accounts"`
	GlobalHolders []Account  `json:"global_holders"`
	TotalRows     int64      `json:"total_rows"`
	TotalBytes    int64      `json:"total_bytes"`
	Warnings      []string   `json:"warnings,omitempty"`
	TakenAt       time.Time  `json:"taken_at"`
	Tablespaces   []string   `json:"tablespaces,omitempty"`
	Extra         []KeyValue `json:"extra,omitempty"`
}

// KeyValue is an engine-specific fact worth showing in the plan.
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Table is one base table with its exact row count and its size on disk.
type Table struct {
	Name   string `json:"name"`
	Engine string `json:"engine,omitempty"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
}

// Routine is a stored procedure or function.
type Routine struct {
	Name string `json:"name"`
	Type string `json:"type"` // PROCEDURE or FUNCTION
}

// Account is a user (or role) whose privileges reach the object.
type Account struct {
	User string `json:"user"`
	Host string `json:"host"`
	// Levels says how the account reaches the object: database, table, column, routine, global.
	Levels []string `json:"levels"`
	// OnlyThisObject is true when every privilege the account holds is on this object, so
	// locking it cuts nobody off from anything else.
	OnlyThisObject bool `json:"only_this_object"`
}

// Name is user@host as DBAs write it.
func (a Account) Name() string { return a.User + "@" + a.Host }

// Session is a client seen connected to the object, aggregated over looks.
type Session struct {
	User      string    `json:"user"`
	Host      string    `json:"host"` // without the client port
	Program   string    `json:"program,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Count is the number of distinct connections seen.
	Count int `json:"count"`
	// Via says how it reached the object (ViaDefaultDB, ViaLock, ViaStatement, ViaAuditLog),
	// and Tables which of its tables it was seen on, when the source tells.
	Via    []string `json:"via,omitempty"`
	Tables []string `json:"tables,omitempty"`
	// ID is the connection id of a single look; aggregation does not keep it.
	ID int64 `json:"-"`
}

// Key identifies a client across looks.
func (s Session) Key() string { return s.User + "@" + s.Host + "/" + s.Program }

// AccessSnapshot is what access looked like before the cut: enough to restore it exactly.
// It never holds passwords or password hashes: it travels through workflow history.
type AccessSnapshot struct {
	Object   string   `json:"object"`
	Strategy Strategy `json:"strategy"`
	// Grants are the privileges to revoke, one per account and privilege level.
	Grants []Grant `json:"grants,omitempty"`
	// Lock are the accounts to lock, with their state before.
	Lock []AccountLock `json:"lock,omitempty"`
	// Quarantine is the schema the tables move to (strategy rename).
	Quarantine string    `json:"quarantine,omitempty"`
	Tables     []string  `json:"tables,omitempty"`
	TakenAt    time.Time `json:"taken_at"`
	// Tablespaces are the tablespaces only this object uses (Oracle), which the cut makes
	// read-only or takes offline, with their status before so that restore puts it back.
	Tablespaces []TablespaceState `json:"tablespaces,omitempty"`
	// TablespaceMode is how the cut quiesces Tablespaces: "read-only" or "offline" (Oracle).
	TablespaceMode string `json:"tablespace_mode,omitempty"`
	// PDB is the pluggable database the cut closes, with its state before (Oracle).
	PDB *PDBState `json:"pdb,omitempty"`
}

// TablespaceState is a tablespace and its status before the cut: ONLINE, READ ONLY or
// OFFLINE (Oracle), with its datafiles so that the drop can be verified.
type TablespaceState struct {
	Name      string   `json:"name"`
	Status    string   `json:"status"`
	Datafiles []string `json:"datafiles,omitempty"`
}

// PDBState is a pluggable database and its state before the cut (Oracle).
type PDBState struct {
	Name string `json:"name"`
	// OpenMode is READ WRITE, READ ONLY or MOUNTED.
	OpenMode string `json:"open_mode"`
	// Restricted is true when it was open RESTRICTED (only RESTRICTED SESSION holders connect).
	Restricted bool `json:"restricted,omitempty"`
	// SavedState is true when the PDB had a saved state (it reopens itself when the CDB restarts).
	SavedState bool     `json:"saved_state,omitempty"`
	Datafiles  []string `json:"datafiles,omitempty"`
}

// Grant is one GRANT statement as the server printed it, split so that it can be revoked
// and given back without pasting user text into SQL.
type Grant struct {
	User        string `json:"user"`
	Host        string `json:"host"`
	Privileges  string `json:"privileges"` // e.g. "SELECT, INSERT" or "SELECT (`a`, `b`)"
	On          string `json:"on"`         // e.g. "`db`.*", "`db`.`t`", "PROCEDURE `db`.`p`"
	GrantOption bool   `json:"grant_option,omitempty"`
	Statement   string `json:"statement"` // the GRANT as printed, for the record
}

// AccountLock is an account to lock during observation and its state before.
type AccountLock struct {
	User      string `json:"user"`
	Host      string `json:"host"`
	WasLocked bool   `json:"was_locked"`
}

// CutResult says what the cut did.
type CutResult struct {
	Revoked        int      `json:"revoked"`
	Locked         []string `json:"locked"`
	Moved          int      `json:"moved"`
	KilledSessions int      `json:"killed_sessions"`
}

// GoneReport proves the object is gone.
type GoneReport struct {
	Gone       bool     `json:"gone"`
	Remaining  []string `json:"remaining,omitempty"`
	BytesFreed int64    `json:"bytes_freed"`
	// BytesFreedMethod says how BytesFreed was counted and when, e.g. "file sizes of 4
	// InnoDB tablespaces (information_schema.INNODB_SYS_TABLESPACES.FILE_SIZE), measured
	// when the archive was written, with access cut": the record shows it.
	BytesFreedMethod string `json:"bytes_freed_method,omitempty"`
}

// Source is an open object being exported. Close releases its connections.
//
// A source may also implement Chunker, so that the archive exports big tables in parts,
// several at a time, and resumes between parts; a source that does not is exported one
// whole table (one Scan) at a time.
type Source interface {
	// Info describes the server: engine, version, charset.
	Info() SourceInfo
	// Tables are the base tables to export, in a stable order.
	Tables() []string
	// TableDDL is CREATE TABLE as the server prints it.
	TableDDL(ctx context.Context, table string) (string, error)
	// ObjectDDL returns the other DDL files: views.sql, routines.sql, triggers.sql, events.sql,
	// grants.sql, keyed by file name.
	ObjectDDL(ctx context.Context) (map[string]string, error)
	// Scan streams every row of a table (see Rows for the values).
	Scan(ctx context.Context, table string) (Rows, error)
	io.Closer
}

// Chunker splits tables into key ranges that can be scanned separately (on connections of
// their own, at the same time, and in different attempts of an export).
type Chunker interface {
	// Chunks splits table into chunks of about targetRows rows, in key order. Together they
	// hold every row exactly once: the first chunk has no Lower bound, the last no Upper
	// bound, and each chunk's Lower is the previous chunk's Upper. A table that cannot or
	// need not be split is one chunk without bounds. The same data gives the same chunks.
	Chunks(ctx context.Context, table string, targetRows int64) ([]Chunk, error)
	// ScanChunk streams the rows of one chunk, as Scan does for the whole table. It refuses
	// (ErrRefused) a chunk whose Key is not the table's current chunking key.
	ScanChunk(ctx context.Context, table string, c Chunk) (Rows, error)
}

// Chunk is a key range of a table: the rows whose key is >= Lower and < Upper, compared
// the way the engine orders the key. A nil Lower means from the first row, a nil Upper to
// the last; a chunk with neither is the whole table. Bounds are exact values in the
// engine's own plain-ASCII notation (MySQL: decimal integers, 0x-prefixed hex of the bytes
// for strings), so a Chunk survives JSON (heartbeats) unchanged.
type Chunk struct {
	// Index is the chunk's position in its table's chunks, from 0.
	Index int `json:"index"`
	// Key names the key columns the bounds apply to, in key order; empty when unbounded.
	Key   []string `json:"key,omitempty"`
	Lower []string `json:"lower,omitempty"`
	Upper []string `json:"upper,omitempty"`
}

// Equal reports whether two chunks are the same range of the same key.
func (c Chunk) Equal(o Chunk) bool {
	return c.Index == o.Index && slices.Equal(c.Key, o.Key) && slices.Equal(c.Lower, o.Lower) && slices.Equal(c.Upper, o.Upper)
}

// SourceInfo describes the source server for the manifest.
type SourceInfo struct {
	Engine  string `json:"engine"`
	Version string `json:"version"`
	// Charset is the object's default character set (restore creates the object with it).
	// Text values themselves are always exported as UTF-8.
	Charset string `json:"charset"`
	// TimeZone is the session time zone the source printed zone-dependent values in
	// (MySQL TIMESTAMP), e.g. "+00:00"; a restore must load them in the same zone. Empty when
	// the engine prints no such values.
	TimeZone string `json:"time_zone,omitempty"`
	// Tablespace is the object's default tablespace (Oracle schemas); a restore puts the new
	// schema there when it still exists and is writable, else in the database default.
	Tablespace string `json:"tablespace,omitempty"`
}

// Column is a column as the source declares it.
type Column struct {
	Name string `json:"name"`
	// Type is the original type text, e.g. "decimal(65,30) unsigned".
	Type string `json:"type"`
	// Kind says what the values are (and so how the archive can store them exactly).
	Kind     Kind `json:"kind"`
	Nullable bool `json:"nullable"`
	// Precision and Scale are the digits of a KindDecimal column.
	Precision int `json:"precision,omitempty"`
	Scale     int `json:"scale,omitempty"`
	// Generated is true for a column the server computes (VIRTUAL or STORED): its values
	// are exported, and a restore must not insert them.
	Generated bool `json:"generated,omitempty"`
}

// Kind is what a column's values are. Every value travels as text (or bytes) in the
// notation below, which is exactly what an archive gives back.
type Kind string

const (
	// KindInt64 is a signed integer in decimal, without leading zeros or "+".
	KindInt64 Kind = "int64"
	// KindUint64 is an unsigned integer in decimal, without leading zeros or "+".
	KindUint64 Kind = "uint64"
	// KindFloat32 is an IEEE-754 single as the shortest text that reads back as the same
	// float32 (Go strconv 'g', -1, 32: "1.5", "1e-30", "-0", "NaN", "+Inf").
	KindFloat32 Kind = "float32"
	// KindFloat64 is an IEEE-754 double as the shortest text that reads back as the same
	// float64 (Go strconv 'g', -1, 64).
	KindFloat64 Kind = "float64"
	// KindDecimal is a fixed-point number of Precision digits, Scale of them after the
	// point, printed as MySQL does: optional "-", the integer digits without leading zeros
	// ("0" when there are none), then "." and exactly Scale digits when Scale > 0.
	KindDecimal Kind = "decimal"
	// KindText is exact text as UTF-8 (dates, times, JSON, ENUM, SET, character data, and
	// decimals of more than 38 digits).
	KindText Kind = "text"
	// KindBytes is raw bytes (BINARY, BLOB, BIT, GEOMETRY).
	KindBytes Kind = "bytes"
)

// Rows is a streaming cursor over one table or chunk.
type Rows interface {
	Columns() []Column
	// Next fills dst (len == len(Columns())) with the next row; false at the end.
	// Values are []byte in the notation of their column's Kind (nil for NULL; an empty
	// value is non-nil) and are only valid until the next call.
	Next(dst [][]byte) bool
	Err() error
	Close() error
}
