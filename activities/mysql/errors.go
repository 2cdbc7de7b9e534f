package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/dataretire/retire/activities/engine"
)

// Server errors that say the account may not do what it asked. No retry can fix them (only
// a DBA granting the privilege), so they are refusals: retrying a denied DROP DATABASE for an
// hour, with access cut, helps nobody.
var accessDenied = map[uint16]bool{
	1044: true, // ER_DBACCESS_DENIED_ERROR: Access denied for user to database
	1045: true, // ER_ACCESS_DENIED_ERROR: Access denied for user (login: wrong password, or no such account)
	1095: true, // ER_KILL_DENIED_ERROR: You are not owner of thread (KILL without CONNECTION ADMIN / SUPER)
	1142: true, // ER_TABLEACCESS_DENIED_ERROR: command denied to user for table
	1143: true, // ER_COLUMNACCESS_DENIED_ERROR: command denied to user for column
	1227: true, // ER_SPECIFIC_ACCESS_DENIED_ERROR: you need (at least one of) the ... privilege(s)
	1370: true, // ER_PROCACCESS_DENIED_ERROR: command denied to user for routine
}

// classify is the one place where the adapter turns the server's access-denied errors into
// refusals (engine.ErrRefused, which the activities do not retry). The server's error stays
// in the chain, so mysqlErrno still reads its number. Every statement the adapter sends goes
// through exec, each, row or conn, which call it; the few that bypass them (table scans,
// LOAD DATA, CHECKSUM TABLE) call it themselves.
func classify(err error) error {
	if err == nil || errors.Is(err, engine.ErrRefused) || !accessDenied[mysqlErrno(err)] {
		return err
	}
	return fmt.Errorf("%w: %w", err, engine.ErrRefused)
}

// conn takes one connection of the pool under the statement deadline (a login refused
// for the account is a refusal, see classify).
func (a *Adapter) conn(ctx context.Context, pool *sql.DB) (*sql.Conn, error) {
	cctx, cancel := a.timeout(ctx)
	defer cancel()
	c, err := pool.Conn(cctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", classify(err))
	}
	return c, nil
}
