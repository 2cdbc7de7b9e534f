package oracle

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/dataretire/retire/activities/engine"
)

// pdbPrefix marks a pluggable database as the object: "pdb:SALESPDB".
const pdbPrefix = "pdb:"

// plainIdent is what a DBA may name as a target. Oracle allows more in quoted names, but a
// retirement of "a;b" or "Scott Tiger" should be done by hand, after a second look.
var plainIdent = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_$#]{0,127}$`)

// systemUsers can never be retired, whatever dba_users.oracle_maintained says (it is
// missing before 12c and can be wrong after an upgrade).
var systemUsers = map[string]bool{
	"SYS": true, "SYSTEM": true, "SYSAUX": true, "XDB": true, "OUTLN": true, "DBSNMP": true,
	"APPQOSSYS": true, "AUDSYS": true, "CTXSYS": true, "DVSYS": true, "DVF": true,
	"GSMADMIN_INTERNAL": true, "GSMCATUSER": true, "GSMUSER": true, "GSMROOTUSER": true,
	"LBACSYS": true, "MDSYS": true, "MDDATA": true, "OJVMSYS": true, "OLAPSYS": true,
	"ORDDATA": true, "ORDSYS": true, "ORDPLUGINS": true, "SI_INFORMTN_SCHEMA": true,
	"WMSYS": true, "ANONYMOUS": true, "DIP": true, "REMOTE_SCHEDULER_AGENT": true,
	"SYSBACKUP": true, "SYSDG": true, "SYSKM": true, "SYSRAC": true, "SYS$UMF": true,
	"GGSYS": true, "DBSFWUSER": true, "XS$NULL": true, "ORACLE_OCM": true,
	"SPATIAL_CSW_ADMIN_USR": true, "SPATIAL_WFS_ADMIN_USR": true, "FLOWS_FILES": true,
	"APEX_PUBLIC_USER": true, "PUBLIC": true, "DGPDB_INT": true, "OPS$ORACLE": true,
}

// IsSystemUser says whether name (any case) is an Oracle-maintained user that can never be
// retired: one systemUsers names, or an APEX_ or FLOWS_ user. It needs no connection, so the
// CLI refuses them before anything is started; the dictionary's oracle_maintained flag is
// checked on top of it where a connection is at hand.
func IsSystemUser(name string) bool {
	n := strings.ToUpper(name)
	return systemUsers[n] || strings.HasPrefix(n, "APEX_") || strings.HasPrefix(n, "FLOWS_")
}

// systemPDBs are the root and the seed: closing or dropping them breaks the CDB.
var systemPDBs = map[string]bool{"PDB$SEED": true, "CDB$ROOT": true}

// systemTablespaces are never dropped, even when a snapshot names them.
var systemTablespaces = map[string]bool{"SYSTEM": true, "SYSAUX": true}

// target is a parsed object name.
type target struct {
	name  string // upper case, as the dictionary stores it
	isPDB bool
}

// String is the canonical object name: "SCOTT" or "pdb:SALESPDB".
func (t target) String() string {
	if t.isPDB {
		return pdbPrefix + t.name
	}
	return t.name
}

// kind is how messages name it.
func (t target) kind() string {
	if t.isPDB {
		return "pluggable database"
	}
	return "schema"
}

// parseTarget accepts a schema (user) name or pdb:NAME, refusing system users and PDBs and
// anything that is not a plain identifier (engine.ErrRefused).
func parseTarget(object string) (target, error) {
	t := target{name: object}
	if len(object) >= len(pdbPrefix) && strings.EqualFold(object[:len(pdbPrefix)], pdbPrefix) {
		t = target{name: object[len(pdbPrefix):], isPDB: true}
	}
	switch {
	case t.name == "":
		return target{}, fmt.Errorf("%s name is empty: %w", t.kind(), engine.ErrRefused)
	case !plainIdent.MatchString(t.name):
		return target{}, fmt.Errorf("%s name %q is not a plain identifier (a letter, then letters, digits, _, $ and #, at most 128): %w", t.kind(), t.name, engine.ErrRefused)
	}
	t.name = strings.ToUpper(t.name)
	if t.isPDB && systemPDBs[t.name] {
		return target{}, fmt.Errorf("%s is the CDB root or seed: retire neither retires it nor restores into it: %w", t.name, engine.ErrRefused)
	}
	if !t.isPDB && IsSystemUser(t.name) {
		return target{}, fmt.Errorf("%s is an Oracle-maintained user: retire neither retires it nor restores into it: %w", t.name, engine.ErrRefused)
	}
	return t, nil
}

// ValidObject checks an object name without connecting: a schema like "SCOTT" or a
// pluggable database like "pdb:SALESPDB".
func ValidObject(object string) error {
	_, err := parseTarget(object)
	return err
}

// quoteIdent double-quotes a name read from the dictionary. Oracle names can hold any
// character but the double quote and NUL, so nothing can be escaped: those are refused.
func quoteIdent(name string) (string, error) {
	if name == "" || len(name) > 128 {
		return "", fmt.Errorf("name %q is empty or longer than 128 bytes: %w", name, engine.ErrRefused)
	}
	for _, r := range name {
		if r == '"' || r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("name %q holds a double quote or a control character; handle it by hand: %w", name, engine.ErrRefused)
		}
	}
	return `"` + name + `"`, nil
}

// q quotes a name that was already validated (a target, or a checked dictionary name).
func q(name string) string { return `"` + name + `"` }

// qualified is "OWNER"."NAME".
func qualified(owner, name string) (string, error) {
	o, err := quoteIdent(owner)
	if err != nil {
		return "", err
	}
	n, err := quoteIdent(name)
	if err != nil {
		return "", err
	}
	return o + "." + n, nil
}

// grantee renders the receiver of a grant. PUBLIC is a keyword, not a user.
func grantee(name string) (string, error) {
	if name == "PUBLIC" {
		return "PUBLIC", nil
	}
	return quoteIdent(name)
}

// splitQualified parses "OWNER"."NAME" as qualified prints it.
func splitQualified(s string) (owner, name string, ok bool) {
	if !strings.HasPrefix(s, `"`) || !strings.HasSuffix(s, `"`) {
		return "", "", false
	}
	parts := strings.Split(s[1:len(s)-1], `"."`)
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" || strings.Contains(parts[0], `"`) || strings.Contains(parts[1], `"`) {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// privilegeWord is an object privilege as dba_tab_privs prints it (SELECT, ON COMMIT
// REFRESH...), pasted into GRANT and REVOKE, so nothing else may pass.
var privilegeWord = regexp.MustCompile(`^[A-Z][A-Z ]{0,39}$`)
