package mysql

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// The plan's bytes, and the bytes freed, are what the files hold, not InnoDB's statistics:
// a table loaded with its statistics frozen (STATS_AUTO_RECALC=0, as a table loaded seconds
// before a plan effectively has) reports a fraction of its .ibd file in TABLES.
func TestInventoryBytesAreFileSizes(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := createDB(t, root, "fp")
	q := func(name string) string { return quoteIdent(db) + "." + quoteIdent(name) }
	mustExec(t, root,
		"CREATE TABLE "+q("big")+" (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(300), KEY (v(20))) ENGINE=InnoDB STATS_PERSISTENT=1 STATS_AUTO_RECALC=0",
		"INSERT INTO "+q("big")+" (v) SELECT CONCAT(seq, REPEAT('x', 250)) FROM "+quoteIdent(db)+".seq_1_to_60000",
		"CREATE TABLE "+q("parted")+" (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB PARTITION BY HASH(id) PARTITIONS 3",
		"INSERT INTO "+q("parted")+" SELECT seq, REPEAT('y', 90) FROM "+quoteIdent(db)+".seq_1_to_5000",
		"CREATE TABLE "+q("odd-name$1")+" (id INT PRIMARY KEY) ENGINE=InnoDB",
		"CREATE TABLE "+q("löwe")+" (id INT PRIMARY KEY) ENGINE=InnoDB",
		"CREATE TABLE "+q("flat")+" (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=MyISAM",
		"INSERT INTO "+q("flat")+" SELECT seq, REPEAT('z', 90) FROM "+quoteIdent(db)+".seq_1_to_3000",
	)

	inv, err := a.Inventory(ctx, db)
	require.NoError(t, err)
	method := bytesCounted(t, inv)
	require.Contains(t, method, "file sizes of 6 InnoDB tablespaces (information_schema.INNODB_SYS_TABLESPACES.FILE_SIZE)", "big, 3 partitions, odd-name$1, löwe")
	require.Contains(t, method, "estimate for 1 table (MyISAM 1) from information_schema.TABLES")
	require.NotContains(t, method, "shared")

	bytes := map[string]int64{}
	var total int64
	for _, tb := range inv.Tables {
		bytes[tb.Name] = tb.Bytes
		total += tb.Bytes
	}
	require.Equal(t, total, inv.TotalBytes)

	// What the server reports as statistics is far below the file.
	var stats int64
	require.NoError(t, root.QueryRowContext(ctx, "SELECT DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'big'", db).Scan(&stats))

	// The files themselves, where the server's data directory is readable from here.
	var datadir string
	require.NoError(t, root.QueryRowContext(ctx, "SELECT @@datadir").Scan(&datadir))
	files := filesOf(t, filepath.Join(datadir, db))
	if files == nil {
		t.Logf("data directory %s not readable here: file sizes checked against the server only", datadir)
		var want int64
		require.NoError(t, root.QueryRowContext(ctx, "SELECT SUM(FILE_SIZE) FROM information_schema.INNODB_SYS_TABLESPACES WHERE NAME LIKE ?", db+"/big").Scan(&want))
		require.Equal(t, want, bytes["big"])
		require.Less(t, stats*2, bytes["big"])
		return
	}
	t.Logf("big: %d bytes in its .ibd, %d counted, %d by InnoDB statistics", files["big.ibd"], bytes["big"], stats)
	require.Greater(t, files["big.ibd"], int64(10<<20), "the load made a file of some size")
	within(t, files["big.ibd"], bytes["big"], "big")
	require.Less(t, stats*2, files["big.ibd"], "the statistics are stale, so the test tells file sizes from statistics")
	within(t, files["parted#P#p0.ibd"]+files["parted#P#p1.ibd"]+files["parted#P#p2.ibd"], bytes["parted"], "parted")
	within(t, files["odd@002dname@00241.ibd"], bytes["odd-name$1"], "odd-name$1")
	within(t, files["l@1iwe.ibd"], bytes["löwe"], "löwe")
	within(t, files["flat.MYD"]+files["flat.MYI"], bytes["flat"], "flat")
	var onDisk int64
	for name, size := range files {
		if ext := filepath.Ext(name); ext == ".ibd" || ext == ".MYD" || ext == ".MYI" {
			onDisk += size
		}
	}
	within(t, onDisk, inv.TotalBytes, "the database")

	// The footprint the Archive activity measures is the same count.
	n, m, err := a.Footprint(ctx, db, engine.AccessSnapshot{})
	require.NoError(t, err)
	require.Equal(t, inv.TotalBytes, n)
	require.Equal(t, method, m)
}

