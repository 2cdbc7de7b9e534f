package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dataretire/retire/activities/engine"
)

// RestoreOptions narrows a restore.
type RestoreOptions struct {
	// Tables restores only these tables (and then no views, routines, triggers or events,
	// which may need the others).
	Tables []string
	// Grants also replays grants.sql: off by default, since it gives accounts access again.
	Grants bool
	// Progress is called after each table.
	Progress func(table string, rows int64)
}

// RestoreResult says what a restore rebuilt.
type RestoreResult struct {
	Object  string   `json:"object"`
	Tables  int      `json:"tables"`
	Rows    int64    `json:"rows"`
	Scripts []string `json:"scripts"`
}

// ScriptOrder is a Loader whose engine archives other object DDL files than views.sql,
// routines.sql, triggers.sql and events.sql (Oracle: sequences, indexes, foreign keys,
// synonyms...): Restore replays before, in order, right after creating the object (even for
// a restore of some tables only: they must not need the tables), and after, in order,
// instead of the standard four once every table is loaded. grants.sql stays an option.
type ScriptOrder interface {
	RestoreScripts() (before, after []string)
}

// Restore rebuilds the archive at path as a new object named into: tables (DDL, then data),
// then views, routines, triggers and events (or the engine's own scripts: ScriptOrder).
// Every file is checked against its SHA-256 in the manifest as it is read, and every
// table's row count against the manifest. A restore that fails drops what it created, so
// nothing half restored is left looking complete (or, when the engine refuses to drop it,
// says so).
func Restore(ctx context.Context, store *Store, at string, loader engine.Loader, into string, opts RestoreOptions) (res RestoreResult, err error) {
	m, _, err := ReadManifest(ctx, store, at)
	if err != nil {
		return res, err
	}
	tables := m.Tables
	if len(opts.Tables) > 0 {
		tables = nil
		for _, name := range opts.Tables {
			i := slices.IndexFunc(m.Tables, func(t TableResult) bool { return t.Name == name })
			if i < 0 {
				return res, fmt.Errorf("table %q is not in the archive of %s: %w", name, m.Object, engine.ErrRefused)
			}
			tables = append(tables, m.Tables[i])
		}
	}
	if err := loader.CreateTarget(ctx, into, m.Source); err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			if derr := loader.DropTarget(context.WithoutCancel(ctx), into); derr != nil {
				err = fmt.Errorf("%w (the partial restore %s was NOT dropped: %v)", err, into, derr)
			} else {
				err = fmt.Errorf("%w (the partial restore %s was dropped)", err, into)
			}
		}
	}()
	res.Object = into
	before, scripts := []string(nil), []string{"views.sql", "routines.sql", "triggers.sql", "events.sql"}
	if so, ok := loader.(ScriptOrder); ok {
		before, scripts = so.RestoreScripts()
	}
	if err := runScripts(ctx, store, at, m, loader, into, before, &res); err != nil {
		return res, err
	}
	for _, t := range tables {
		ddl, err := readChecked(ctx, store, at, t.DDL)
		if err != nil {
			return res, err
		}
		if err := loader.RunScript(ctx, into, string(ddl)); err != nil {
			return res, err
		}
		n, err := loader.LoadTable(ctx, into, t.Name, EngineColumns(t.Columns), func(yield func([][]byte) error) error {
			return ReadTable(ctx, store, at, t, yield)
		})
		if err != nil {
			return res, err
		}
		if n != t.Rows {
			return res, fmt.Errorf("table %s: %d rows loaded, the manifest says %d", t.Name, n, t.Rows)
		}
		res.Tables++
		res.Rows += n
		if opts.Progress != nil {
			opts.Progress(t.Name, n)
		}
	}
	if len(opts.Tables) > 0 {
		return res, nil
	}
	if opts.Grants {
		scripts = append(scripts, "grants.sql")
	}
	err = runScripts(ctx, store, at, m, loader, into, scripts, &res)
	return res, err
}

// runScripts replays the named object DDL files the archive has, in order.
func runScripts(ctx context.Context, store *Store, at string, m Manifest, loader engine.Loader, into string, names []string, res *RestoreResult) error {
	for _, name := range names {
		i := slices.IndexFunc(m.Files, func(f File) bool { return strings.HasSuffix(f.Key, "/"+name) })
		if i < 0 {
			continue
		}
		text, err := readChecked(ctx, store, at, m.Files[i])
		if err != nil {
			return err
		}
		if err := loader.RunScript(ctx, into, string(text)); err != nil {
			return err
		}
		res.Scripts = append(res.Scripts, name)
	}
	return nil
}

// readChecked reads a small file of the archive and refuses it if it is not what the
// manifest says: a restore must not replay DDL that was tampered with.
func readChecked(ctx context.Context, store *Store, at string, f File) ([]byte, error) {
	rc, err := getIn(ctx, store, at, f.Key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, f.Bytes+1))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(b)) != f.Bytes {
		return nil, fmt.Errorf("%s: does not match the manifest (sha256 or size): archive corrupted?", f.Key)
	}
	return b, nil
}
