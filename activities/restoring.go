package activities

import (
	"context"
	"fmt"
	"sort"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
)

// RestoreTestInput asks to prove an archive restorable before the drop.
type RestoreTestInput struct {
	Target
	Store    string                `json:"store"`
	Path     string                `json:"path"`
	Snapshot engine.AccessSnapshot `json:"snapshot"`
}

// RestoreCheck is the outcome of a test restore.
type RestoreCheck struct {
	OK       bool     `json:"ok"`
	Scratch  string   `json:"scratch"`
	Tables   int      `json:"tables"`
	Rows     int64    `json:"rows"`
	Problems []string `json:"problems,omitempty"`
}

// scratchName is where the test restore goes: beside the object, named so that a DBA who
// finds it knows what it is.
func scratchName(object string) string {
	name := "_retire_v_" + object
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

// ScratchNamer is an adapter whose scratch objects are named otherwise (Oracle: upper-case
// unquoted identifiers, no leading underscore), or that has no place for one (an error).
type ScratchNamer interface {
	ScratchName(object string) (string, error)
}

// scratchFor is where the restore gate of object would restore to, or why it cannot run.
func scratchFor(ad engine.Adapter, connection, object string) (string, error) {
	if _, ok := ad.(engine.Loader); !ok {
		return "", refuse("connection %s: its engine cannot restore, so the restore gate cannot run", connection)
	}
	if n, ok := ad.(ScratchNamer); ok {
		return n.ScratchName(object)
	}
	return scratchName(object), nil
}

// TestRestore restores the archive into a scratch database on the same server, compares
// every table's checksum with the source (still there: access is only cut), and drops the
// scratch whatever happens. A mismatch is a result (OK false), not an error.
func (a *Activities) TestRestore(ctx context.Context, in RestoreTestInput) (RestoreCheck, error) {
	store, err := a.store(ctx, in.Store)
	if err != nil {
		return RestoreCheck{}, err
	}
	ad, err := a.adapter(in.Connection)
	if err != nil {
		return RestoreCheck{}, err
	}
	scratch, err := scratchFor(ad, in.Connection, in.Object)
	if err != nil {
		return RestoreCheck{}, classify(err)
	}
	loader := ad.(engine.Loader)
	defer keepAlive(ctx)()
	// A scratch left by a crashed attempt is ours: start again from nothing.
	if err := loader.DropTarget(ctx, scratch); err != nil {
		return RestoreCheck{}, err
	}
	defer func() { _ = loader.DropTarget(context.WithoutCancel(ctx), scratch) }()
	res, err := archive.Restore(ctx, store, in.Path, loader, scratch, archive.RestoreOptions{})
	if err != nil {
		return RestoreCheck{Scratch: scratch, Problems: []string{err.Error()}}, nil
	}
	m, _, err := archive.ReadManifest(ctx, store, in.Path)
	if err != nil {
		return RestoreCheck{}, err
	}
	var tables []string
	for _, t := range m.Tables {
		tables = append(tables, t.Name)
	}
	source := in.Object
	if in.Snapshot.Strategy == engine.StrategyRename && in.Snapshot.Quarantine != "" {
		source = in.Snapshot.Quarantine
	}
	want, err := loader.Checksums(ctx, source, tables)
	if err != nil {
		return RestoreCheck{}, err
	}
	got, err := loader.Checksums(ctx, scratch, tables)
	if err != nil {
		return RestoreCheck{}, err
	}
	check := RestoreCheck{Scratch: scratch, Tables: res.Tables, Rows: res.Rows}
	for _, t := range tables {
		if want[t] != got[t] {
			check.Problems = append(check.Problems, fmt.Sprintf("table %s: the checksum of the restore %s differs from the source's %s", t, got[t], want[t]))
		}
	}
	sort.Strings(check.Problems)
	check.OK = len(check.Problems) == 0
	return check, nil
}