// Under strategy rename the tables wait in the quarantine schema: the footprint counts both.
func TestFootprintCountsTheQuarantineSchema(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := createDB(t, root, "fpq")
	quarantine := quarantineName(db)
	mustExec(t, root,
		"CREATE DATABASE "+quoteIdent(quarantine),
		"CREATE TABLE "+quoteIdent(db)+".left_behind (id INT PRIMARY KEY) ENGINE=InnoDB",
		"CREATE TABLE "+quoteIdent(quarantine)+".moved (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB",
		"INSERT INTO "+quoteIdent(quarantine)+".moved SELECT seq, REPEAT('m', 180) FROM "+quoteIdent(db)+".seq_1_to_20000",
	)
	only, _, err := a.Footprint(ctx, db, engine.AccessSnapshot{})
	require.NoError(t, err)
	both, method, err := a.Footprint(ctx, db, engine.AccessSnapshot{Object: db, Strategy: engine.StrategyRename, Quarantine: quarantine})
	require.NoError(t, err)
	require.Greater(t, both, only+int64(3<<20), "the moved table's file is counted")
	require.Contains(t, method, "file sizes of 2 InnoDB tablespaces")

	_, _, err = a.Footprint(ctx, db, engine.AccessSnapshot{Object: db, Strategy: engine.StrategyRename, Quarantine: "elsewhere"})
	require.ErrorIs(t, err, engine.ErrRefused, "a snapshot naming another schema is refused, as for the drop")
}

// MySQL 8 moved the tablespaces to INNODB_TABLESPACES (with general tablespaces, which a
// drop does not free); no MySQL 8 server runs here, so the statement is checked as text.
func TestTablespaceQueryByServer(t *testing.T) {
	for _, c := range []struct {
		si        serverInfo
		from      string
		spaceType bool
	}{
		{serverInfo{engine: "mariadb", version: "10.11.19-MariaDB-0+deb12u1"}, "information_schema.INNODB_SYS_TABLESPACES", false},
		{serverInfo{engine: "mariadb", version: "11.4.2-MariaDB"}, "information_schema.INNODB_SYS_TABLESPACES", false},
		{serverInfo{engine: "mysql", version: "8.0.36"}, "information_schema.INNODB_TABLESPACES", true},
		{serverInfo{engine: "mysql", version: "8.4.3-commercial"}, "information_schema.INNODB_TABLESPACES", true},
		{serverInfo{engine: "mysql", version: "9.1.0"}, "information_schema.INNODB_TABLESPACES", true},
		{serverInfo{engine: "mysql", version: "5.7.44-log"}, "information_schema.INNODB_SYS_TABLESPACES", false},
	} {
		from, query := tablespaceQuery(c.si)
		require.Equal(t, c.from, from, c.si.version)
		require.Equal(t, "SELECT NAME, FILE_SIZE FROM "+c.from+" WHERE ", query[:len("SELECT NAME, FILE_SIZE FROM "+c.from+" WHERE ")], c.si.version)
		require.True(t, strings.HasSuffix(query, "NAME LIKE ? ESCAPE '!'"), query)
		require.Equal(t, c.spaceType, strings.Contains(query, "SPACE_TYPE = 'Single' AND "), query)
	}
	require.Equal(t, 8, majorVersion("8.0.36-log"))
	require.Equal(t, 10, majorVersion("10.11.19-MariaDB"))
	require.Equal(t, 0, majorVersion("unknown"))
}

