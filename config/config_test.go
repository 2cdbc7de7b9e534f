package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const sample = `
connections:
  prod:
    engine: mysql
    host: db1
    port: 3306
    user: retire
    password_env: RT_TEST_PW
stores:
  s3:
    endpoint: s3.local:9000
    bucket: b
    access_key_env: RT_TEST_AK
    secret_key_file: %s
`

func TestProfilesResolveSecretsFromEnvAndFiles(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secretFile, []byte("s3-secret\n"), 0o600))
	c, err := Parse([]byte(fmtSample(secretFile)))
	require.NoError(t, err)
	require.Equal(t, "s3", c.DefaultStore, "a single store is the default")

	t.Setenv("RT_TEST_PW", "pw")
	t.Setenv("RT_TEST_AK", "ak")
	conn, err := c.Connection("prod")
	require.NoError(t, err)
	pw, err := conn.Password()
	require.NoError(t, err)
	require.Equal(t, "pw", pw)
	_, s, err := c.Store("")
	require.NoError(t, err)
	ak, sk, err := s.Keys()
	require.NoError(t, err)
	require.Equal(t, "ak", ak)
	require.Equal(t, "s3-secret", sk, "the trailing newline of a secret file is not part of the secret")

	_, err = c.Connection("staging")
	require.ErrorContains(t, err, `connection "staging" is not in the worker's config (known: prod)`)
}

func TestMissingSecretIsAClearError(t *testing.T) {
	c, err := Parse([]byte(fmtSample("/nonexistent")))
	require.NoError(t, err)
	conn, _ := c.Connection("prod")
	os.Unsetenv("RT_TEST_PW")
	_, err = conn.Password()
	require.ErrorContains(t, err, "environment variable RT_TEST_PW is not set on the worker")
}

func TestUnknownKeysAreRefused(t *testing.T) {
	_, err := Parse([]byte("connections:\n  x:\n    engine: mysql\n    host: h\n    user: u\n    pasword: oops\n"))
	require.ErrorContains(t, err, "pasword")
}

func TestPasswordInlineIsNotAField(t *testing.T) {
	// Passwords are never written in the file itself.
	_, err := Parse([]byte("connections:\n  x:\n    engine: mysql\n    host: h\n    user: u\n    password: secret\n"))
	require.Error(t, err)
}

func fmtSample(secretFile string) string {
	return fmt.Sprintf(sample, secretFile)
}
