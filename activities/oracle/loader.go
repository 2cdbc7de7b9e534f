package oracle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
)

// The Loader side of the adapter: `retire restore` and the verify-restore gate rebuild an
// archived schema as a new schema (user) on an Oracle server.

var _ engine.Loader = (*Adapter)(nil)

const (
	// scratchPrefix names the schemas the verify-restore gate creates and drops: RETIRE$V_
	// and the retired schema's name. MySQL's "_retire_v_" does not suit Oracle: a leading
	// underscore needs quotes, and lower case would need them everywhere a DBA types it. "$"
	// is legal in unquoted names and Oracle advises against it in application names, which
	// makes a real schema of that name all the more unlikely. DropTarget drops nothing else.
	scratchPrefix = "RETIRE$V_"
	maxIdent      = 128

	qDefaultPermanent = `SELECT property_value FROM database_properties WHERE property_name = 'DEFAULT_PERMANENT_TABLESPACE'`
	qTableExists      = `SELECT COUNT(*) FROM dba_tables WHERE owner = :1 AND table_name = :2`

	// dropTimeout bounds DROP USER CASCADE of a scratch, which takes as long as the scratch
	// holds objects, when the caller's context has no deadline.
	dropTimeout = time.Hour
	// noAuthenticationSince is the first release with schema-only accounts (NO AUTHENTICATION).
	noAuthenticationSince = 18

	oraUserConflict = 1920 // ORA-01920: user name conflicts with another user or role name
)

// ScratchName is where the verify-restore gate restores a schema: RETIRE$V_<schema>, cut to
// Oracle's 128 bytes. A pluggable database has no such place: its profile connects to
// CDB$ROOT, where only common users live, and writing into the PDB being retired would change
// what was archived; its archive is proved by the checksum verification alone.
func (a *Adapter) ScratchName(object string) (string, error) {
	t, err := parseTarget(object)
	if err != nil {
		return "", err
	}
	if t.isPDB {
		return "", fmt.Errorf("%s: the verify-restore gate restores into a scratch schema beside the object, and a pluggable database has none "+
			"(its connection is in CDB$ROOT, and the PDB itself is not written into); verify its archive by its checksums (--verify archive), "+
			"or restore its schemas into another database with retire restore: %w", t, engine.ErrRefused)
	}
	name := scratchPrefix + t.name
	if len(name) > maxIdent {
		name = name[:maxIdent]
	}
	return name, nil
}

func isScratch(name string) bool {
	return strings.HasPrefix(name, scratchPrefix) && len(name) > len(scratchPrefix)
}

// RestoreScripts are the object DDL files a restore replays: sequences before the tables
// (a column default may use one), and after the data, indexes (faster on a loaded table),
// foreign keys (every table exists), synonyms, views, PL/SQL, and triggers last (they would
// have fired on every restored row). jobs.sql is never replayed: a job would start running.
func (a *Adapter) RestoreScripts() (before, after []string) {
	return []string{"sequences.sql"},
		[]string{"indexes.sql", "constraints.sql", "synonyms.sql", "views.sql", "routines.sql", "triggers.sql"}
}

