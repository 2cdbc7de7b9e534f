package oracle

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

func TestInventoryOfASchema(t *testing.T) {
	w := scott(t)
	f := w.f
	f.on(qTables, []any{"DEPT", "65536"}, []any{"EMP", "196608"})
	f.onPrefix("SELECT COUNT(*) FROM ", func(a []any) ([][]any, error) { return nil, nil })
	f.queries[`SELECT COUNT(*) FROM "SCOTT"."DEPT"`] = func([]any) ([][]any, error) { return rowsOf([]any{"4"}), nil }
	f.queries[`SELECT COUNT(*) FROM "SCOTT"."EMP"`] = func([]any) ([][]any, error) { return rowsOf([]any{"14"}), nil }
	f.on(qOwnerBytes, []any{"1048576"})
	f.on(qViews, []any{"EMP_V"})
	f.on(qRoutines, []any{"RAISE_SAL", "PROCEDURE"}, []any{"PAY", "PACKAGE"})
	f.on(qTriggers, []any{"EMP_BIU"})
	f.on(qJobs, []any{"NIGHTLY"})
	f.on(qObjectCount, []any{"INDEX", "3"}, []any{"TABLE", "2"})
	f.on(qGlobalHolders, []any{"ETL"}, []any{"SCOTT"})
	f.on(qSynonyms, []any{"PUBLIC", "EMP", "EMP"}, []any{"APP", "DEPARTMENTS", "DEPT"})
	f.on(qDependencies, []any{"APP", "PAYROLL_V", "VIEW", "EMP", "TABLE"}, []any{"HR", "SYNC", "PACKAGE BODY", "PAY", "PACKAGE"})
	f.on(qForeignKeys, []any{"HR", "BONUS", "BONUS_EMP_FK", "EMP"})
	f.on(qForeignTriggers, []any{"AUDIT", "EMP_AUD", "EMP"})
	f.on(qOddColumns, []any{"EMP", "PHOTO", "BFILE", nil}, []any{"EMP", "ADDR", "ADDRESS_T", "SCOTT"}, []any{"EMP", "DOC", "XMLTYPE", "SYS"})

	inv, err := w.adapter(Config{}).Inventory(bg(), "SCOTT")
	require.NoError(t, err)
	require.Equal(t, "oracle", inv.Engine)
	require.Equal(t, "19.0.0.0.0", inv.Version)
	require.Equal(t, "AL32UTF8", inv.Charset)
	require.Equal(t, []engine.Table{{Name: "DEPT", Rows: 4, Bytes: 65536}, {Name: "EMP", Rows: 14, Bytes: 196608}}, inv.Tables)
	require.EqualValues(t, 18, inv.TotalRows)
	require.EqualValues(t, 1048576, inv.TotalBytes)
	require.Equal(t, []string{"EMP_V"}, inv.Views)
	require.Equal(t, []engine.Routine{{Name: "RAISE_SAL", Type: "PROCEDURE"}, {Name: "PAY", Type: "PACKAGE"}}, inv.Routines)
	require.Equal(t, []string{"EMP_BIU"}, inv.Triggers)
	require.Equal(t, []string{"NIGHTLY"}, inv.Events)
	require.Equal(t, []engine.Account{
		{User: "APP", Levels: []string{"object"}}, {User: "HR", Levels: []string{"object"}},
		{User: "PUBLIC", Levels: []string{"object"}}, {User: "REPORTS", Levels: []string{"object"}},
	}, inv.Accounts)
	require.Equal(t, []engine.Account{{User: "ETL", Levels: []string{"global"}}}, inv.GlobalHolders)
	require.Equal(t, []string{"SCOTT_DATA", "SCOTT_HIST"}, inv.Tablespaces, "only the tablespaces SCOTT alone uses")

	extra := map[string]string{}
	for _, kv := range inv.Extra {
		extra[kv.Key] = kv.Value
	}
	require.Equal(t, "OPEN", extra["account_status"])
	require.Equal(t, "SCOTT_DATA", extra["default_tablespace"])
	require.Equal(t, "3", extra["objects INDEX"])
	require.Equal(t, "ONLINE, 209715200 bytes in 2 datafile(s): /u02/scott_data01.dbf, /u02/scott_data02.dbf", extra["tablespace SCOTT_DATA"])

	warnings := strings.Join(inv.Warnings, "\n")
	for _, want := range []string{
		"ANY privileges and reach every schema; revoking grants cannot cut them off: ETL",
		"tablespace USERS is not only SCOTT's (it is the database default tablespace; APP (default tablespace); HR (default tablespace); HR (segments)",
		"PUBLIC synonym EMP points at SCOTT.EMP: applications using it will break",
		"synonym APP.DEPARTMENTS points at SCOTT.DEPT: applications using it will break",
		"view APP.PAYROLL_V depends on table SCOTT.EMP: it becomes invalid when SCOTT is dropped",
		"package body HR.SYNC depends on package SCOTT.PAY",
		"table HR.BONUS has a foreign key (BONUS_EMP_FK) to SCOTT.EMP",
		"trigger AUDIT.EMP_AUD fires on SCOTT.EMP",
		"table SCOTT.EMP cannot be archived: column PHOTO has type BFILE",
		"table SCOTT.EMP cannot be archived: column ADDR is of the object type SCOTT.ADDRESS_T",
	} {
		require.Contains(t, warnings, want)
	}
	require.NotContains(t, warnings, "DOC", "XMLTYPE is archived as text")

	// Every row count ran as its own statement, under its own deadline.
	var counts []string
	for _, c := range f.calls {
		if strings.HasPrefix(c.SQL, "SELECT COUNT(*) FROM \"") {
			counts = append(counts, c.SQL)
		}
	}
	require.Equal(t, []string{`SELECT COUNT(*) FROM "SCOTT"."DEPT"`, `SELECT COUNT(*) FROM "SCOTT"."EMP"`}, counts)
	require.Empty(t, f.changes(), "an inventory changes nothing")
	noCallWithoutDeadline(t, f)
}