func TestTablespaceNames(t *testing.T) {
	for name, want := range map[string]string{
		"plain_Name9": "plain_Name9", "odd-name$1": "odd@002dname@00241", "a b#c": "a@0020b@0023c", "x.y/z": "x@002ey@002fz",
	} {
		got, ok := fileNameASCII(name)
		require.True(t, ok, name)
		require.Equal(t, want, got, name)
	}
	_, ok := fileNameASCII("löwe")
	require.False(t, ok, "beyond ASCII the server encodes")
	require.Equal(t, "rt!_a!%b!!c", likeEscape("rt_a%b!c"))
}

func TestFootprintMethod(t *testing.T) {
	from := "information_schema.INNODB_SYS_TABLESPACES"
	require.Equal(t, "file sizes of 4 InnoDB tablespaces (information_schema.INNODB_SYS_TABLESPACES.FILE_SIZE)",
		footprint{spaces: 4, spacesFrom: from}.method())
	require.Equal(t, "file sizes of 1 InnoDB tablespace (information_schema.INNODB_SYS_TABLESPACES.FILE_SIZE); "+
		"estimate for 3 tables (Aria 1, InnoDB 2) from information_schema.TABLES (DATA_LENGTH + INDEX_LENGTH), "+
		"2 InnoDB tables in a shared InnoDB tablespace, which stays as large as it is (the drop frees space inside it)",
		footprint{spaces: 1, spacesFrom: from, estimated: map[string]int{"InnoDB": 2, "Aria": 1}, shared: 2}.method())
	require.Equal(t, "estimate for 1 table (InnoDB 1) from information_schema.TABLES (DATA_LENGTH + INDEX_LENGTH); "+
		"tablespace file sizes could not be read: information_schema.INNODB_SYS_TABLESPACES: Error 1227: Access denied",
		footprint{spacesFrom: from, estimated: map[string]int{"InnoDB": 1}, unreadable: from + ": Error 1227: Access denied"}.method())
	require.Equal(t, "no tables", footprint{}.method())
}

// An account without PROCESS cannot read the tablespaces: every table is then an estimate,
// and the count says why.
func TestFootprintWithoutProcessPrivilege(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	db := createDB(t, root, "fpp")
	user := createUser(t, root, "fpp", "pw-fpp-1")
	mustExec(t, root,
		"CREATE TABLE "+quoteIdent(db)+".t (id INT PRIMARY KEY) ENGINE=InnoDB",
		"GRANT SELECT ON "+quoteIdent(db)+".* TO '"+user+"'@'%'",
	)
	a, err := New(Config{Host: testHost, Port: testPort, User: user, Password: "pw-fpp-1"})
	require.NoError(t, err)
	n, method, err := a.Footprint(ctx, db, engine.AccessSnapshot{})
	require.NoError(t, err)
	require.Positive(t, n)
	require.Contains(t, method, "estimate for 1 table (InnoDB 1)")
	require.Contains(t, method, "tablespace file sizes could not be read: information_schema.INNODB_SYS_TABLESPACES")
	require.NotContains(t, method, "shared", "unread is not shared")
}

func bytesCounted(t *testing.T, inv engine.Inventory) string {
	t.Helper()
	for _, kv := range inv.Extra {
		if kv.Key == "bytes counted" {
			return kv.Value
		}
	}
	t.Fatalf("the inventory does not say how bytes were counted: %v", inv.Extra)
	return ""
}

// filesOf lists a database directory's files with their sizes; nil when it is not
// readable from here (a server on another machine, another user).
func filesOf(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for _, e := range entries {
		info, err := e.Info()
		require.NoError(t, err)
		out[e.Name()] = info.Size()
	}
	return out
}

// within holds got to 2% of want.
func within(t *testing.T, want, got int64, what string) {
	t.Helper()
	require.Positive(t, want, what)
	require.InDelta(t, float64(want), float64(got), float64(want)*0.02, "%s: %d bytes on disk, %d counted", what, want, got)
}