// CreateTarget creates the user to restore into, refusing one that exists: with no way to
// log in (NO AUTHENTICATION from 18c; before, a random password nobody is told, expired and
// locked: the objects are created and loaded by this adapter's account, and nobody needs to
// connect as the restored schema), an unlimited quota on one tablespace, and nothing else
// granted. The tablespace is the source's default one when it exists here and is writable
// (a restore after the drop, or on another server, finds it gone; the verify-restore gate
// finds it read-only, since the cut made it so, and the cut state is never undone for a
// copy), else the database's default permanent tablespace.
func (a *Adapter) CreateTarget(ctx context.Context, object string, info engine.SourceInfo) error {
	o, err := validOwner(object)
	if err != nil {
		return err
	}
	c, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	me, err := a.first(ctx, c, qSessionInfo)
	if err != nil {
		return fmt.Errorf("read session user: %w", err)
	}
	if me == nil {
		return fmt.Errorf("read session user: no row")
	}
	if str(me[1]) == "CDB$ROOT" {
		return fmt.Errorf("this connection is in CDB$ROOT, where only common users live; restore into a PDB (or a non-CDB) through a profile connected to it: %w", engine.ErrRefused)
	}
	if strings.EqualFold(str(me[0]), o) {
		return fmt.Errorf("%s is the account this connection logs in as: %w", o, engine.ErrRefused)
	}
	u, err := a.lookupUser(ctx, c, o)
	if err != nil {
		return err
	}
	if u != nil {
		return fmt.Errorf("user %s already exists; restore into a new name (--into) or drop it first: %w", o, engine.ErrRefused)
	}
	v, err := a.first(ctx, c, qVersion)
	if err != nil {
		return fmt.Errorf("read server version: %w", err)
	}
	version := ""
	if v != nil {
		version = str(v[0])
	}
	ts, err := a.restoreTablespace(ctx, c, info.Tablespace)
	if err != nil {
		return err
	}
	stmt := "CREATE USER " + q(o) + " NO AUTHENTICATION DEFAULT TABLESPACE " + q(ts) + " QUOTA UNLIMITED ON " + q(ts)
	if major(version) < noAuthenticationSince {
		stmt = "CREATE USER " + q(o) + ` IDENTIFIED BY "` + randomPassword() + `" DEFAULT TABLESPACE ` + q(ts) + " QUOTA UNLIMITED ON " + q(ts) +
			" PASSWORD EXPIRE ACCOUNT LOCK"
	}
	err = a.exec(ctx, c, stmt)
	if isCode(err, oraUserConflict) {
		return fmt.Errorf("user or role %s already exists; restore into a new name (--into): %w", o, engine.ErrRefused)
	}
	if err != nil {
		// Not %v of the statement: before 18c it holds the throwaway password.
		return fmt.Errorf("create user %s: %w", o, err)
	}
	return nil
}

// major is the first number of a version such as "19.0.0.0.0" (0 when it is not one).
func major(version string) int {
	head, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(head)
	if err != nil {
		return 0
	}
	return n
}

// randomPassword is 96 random bits with an upper and a lower case letter, a digit and two
// special characters in front, so that a password verify function accepts it.
func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "Rv7_#" + hex.EncodeToString(b)
}

// restoreTablespace picks the new schema's tablespace (see CreateTarget).
func (a *Adapter) restoreTablespace(ctx context.Context, c conn, source string) (string, error) {
	if source != "" && !systemTablespaces[source] {
		if _, err := quoteIdent(source); err == nil {
			r, err := a.first(ctx, c, qTablespace, source)
			if err != nil {
				return "", fmt.Errorf("read tablespace %s: %w", source, err)
			}
			if r != nil && str(r[0]) == statusOnline && str(r[1]) == "PERMANENT" {
				return source, nil
			}
		}
	}
	names, err := a.strings1(ctx, c, qDefaultPermanent)
	if err != nil {
		return "", fmt.Errorf("read the default permanent tablespace: %w", err)
	}
	if len(names) == 0 || names[0] == "" {
		return "", fmt.Errorf("the database has no default permanent tablespace to restore into")
	}
	if _, err := quoteIdent(names[0]); err != nil {
		return "", err
	}
	return names[0], nil
}

// RunScript replays a DDL file of the archive inside the schema (ApplyDDL): statements the
// file marks as printed for the source schema are rewritten to name this one.
func (a *Adapter) RunScript(ctx context.Context, object, script string) error {
	return a.ApplyDDL(ctx, object, script)
}

