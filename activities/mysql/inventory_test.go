package mysql

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// sakilaRows is the fixture's row count per table (payment has 16044 rows in this copy of
// the data, not the 16049 sometimes quoted).
var sakilaRows = map[string]int64{
	"actor": 200, "address": 603, "category": 16, "city": 600, "country": 109, "customer": 599,
	"film": 1000, "film_actor": 5462, "film_category": 1000, "film_text": 1000, "inventory": 4581,
	"language": 6, "payment": 16044, "rental": 16044, "staff": 2, "store": 2,
}

func findAccount(as []engine.Account, user string) (engine.Account, bool) {
	for _, a := range as {
		if a.User == user {
			return a, true
		}
	}
	return engine.Account{}, false
}

func TestInventorySakilaIsExact(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := loadSakila(t, root)
	other := createDB(t, root, "other")

	only := createUser(t, root, "only", "pw-only-1")
	mixed := createUser(t, root, "mixed", "pw-mixed-1")
	runner := createUser(t, root, "runner", "pw-runner-1")
	wild := createUser(t, root, "wild", "pw-wild-1")
	pattern := strings.ReplaceAll(db[:len(db)-2], "_", `\_`) + "%"
	mustExec(t, root,
		fmt.Sprintf("GRANT SELECT, INSERT ON %s.* TO '%s'@'%%'", db, only),
		fmt.Sprintf("GRANT SELECT ON %s.film TO '%s'@'%%'", db, mixed),
		fmt.Sprintf("GRANT SELECT (first_name), UPDATE (last_name) ON %s.actor TO '%s'@'%%'", db, mixed),
		fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", other, mixed),
		fmt.Sprintf("GRANT EXECUTE ON PROCEDURE %s.film_in_stock TO '%s'@'%%'", db, runner),
		fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", pattern, wild),
	)

	before := time.Now().UTC()
	inv, err := a.Inventory(ctx, db)
	require.NoError(t, err)

	require.Equal(t, "mariadb", inv.Engine)
	require.NotEmpty(t, inv.Version)
	require.Equal(t, db, inv.Object)
	require.Equal(t, "utf8mb4", inv.Charset)
	require.NotEmpty(t, inv.Collation)
	require.False(t, inv.TakenAt.Before(before))

	// Tables: exact names, counts checked both against the fixture and against the server.
	require.Len(t, inv.Tables, 16)
	var total int64
	for _, tb := range inv.Tables {
		want, ok := sakilaRows[tb.Name]
		require.True(t, ok, "unexpected table %s", tb.Name)
		require.Equal(t, want, tb.Rows, tb.Name)
		require.Equal(t, count(t, root, "SELECT COUNT(*) FROM "+db+"."+tb.Name), tb.Rows, tb.Name)
		require.Positive(t, tb.Bytes, tb.Name)
		require.NotEmpty(t, tb.Engine, tb.Name)
		total += tb.Rows
	}
	require.Equal(t, total, inv.TotalRows)
	require.Positive(t, inv.TotalBytes)
	require.Equal(t, []string{"actor_info", "customer_list", "film_list", "nicer_but_slower_film_list",
		"sales_by_film_category", "sales_by_store", "staff_list"}, inv.Views)
	require.Equal(t, []engine.Routine{
		{Name: "film_in_stock", Type: "PROCEDURE"}, {Name: "film_not_in_stock", Type: "PROCEDURE"},
		{Name: "get_customer_balance", Type: "FUNCTION"}, {Name: "inventory_held_by_customer", Type: "FUNCTION"},
		{Name: "inventory_in_stock", Type: "FUNCTION"}, {Name: "rewards_report", Type: "PROCEDURE"},
	}, inv.Routines)
	require.Equal(t, []string{"customer_create_date", "del_film", "ins_film", "payment_date", "rental_date", "upd_film"}, inv.Triggers)
	require.Empty(t, inv.Events)

	// Accounts, with how they reach the copy.
	acc, ok := findAccount(inv.Accounts, only)
	require.True(t, ok)
	require.Equal(t, "%", acc.Host)
	require.Equal(t, []string{"database"}, acc.Levels)
	require.True(t, acc.OnlyThisObject)

	acc, ok = findAccount(inv.Accounts, mixed)
	require.True(t, ok)
	require.Equal(t, []string{"table", "column"}, acc.Levels)
	require.False(t, acc.OnlyThisObject, "mixed also reads %s", other)

	acc, ok = findAccount(inv.Accounts, runner)
	require.True(t, ok)
	require.Equal(t, []string{"routine"}, acc.Levels)
	require.True(t, acc.OnlyThisObject)

	_, ok = findAccount(inv.Accounts, wild)
	require.False(t, ok, "a pattern grant is not a grant on the database itself")
	require.Len(t, inv.Accounts, 3, "%+v", inv.Accounts)

	// Global holders and warnings.
	_, ok = findAccount(inv.GlobalHolders, "root")
	require.True(t, ok)
	for _, g := range inv.GlobalHolders {
		require.Equal(t, []string{"global"}, g.Levels)
	}
	warnings := strings.Join(inv.Warnings, "\n")
	require.Contains(t, warnings, "cannot cut them off")
	require.Contains(t, warnings, wild+"@%")
}

