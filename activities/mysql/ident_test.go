package mysql

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsSystemSchema(t *testing.T) {
	for _, name := range []string{"mysql", "sys", "information_schema", "performance_schema", "MySQL", "SYS", "Information_Schema", "PERFORMANCE_SCHEMA"} {
		assert.True(t, IsSystemSchema(name), name)
		assert.Error(t, ValidIdentifier(name), "ValidIdentifier agrees on %q", name)
	}
	for _, name := range []string{"", "shop", "mysql2", "sys_app", "my_sql", "information_schema_copy", "_retire_q_shop"} {
		assert.False(t, IsSystemSchema(name), name)
	}
}
