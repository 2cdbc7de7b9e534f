package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inProcessCommands are the commands that run here, on the worker's config, without Temporal.
var inProcessCommands = map[string][]string{
	"ls":      {"ls", "local/shop/run-1/"},
	"verify":  {"verify", "local/shop/run-1/"},
	"archive": {"archive", "local", "shop"},
	"restore": {"restore", "local/shop/run-1/", "--connection", "local", "--into", "shop_restored"},
}

func TestInProcessMissingConfigSaysHowToNameIt(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	for name, args := range inProcessCommands {
		t.Run(name, func(t *testing.T) {
			a, out, errOut := testApp(t, nil, nil)
			assert.Equal(t, 1, a.execute(append(args, "--config", missing)))
			assert.Empty(t, out.String())
			assert.Equal(t, "retire: no config file at "+missing+" (from --config): `retire "+name+"` reads the worker's config file for the connection and store profiles; "+
				"name it with --config <file> or RETIRE_CONFIG=<file>\n", errOut.String())
		})
	}
}

func TestInProcessMissingDefaultConfigSaysHowToNameIt(t *testing.T) {
	// The default is /etc/retire/config.yaml; one that surely does not exist stands in for it.
	was := defaultConfig
	defaultConfig = filepath.Join(t.TempDir(), "etc", "retire", "config.yaml")
	t.Cleanup(func() { defaultConfig = was })
	t.Setenv("RETIRE_CONFIG", "")
	a, _, errOut := testApp(t, nil, nil)
	assert.Equal(t, 1, a.execute([]string{"ls", "local/shop/run-1/"}))
	assert.Equal(t, "retire: no config file at "+defaultConfig+" (the default): `retire ls` reads the worker's config file for the connection and store profiles; "+
		"name it with --config <file> or RETIRE_CONFIG=<file>\n", errOut.String())

	dir := filepath.Join(t.TempDir(), "etc.yaml")
	t.Setenv("RETIRE_CONFIG", dir)
	a, _, errOut = testApp(t, nil, nil)
	assert.Equal(t, 1, a.execute([]string{"verify", "local/shop/run-1/"}))
	assert.Contains(t, errOut.String(), "retire: no config file at "+dir+" (from RETIRE_CONFIG): ")
}

// inProcessConfig writes a config whose secrets come from env vars the test controls.
func inProcessConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`connections:
  local: {engine: mysql, host: 127.0.0.1, port: 1, user: retire, password_env: RT_STARTER_TEST_DB_PASSWORD}
stores:
  archive:
    endpoint: 127.0.0.1:1
    bucket: retire-starter
    access_key_env: RT_STARTER_TEST_S3_ACCESS
    secret_key_env: RT_STARTER_TEST_S3_SECRET
`), 0o600))
	return p
}

// unsetEnv removes key for the test and puts it back after.
func unsetEnv(t *testing.T, key string) {
	t.Setenv(key, "") // restores the old value at the end
	require.NoError(t, os.Unsetenv(key))
}

func TestInProcessErrorsSayTheyRunHereNotOnAWorker(t *testing.T) {
	cfg := inProcessConfig(t)
	unsetEnv(t, "RT_STARTER_TEST_DB_PASSWORD")
	unsetEnv(t, "RT_STARTER_TEST_S3_ACCESS")
	t.Setenv("RT_STARTER_TEST_S3_SECRET", "secret")

	for name, args := range inProcessCommands {
		t.Run(name, func(t *testing.T) {
			a, _, errOut := testApp(t, nil, nil)
			assert.Equal(t, 1, a.execute(append(args, "--config", cfg)))
			msg := errOut.String()
			assert.Contains(t, msg, "access key: environment variable RT_STARTER_TEST_S3_ACCESS is not set here: `retire "+name+"` runs in this process, on this machine, not on a worker, so set it in this environment")
			assert.NotContains(t, msg, "on the worker")
			assert.NotContains(t, msg, "(type: ")
			assert.NotContains(t, msg, "retryable")
			assert.Equal(t, 1, strings.Count(msg, "\n"), "one line: %q", msg)
		})
	}

	t.Setenv("RT_STARTER_TEST_S3_ACCESS", "access")
	a, _, errOut := testApp(t, nil, nil)
	assert.Equal(t, 1, a.execute(append(inProcessCommands["restore"], "--config", cfg)))
	assert.Equal(t, "retire: connection local: password: environment variable RT_STARTER_TEST_DB_PASSWORD is not set here: `retire restore` runs in this process, on this machine, not on a worker, so set it in this environment\n", errOut.String())

	a, _, errOut = testApp(t, nil, nil)
	assert.Equal(t, 1, a.execute([]string{"restore", "local/shop/run-1/", "--connection", "prod", "--into", "x", "--config", cfg}))
	assert.Equal(t, `retire: connection "prod" is not in the config file `+cfg+" (known: local)\n", errOut.String())

	a, _, errOut = testApp(t, nil, nil)
	assert.Equal(t, 1, a.execute([]string{"ls", "local/shop/run-1/", "--store", "cold", "--config", cfg}))
	assert.Equal(t, `retire: store "cold" is not in the config file `+cfg+" (known: archive)\n", errOut.String())
}
