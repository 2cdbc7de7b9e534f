package mysql

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

func TestParseGrant(t *testing.T) {
	for _, tc := range []struct {
		line, privs, on string
		option          bool
		db              string // a database the line targets
	}{
		{"GRANT SELECT, INSERT ON `app`.* TO `u`@`%` WITH GRANT OPTION", "SELECT, INSERT", "`app`.*", true, "app"},
		{"GRANT SELECT (`actor_id`, `first_name`), UPDATE (`last_name`) ON `app`.`actor` TO `u`@`%`",
			"SELECT (`actor_id`, `first_name`), UPDATE (`last_name`)", "`app`.`actor`", false, "app"},
		{"GRANT EXECUTE ON PROCEDURE `app`.`film_in_stock` TO `u`@`%`", "EXECUTE", "PROCEDURE `app`.`film_in_stock`", false, "app"},
		{"GRANT EXECUTE, ALTER ROUTINE ON FUNCTION `app`.`f` TO 'u'@'h'", "EXECUTE, ALTER ROUTINE", "FUNCTION `app`.`f`", false, "app"},
		{"GRANT SELECT ON `my\\_db`.* TO `o'brien`@`10.0.%`", "SELECT", "`my\\_db`.*", false, "my_db"},
		{"GRANT SELECT (`password`) ON `app`.`users` TO `u`@`%`", "SELECT (`password`)", "`app`.`users`", false, "app"},
		{"GRANT SELECT (`a``b`, `c d`) ON `app`.`t` TO `u`@`%`", "SELECT (`a``b`, `c d`)", "`app`.`t`", false, "app"},
		{"GRANT ALL PRIVILEGES ON `app`.* TO `r`", "ALL PRIVILEGES", "`app`.*", false, "app"},
		{`GRANT SELECT ON "app".* TO "u"@"%"`, "SELECT", "`app`.*", false, "app"},
		{"GRANT USAGE ON `app`.* TO `u`@`%` WITH GRANT OPTION", "USAGE", "`app`.*", true, "app"},
	} {
		g, ok := parseGrant(tc.line)
		require.True(t, ok, tc.line)
		require.Equal(t, tc.privs, g.privs, tc.line)
		require.Equal(t, tc.on, g.obj.sql(), tc.line)
		require.Equal(t, tc.option, g.grantOption, tc.line)
		require.True(t, g.obj.on(tc.db), tc.line)
		eg := g.grant("u", "%")
		require.Equal(t, tc.line, eg.Statement, "plain lines are kept as printed")
		require.False(t, holdsSecret(eg), tc.line)
	}

	for _, line := range []string{
		"GRANT `role1` TO `u`@`%`",
		"GRANT `r`@`%` TO `u`@`%`",
		"GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION",
		"REVOKE SELECT ON `app`.* FROM `u`@`%`",
		"SET DEFAULT ROLE `r` FOR `u`@`%`",
		"GRANT SELECT; DROP TABLE x ON `app`.* TO `u`@`%`",
		"GRANT SELECT ON `app`.*; DROP TABLE x TO `u`@`%`",
	} {
		_, ok := parseGrant(line)
		require.False(t, ok, line)
	}
}

func TestGrantLinesNeverKeepSecrets(t *testing.T) {
	for _, line := range []string{
		"GRANT USAGE ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*7C67218EF7410F248763DC99AEDC705367393C4A'",
		"GRANT SELECT ON `app`.* TO `u`@`%` IDENTIFIED BY PASSWORD '*7C67218EF7410F248763DC99AEDC705367393C4A'",
		"GRANT SELECT ON `app`.* TO `u`@`%` IDENTIFIED VIA ed25519 USING 'ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY'",
		"GRANT SELECT ON `app`.* TO 'u'@'%' IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$xyz'",
	} {
		g, ok := parseGrant(line)
		require.True(t, ok, line)
		eg := g.grant("u", "%")
		require.NotContains(t, eg.Statement, "PASSWORD", line)
		require.NotContains(t, eg.Statement, "IDENTIFIED", line)
		require.NotContains(t, eg.Statement, "'", line)
		require.False(t, holdsSecret(eg), line)
	}
	g, _ := parseGrant("GRANT USAGE ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*7C67218EF7410F248763DC99AEDC705367393C4A'")
	require.True(t, g.obj.global)
	require.True(t, g.usageOnly())
	require.True(t, holdsSecret(engine.Grant{Statement: "GRANT USAGE ON *.* TO u IDENTIFIED BY PASSWORD '*AB'"}))
	require.False(t, holdsSecret(engine.Grant{Statement: "GRANT SELECT (`password`) ON `a`.`t` TO `u`@`%`"}))
}