// LoadTable inserts the archived rows (RestoreTable, array-bound batches). A PDB's tables are
// archived as "SCHEMA.TABLE" and restored into the one target schema as TABLE, where the
// table DDL (rewritten to the target) created them.
func (a *Adapter) LoadTable(ctx context.Context, object, table string, cols []engine.Column, rows func(yield func(row [][]byte) error) error) (int64, error) {
	o, err := validOwner(object)
	if err != nil {
		return 0, err
	}
	c, err := a.open(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	name := table
	if owner, rest, ok := strings.Cut(table, "."); ok && owner != "" && rest != "" {
		// A schema's own table may hold a dot too: the one the DDL created wins.
		n, err := a.int1(ctx, c, qTableExists, o, table)
		if err != nil {
			return 0, fmt.Errorf("look up table %s.%s: %w", o, table, err)
		}
		if n == 0 {
			name = rest
		}
	}
	return a.restoreTable(ctx, c, o, name, cols, rows, 0)
}

// Checksums are the archive's own content checksum (archive.RowSum, "rowsum-sha256:") of
// every row the export's Scan streams from each table. Oracle has no CHECKSUM TABLE, and a
// server-side aggregate was ruled out: ORA_HASH is 32 bits and STANDARD_HASH refuses LOBs,
// so neither is exact for every archived type. The Scan values are exact by construction
// (the archive is lossless), the sum ignores row order, and it is the very checksum the
// manifest records at export and Verify recomputes: two schemas with the same table
// definitions (same column order) and the same rows have the same checksums, any differing
// value changes them, and the source's equal the manifest's. The price is reading every row
// into the worker once more. A table missing from the schema has the checksum "".
func (a *Adapter) Checksums(ctx context.Context, object string, tables []string) (map[string]string, error) {
	t, err := parseTarget(object)
	if err != nil {
		return nil, err
	}
	if t.isPDB {
		return nil, fmt.Errorf("%s: checksums compare schemas; a pluggable database's archive is checked by Verify: %w", t, engine.ErrRefused)
	}
	src, err := a.Source(ctx, t.name, engine.AccessSnapshot{})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	known := map[string]bool{}
	for _, n := range src.Tables() {
		known[n] = true
	}
	out := map[string]string{}
	for _, table := range tables {
		name := table
		if !known[name] {
			_, rest, ok := strings.Cut(table, ".")
			if !ok || !known[rest] {
				out[table] = ""
				continue
			}
			name = rest
		}
		sum, err := rowSum(ctx, src, name)
		if err != nil {
			return nil, err
		}
		out[table] = sum
	}
	return out, nil
}

func rowSum(ctx context.Context, src engine.Source, table string) (string, error) {
	rows, err := src.Scan(ctx, table)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var sum archive.RowSum
	dst := make([][]byte, len(rows.Columns()))
	for rows.Next(dst) {
		if err := sum.AddRow(dst); err != nil {
			return "", fmt.Errorf("checksum of %s: %w", table, err)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("checksum of %s: %w", table, err)
	}
	return sum.String(), nil
}

// DropTarget drops a scratch schema of the verify-restore gate (DROP USER .. CASCADE), and
// nothing else: a name without the scratch prefix is refused, so that no mistake upstream
// can make it drop a real schema. A restore under another name that failed half way is left
// for a DBA to look at and drop by hand. Already gone counts as dropped.
func (a *Adapter) DropTarget(ctx context.Context, object string) error {
	t, err := parseTarget(object)
	if err != nil {
		return err
	}
	if t.isPDB || !isScratch(t.name) {
		return fmt.Errorf("%s is not a scratch schema of the verify-restore gate (%s...); retire drops no other restore target: look at it, then drop it by hand (DROP USER %s CASCADE): %w",
			t, scratchPrefix, q(t.name), engine.ErrRefused)
	}
	c, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := a.refuseOwnAccount(ctx, c, t.name); err != nil {
		return err
	}
	u, err := a.lookupUser(ctx, c, t.name)
	if err != nil {
		return err
	}
	if u == nil {
		return nil
	}
	if u.maintained {
		return fmt.Errorf("%s is an Oracle-maintained user: %w", t.name, engine.ErrRefused)
	}
	dctx, cancel := ctx, context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		dctx, cancel = context.WithTimeout(ctx, dropTimeout)
	}
	defer cancel()
	err = c.Exec(dctx, "DROP USER "+q(t.name)+" CASCADE")
	if err != nil && !isCode(err, oraNoUser) {
		return fmt.Errorf("drop scratch user %s: %w", t.name, classify(err))
	}
	return nil
}
