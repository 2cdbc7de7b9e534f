package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/dataretire/retire/activities/engine"
)

// Sessions is one look at the clients that reach db: connected to it, holding its tables
// open or naming them in their statement, whatever their default database (LookServer,
// then Reaching). MySQL has no program name in the processlist, so Program stays empty.
func (a *Adapter) Sessions(ctx context.Context, db string) ([]engine.Session, error) {
	if err := ValidIdentifier(db); err != nil {
		return nil, err
	}
	pool, err := a.open()
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return a.look(ctx, pool, db)
}

func (a *Adapter) look(ctx context.Context, q querier, db string) ([]engine.Session, error) {
	look, err := a.lookServer(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("look for the clients of %q: %w", db, err)
	}
	return a.Reaching(look, db), nil
}

// clientHost drops the client port: "10.0.0.7:51234" -> "10.0.0.7", "[::1]:5" -> "::1".
// Socket clients show as "localhost" with no port.
func clientHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && i+1 < len(h) && allDigits.MatchString(h[i+1:]) {
		h = h[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}
