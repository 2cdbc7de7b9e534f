package oracle

import (
	"context"
	"fmt"
	"slices"

	"github.com/dataretire/retire/activities/engine"
)

const (
	// qOwnerTablespaces are the tablespaces holding the owner's segments, its tables without
	// a segment yet (deferred creation), and its default tablespace.
	qOwnerTablespaces = `SELECT tablespace_name FROM dba_segments WHERE owner = :1
UNION SELECT tablespace_name FROM dba_tables WHERE owner = :2 AND tablespace_name IS NOT NULL
UNION SELECT default_tablespace FROM dba_users WHERE username = :3
ORDER BY 1`
	qTablespace = `SELECT status, contents FROM dba_tablespaces WHERE tablespace_name = :1`
	// qTablespaceUsers is everyone else in a tablespace: DROP TABLESPACE INCLUDING CONTENTS
	// would take their data too, and users whose default it is could no longer create tables.
	qTablespaceUsers = `SELECT owner, what FROM (
  SELECT owner, 'segments' what FROM dba_segments WHERE tablespace_name = :1
  UNION SELECT owner, 'tables' FROM dba_tables WHERE tablespace_name = :2
  UNION SELECT username, 'default tablespace' FROM dba_users WHERE default_tablespace = :3)
WHERE owner <> :4 ORDER BY owner, what`
	qDatabaseDefaults = `SELECT property_value FROM database_properties WHERE property_name IN ('DEFAULT_PERMANENT_TABLESPACE', 'DEFAULT_TEMP_TABLESPACE')`
	qDatafiles        = `SELECT file_name, bytes FROM dba_data_files WHERE tablespace_name = :1 ORDER BY file_name`

	statusOnline   = "ONLINE"
	statusReadOnly = "READ ONLY"
	statusOffline  = "OFFLINE"
)

// tablespace is one tablespace as the dictionary describes it.
type tablespace struct {
	name, status, contents string
	files                  []string
	bytes                  int64
}

// blockedTablespace is a tablespace the owner uses but shares, and why it cannot go.
type blockedTablespace struct {
	name    string
	reasons []string
}

type tablespaceSplit struct {
	own     []tablespace
	blocked []blockedTablespace
}

// tablespacesOf splits the owner's tablespaces into those only it uses (dropped with it)
// and those it shares (kept).
func (a *Adapter) tablespacesOf(ctx context.Context, c conn, owner string) (tablespaceSplit, error) {
	var out tablespaceSplit
	names, err := a.strings1(ctx, c, qOwnerTablespaces, owner, owner, owner)
	if err != nil {
		return out, fmt.Errorf("list tablespaces of %s: %w", owner, err)
	}
	defaults, err := a.databaseDefaults(ctx, c)
	if err != nil {
		return out, err
	}
	for _, n := range names {
		if n == "" {
			continue
		}
		ts, reasons, err := a.checkTablespace(ctx, c, n, owner, defaults)
		if err != nil {
			return out, err
		}
		switch {
		case ts == nil:
		case len(reasons) > 0:
			out.blocked = append(out.blocked, blockedTablespace{name: n, reasons: reasons})
		default:
			out.own = append(out.own, *ts)
		}
	}
	return out, nil
}

func (a *Adapter) databaseDefaults(ctx context.Context, c conn) (map[string]bool, error) {
	names, err := a.strings1(ctx, c, qDatabaseDefaults)
	if err != nil {
		return nil, fmt.Errorf("read database_properties: %w", err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

// checkTablespace describes a tablespace and says why it is not only the owner's (no
// reasons: it is). A tablespace that does not exist is nil.
func (a *Adapter) checkTablespace(ctx context.Context, c conn, name, owner string, defaults map[string]bool) (*tablespace, []string, error) {
	r, err := a.first(ctx, c, qTablespace, name)
	if err != nil {
		return nil, nil, fmt.Errorf("read tablespace %s: %w", name, err)
	}
	if r == nil {
		return nil, nil, nil
	}
	ts := &tablespace{name: name, status: str(r[0]), contents: str(r[1])}
	var reasons []string
	switch {
	case systemTablespaces[name]:
		reasons = append(reasons, "it is a system tablespace")
	case defaults[name]:
		reasons = append(reasons, "it is the database default tablespace")
	case ts.contents != "PERMANENT":
		reasons = append(reasons, "it holds "+ts.contents+" data")
	}
	err = a.each(ctx, c, qTablespaceUsers, []any{name, name, name, owner}, func(r []any) error {
		reasons = append(reasons, str(r[0])+" ("+str(r[1])+")")
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read who uses tablespace %s: %w", name, err)
	}
	err = a.each(ctx, c, qDatafiles, []any{name}, func(r []any) error {
		n, err := num(r[1])
		if err != nil {
			return err
		}
		ts.files = append(ts.files, str(r[0]))
		ts.bytes += n
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list datafiles of %s: %w", name, err)
	}
	return ts, reasons, nil
}

// tablespaceStatus is ONLINE, READ ONLY or OFFLINE, or "" when the tablespace is gone.
func (a *Adapter) tablespaceStatus(ctx context.Context, c conn, name string) (string, error) {
	r, err := a.first(ctx, c, qTablespace, name)
	if err != nil {
		return "", fmt.Errorf("read tablespace %s: %w", name, err)
	}
	if r == nil {
		return "", nil
	}
	return str(r[0]), nil
}

// moveTablespace brings a tablespace to the status want (ONLINE meaning read-write), one
// step at a time and only the steps needed, so that running it again does nothing. Bringing
// an offline tablespace online restores whether it was read-only, hence the second look.
func (a *Adapter) moveTablespace(ctx context.Context, c conn, name, want string) error {
	qn, err := quoteIdent(name)
	if err != nil {
		return err
	}
	for range 3 {
		cur, err := a.tablespaceStatus(ctx, c, name)
		if err != nil {
			return err
		}
		var clause string
		switch {
		case cur == "" || cur == want:
			return nil
		case want == statusOffline:
			clause = "OFFLINE NORMAL"
		case cur == statusOffline:
			clause = "ONLINE"
		case want == statusReadOnly:
			clause = "READ ONLY"
		default:
			clause = "READ WRITE"
		}
		err = a.exec(ctx, c, "ALTER TABLESPACE "+qn+" "+clause)
		if isCode(err, oraNoTablespace, oraAlreadyReadOnly, oraNotReadOnly) {
			continue // gone, or someone got there first: look again
		}
		if err != nil {
			return fmt.Errorf("alter tablespace %s %s: %w", name, clause, err)
		}
	}
	return nil
}

// validStatus is a status a snapshot may hold.
func validStatus(s string) bool {
	return slices.Contains([]string{statusOnline, statusReadOnly, statusOffline}, s)
}

// snapshotTablespaces checks the tablespaces a snapshot names before anything uses them:
// a tampered snapshot must not make the cut or the drop touch a system tablespace.
func snapshotTablespaces(snap engine.AccessSnapshot) error {
	for _, ts := range snap.Tablespaces {
		if _, err := quoteIdent(ts.Name); err != nil {
			return err
		}
		if systemTablespaces[ts.Name] || !validStatus(ts.Status) {
			return fmt.Errorf("snapshot tablespace %q (status %q) is not one a retirement may touch: %w", ts.Name, ts.Status, engine.ErrRefused)
		}
	}
	switch snap.TablespaceMode {
	case "", modeReadOnly, modeOffline:
	default:
		return fmt.Errorf("snapshot tablespace mode %q is not known: %w", snap.TablespaceMode, engine.ErrRefused)
	}
	return nil
}