func TestParsePrivilegesRefusesInjection(t *testing.T) {
	for _, s := range []string{
		"", "SELECT; DROP DATABASE x", "SELECT (`a`), DROP DATABASE x --", "SELECT (a) ON *.* TO x", "SELECT (`a`",
		"SELECT (`a`) x", "SEL\nECT", "SELECT (`a`; DROP)",
	} {
		_, err := parsePrivileges(s)
		require.Error(t, err, "%q", s)
	}
	for _, s := range []string{"`app`", "`app`.* TO x", "*", "`app`.`t`; DROP", "PROCEDURE `app`.*", "app.`t` x", "`app`.``"} {
		_, err := parseObject(s)
		require.Error(t, err, "%q", s)
	}
}

func TestQuoting(t *testing.T) {
	require.Equal(t, "`a``b`", quoteIdent("a`b"))
	s, err := quoteString("o'brien")
	require.NoError(t, err)
	require.Equal(t, "'o''brien'", s)
	for _, bad := range []string{`a\`, "a\x00", "a\nb"} {
		_, err := quoteString(bad)
		require.ErrorIs(t, err, engine.ErrRefused, "%q", bad)
	}
	require.Equal(t, "_retire_q_app", quarantineName("app"))
	long := quarantineName("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl")
	require.Len(t, long, 64)
	require.NoError(t, ValidIdentifier(long))
}

func TestSmallHelpers(t *testing.T) {
	require.Equal(t, "10.0.0.7", clientHost("10.0.0.7:51234"))
	require.Equal(t, "localhost", clientHost("localhost"))
	require.Equal(t, "::1", clientHost("[::1]:5000"))
	require.Equal(t, "app.example.com", clientHost("app.example.com:3306"))

	require.True(t, likeMatch("10.0.%", "10.0.3.4"))
	require.True(t, likeMatch("%", "anything"))
	require.True(t, likeMatch("Host_1", "host21"))
	require.False(t, likeMatch(`host\_1`, "host21"))
	require.False(t, likeMatch("10.0.%", "10.1.0.1"))

	require.True(t, sameSchema(`my\_db`, "my_db"))
	require.True(t, sameSchema("my_db", "my_db"))
	require.False(t, sameSchema("my%", "my_db"))

	require.True(t, lockedIn("CREATE USER `u`@`%` IDENTIFIED BY PASSWORD '*AB' ACCOUNT LOCK"))
	require.False(t, lockedIn("CREATE USER `u`@`%` IDENTIFIED BY PASSWORD '*AB'"))
	require.False(t, lockedIn("CREATE USER 'u'@'%' IDENTIFIED WITH 'x' AS 'ACCOUNT LOCK' REQUIRE NONE ACCOUNT UNLOCK"))

	require.Equal(t, accountKey{"o'brien", "10.0.%"}, parseGrantee("'o'brien'@'10.0.%'"))
	require.Equal(t, accountKey{"role1", ""}, parseGrantee("'role1'@''"))
	require.Equal(t, accountKey{"a@b", "h"}, parseGrantee("'a@b'@'h'"))

	views := map[string]string{
		"a": "CREATE VIEW `a` AS select * from `c`",
		"b": "CREATE VIEW `b` AS select 1",
		"c": "CREATE VIEW `c` AS select * from `b`",
	}
	require.Equal(t, []string{"b", "c", "a"}, orderViews([]string{"a", "b", "c"}, views))

	require.Equal(t, engine.KindUint64, kindOf("bigint", "bigint(20) unsigned"))
	require.Equal(t, engine.KindInt64, kindOf("int", "int(10) unsigned"))
	require.Equal(t, engine.KindText, kindOf("decimal", "decimal(65,30)"))
	require.Equal(t, engine.KindBytes, kindOf("point", "point"))
}
