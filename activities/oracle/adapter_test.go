package oracle

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

func TestNewDefaults(t *testing.T) {
	a, err := New(Config{Service: "FREEPDB1", User: "retire"})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", a.cfg.Host)
	require.Equal(t, 1521, a.cfg.Port)
	require.Equal(t, 30*time.Second, a.cfg.QueryTimeout)
	require.Equal(t, 5*time.Second, a.cfg.PollInterval)
	require.Equal(t, "read-only", a.cfg.TablespaceMode)
	require.Equal(t, 8, a.cfg.LOBPrefetchRows)

	_, err = New(Config{User: "retire"})
	require.ErrorIs(t, err, engine.ErrRefused, "a service name is required")
}

func TestErrorsNeverCarryThePassword(t *testing.T) {
	const secret = "s3cr3t-never-logged"
	// A port nobody listens on: the dial fails at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	a, err := New(Config{Host: "127.0.0.1", Port: port, Service: "FREEPDB1", User: "retire", Password: secret, QueryTimeout: 2 * time.Second})
	require.NoError(t, err)
	err = a.Validate(bg(), "SCOTT")
	require.Error(t, err)
	require.NotContains(t, err.Error(), secret)
	require.NotErrorIs(t, err, engine.ErrRefused, "an unreachable server is retried")

	_, err = New(Config{Host: "127.0.0.1", Service: "X", User: "retire", Password: secret, Params: map[string]string{"LOB FETCH": "maybe"}})
	require.ErrorIs(t, err, engine.ErrRefused)
	require.NotContains(t, err.Error(), secret)

	// Should a driver ever print it, it is cut out and the ORA- code kept.
	r := redact(errors.New("ORA-01017: invalid credential "+secret), secret)
	require.NotContains(t, r.Error(), secret)
	require.Equal(t, 1017, oraCode(r))
}

func TestORACodes(t *testing.T) {
	require.Equal(t, 1927, oraCode(ora(1927)))
	require.Equal(t, 959, oraCode(errors.New("wrapped: ORA-00959: tablespace 'X' does not exist")))
	require.Zero(t, oraCode(errors.New("connection reset")))
	require.Zero(t, oraCode(nil))
	require.True(t, isCode(ora(65011), oraNoPDB, oraPDBClosed))
	require.False(t, isCode(nil, 0))
}

func TestQuoting(t *testing.T) {
	for in, want := range map[string]string{"SCOTT": `"SCOTT"`, "APP$X#1": `"APP$X#1"`, "Mixed Case": `"Mixed Case"`} {
		got, err := quoteIdent(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{`A"B`, "A\x00B", "", strings.Repeat("X", 129), "A\nB"} {
		_, err := quoteIdent(bad)
		require.ErrorIs(t, err, engine.ErrRefused, "%q", bad)
	}
	o, n, ok := splitQualified(`"SCOTT"."EMP$#"`)
	require.True(t, ok)
	require.Equal(t, []string{"SCOTT", "EMP$#"}, []string{o, n})
	for _, bad := range []string{`"SCOTT".EMP`, `SCOTT.EMP`, `"SCOTT"."EMP"."X"`, `"SC"OTT"."EMP"`, `""."EMP"`} {
		_, _, ok := splitQualified(bad)
		require.False(t, ok, bad)
	}
	g, err := grantee("PUBLIC")
	require.NoError(t, err)
	require.Equal(t, "PUBLIC", g)

	tg, err := parseTarget("pdb:salesPDB")
	require.NoError(t, err)
	require.Equal(t, target{name: "SALESPDB", isPDB: true}, tg)
	require.Equal(t, "pdb:SALESPDB", tg.String())
	require.NoError(t, ValidObject("scott"))
	require.ErrorIs(t, ValidObject("ctxsys"), engine.ErrRefused)
}