func TestInventoryNamesWhoBlocksATablespace(t *testing.T) {
	w := scott(t)
	w.segments = append(w.segments, wSeg{"LEGACY", "SCOTT_HIST"})
	inv, err := w.adapter(Config{}).Inventory(bg(), "SCOTT")
	require.NoError(t, err)
	require.Equal(t, []string{"SCOTT_DATA"}, inv.Tablespaces)
	require.Contains(t, strings.Join(inv.Warnings, "\n"), "tablespace SCOTT_HIST is not only SCOTT's (LEGACY (segments))")
}

func TestInventoryOfAPDB(t *testing.T) {
	w := pdbWorld(t)
	inv, err := w.adapter(Config{}).Inventory(bg(), "pdb:SALESPDB")
	require.NoError(t, err)
	require.Equal(t, "pdb:SALESPDB", inv.Object)
	require.EqualValues(t, 2147483648, inv.TotalBytes)
	extra := map[string]string{}
	for _, kv := range inv.Extra {
		extra[kv.Key] = kv.Value
	}
	require.Equal(t, "READ WRITE", extra["open_mode"])
	require.Equal(t, "NORMAL", extra["status"])
	require.Equal(t, "2147483648 bytes in 2 datafile(s): /u02/sales/system01.dbf, /u02/sales/users01.dbf", extra["datafiles"])
	require.Equal(t, "APP, HR", extra["schemas"])

	// Closed: the datafiles come from the control file, which still knows them.
	w.pdbs["SALESPDB"].openMode = "MOUNTED"
	w.f.reset()
	_, err = w.adapter(Config{}).Inventory(bg(), "pdb:SALESPDB")
	require.NoError(t, err)
	var sqls []string
	for _, c := range w.f.calls {
		sqls = append(sqls, c.SQL)
	}
	require.Contains(t, sqls, qPDBFiles)
	require.NotContains(t, sqls, qPDBUsers)
}