func TestInventoryOfMissingDatabase(t *testing.T) {
	a := newTestAdapter(t)
	_, err := a.Inventory(testCtx(t), uniqueName("missing"))
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), "does not exist on this connection")
}

// A foreign key into the database from another one is a warning of the plan (the drop
// would fail), found without opening every table on the server: the statement the plan
// sends must not scan all databases, or it holds every table's metadata lock while it reads
// and every neighbour's sampling sees the plan as a client of its tables.
func TestThePlanOpensNoTableOfOtherDatabases(t *testing.T) {
	a := newTestAdapter(t)
	root := rootDB(t)
	target, other, dollar := uniqueName("fkto"), uniqueName("fkfrom"), uniqueName("fk")+"$x"
	for _, db := range []string{target, other, dollar} {
		mustExec(t, root, "CREATE DATABASE `"+db+"`")
		t.Cleanup(func() { _, _ = root.Exec("DROP DATABASE IF EXISTS `" + db + "`") })
	}
	mustExec(t, root,
		"CREATE TABLE `"+target+"`.parent (id INT PRIMARY KEY) ENGINE=InnoDB",
		"CREATE TABLE `"+target+"`.child (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES `"+target+"`.parent (id)) ENGINE=InnoDB",
		"CREATE TABLE `"+other+"`.orders (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES `"+target+"`.parent (id)) ENGINE=InnoDB",
		"CREATE TABLE `"+dollar+"`.lines (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES `"+target+"`.parent (id)) ENGINE=InnoDB",
	)
	inv, err := a.Inventory(testCtx(t), target)
	require.NoError(t, err)
	var fks []string
	for _, w := range inv.Warnings {
		if strings.Contains(w, "has a foreign key") {
			fks = append(fks, w)
		}
	}
	want := []string{
		"table " + dollar + ".lines has a foreign key to " + target + ".parent: the drop will fail until it is removed",
		"table " + other + ".orders has a foreign key to " + target + ".parent: the drop will fail until it is removed",
	}
	slices.Sort(want)
	require.Equal(t, want, fks, "the other databases' keys, not the database's own")

	var id, selectType, table, typ, keys, key, keyLen, ref, rows, extra sql.NullString
	prefix := innodbName(target) + "/"
	require.NoError(t, root.QueryRow("EXPLAIN "+foreignKeysMariaDB, prefix, prefix).Scan(&id, &selectType, &table, &typ, &keys, &key, &keyLen, &ref, &rows, &extra))
	require.NotContains(t, extra.String, "Scanned all databases", "the plan's statement opens every table of the server")
	require.NotContains(t, extra.String, "Open_full_table")

	// The same for the triggers the plan, the cut and the archive list.
	require.NoError(t, root.QueryRow("EXPLAIN "+triggersOf, target, target).Scan(&id, &selectType, &table, &typ, &keys, &key, &keyLen, &ref, &rows, &extra))
	require.NotContains(t, extra.String, "Scanned all databases", "listing the triggers opens every table of the server")
}

func TestInnodbNames(t *testing.T) {
	for name, want := range map[string]string{"shop": "shop", "a_b": "a_b", "pay$2": "pay@00242"} {
		require.Equal(t, want, innodbName(name))
		require.Equal(t, name, fromInnodbName(want))
	}
}
