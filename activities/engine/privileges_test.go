package engine

import (
	"errors"
	"regexp"
	"testing"
)

func TestFormatServerIDIsSafeInAWorkflowID(t *testing.T) {
	for _, c := range []struct {
		parts []string
		want  string
	}{
		{[]string{"mysql", "3e11fa47-71ca-11e1-9e33-c80aa9429562"}, "mysql:3e11fa47-71ca-11e1-9e33-c80aa9429562"},
		{[]string{"mariadb", "db-01.internal", "3306", "1"}, "mariadb:db-01.internal:3306:1"},
		{[]string{"oracle", "1234567890", "1", "CDB$ROOT"}, "oracle:1234567890:1:CDB%24ROOT"},
		{[]string{"mariadb", "a b:c", "", "-"}, "mariadb:a%20b%3Ac:-:%2D"},
		{[]string{"mariadb", "hôte\n", "%"}, "mariadb:h%C3%B4te%0A:%25"},
	} {
		got := FormatServerID(c.parts[0], c.parts[1:]...)
		if got != c.want {
			t.Errorf("FormatServerID(%q) = %q, want %q", c.parts, got, c.want)
		}
		if !regexp.MustCompile(`^[A-Za-z0-9._%:-]+$`).MatchString(got) {
			t.Errorf("%q holds a character unsafe in a workflow id", got)
		}
	}
	// Parts never run into each other: a separator inside a part is encoded.
	if FormatServerID("e", "a:b", "c") == FormatServerID("e", "a", "b:c") {
		t.Error("different parts gave the same id")
	}
}

func TestPrivilegeReportErr(t *testing.T) {
	if err := (PrivilegeReport{Account: "'retire'@'%'"}).Err(); err != nil {
		t.Fatalf("nothing missing: %v", err)
	}
	err := PrivilegeReport{Account: "'retire'@'%'", Missing: []MissingPrivilege{
		{Privilege: "DROP", On: "`shop`.*", NeededFor: "needed to drop it"},
		{Privilege: "PROCESS", NeededFor: "needed to see who connects"},
	}}.Err()
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("not a refusal: %v", err)
	}
	const want = "the retire account 'retire'@'%' lacks DROP on `shop`.* (needed to drop it), PROCESS (needed to see who connects); grant them (see deployments/grants-*.sql) and start the retirement again: refused"
	if err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err, want)
	}
}
