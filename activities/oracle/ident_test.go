package oracle

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsSystemUser(t *testing.T) {
	for _, name := range []string{"SYS", "sys", "System", "XDB", "ctxsys", "SYS$UMF", "xs$null", "PUBLIC", "APEX_230100", "apex_public_user", "FLOWS_FILES", "flows_030000"} {
		assert.True(t, IsSystemUser(name), name)
		assert.Error(t, ValidObject(name), "parseTarget agrees on %q", name)
	}
	for _, name := range []string{"", "SCOTT", "hr", "SYSTEMS", "MY_SYS", "APEX", "pdb:SYS"} {
		assert.False(t, IsSystemUser(name), name)
	}
}
