package mysql

import (
	"context"
	"fmt"
	"strings"
	"time"

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

// Watch looks at the server's sessions (LookServer) every PollInterval until `until` (at least once) and folds
// each look into acc. Each look has its own deadline and a failed look ends the watch with
// its error: the caller retries, resuming from acc. Connections idle longer than a few
// seconds are closed, so a long interval holds nothing between looks.
func (a *Adapter) Watch(ctx context.Context, db string, until time.Time, acc *engine.Sampler) error {
	if err := ValidIdentifier(db); err != nil {
		return err
	}
	pool, err := a.open()
	if err != nil {
		return err
	}
	defer pool.Close()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		look, err := a.look(ctx, pool, db)
		if err != nil {
			return err
		}
		acc.Add(look)
		left := time.Until(until)
		if left <= 0 {
			return nil
		}
		timer.Reset(min(a.cfg.PollInterval, left))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
	}
}
