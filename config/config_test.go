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

const notifySample = `
connections:
  prod: {engine: mysql, host: db1, user: retire}
notify:
  ui_url: http://127.0.0.1:8233
  reminder_days: 3
  webhook: {url_env: RT_TEST_WEBHOOK}
  smtp:
    host: smtp.example.com
    from: Retire <retire@example.com>
    user: retire
    password_env: RT_TEST_SMTP_PW
    domain: example.com
    cc: [dba@example.com]
`

func TestNotifySectionResolvesSecrets(t *testing.T) {
	c, err := Parse([]byte(notifySample))
	require.NoError(t, err)
	n := c.Notify
	require.True(t, n.Enabled())
	require.Equal(t, 3, n.Reminder())
	require.Equal(t, "smtp.example.com:587", n.SMTP.Address(), "submission port by default")
	t.Setenv("RT_TEST_WEBHOOK", "https://hooks.example.com/T/B/token")
	t.Setenv("RT_TEST_SMTP_PW", "smtp-pw")
	u, err := n.Webhook.URL()
	require.NoError(t, err)
	require.Equal(t, "https://hooks.example.com/T/B/token", u)
	pw, err := n.SMTP.Password()
	require.NoError(t, err)
	require.Equal(t, "smtp-pw", pw)

	c, err = Parse([]byte("connections:\n  x: {engine: mysql, host: h, user: u}\n"))
	require.NoError(t, err)
	require.False(t, c.Notify.Enabled(), "no notify section: nobody is told")
	require.Equal(t, DefaultReminderDays, c.Notify.Reminder())
	require.Equal(t, "relay:465", NotifySMTP{Host: "relay", TLS: SMTPImplicit}.Address())
}

func TestNotifySectionIsChecked(t *testing.T) {
	base := "connections:\n  x: {engine: mysql, host: h, user: u}\nnotify:\n"
	for _, tc := range []struct{ notify, want string }{
		{"  webhook: {url: https://hooks.example.com/secret}\n", "field url not found"},
		{"  webhook: {}\n", "exactly one of url_env or url_file"},
		{"  webhook: {url_env: A, url_file: /b}\n", "exactly one of url_env or url_file"},
		{"  smtp: {from: a@example.com}\n", "host and from are required"},
		{"  smtp: {host: h, from: not an address}\n", "notify.smtp.from"},
		{"  smtp: {host: h, from: a@example.com, user: u}\n", "neither password_env nor password_file"},
		{"  smtp: {host: h, from: a@example.com, password: inline}\n", "field password not found"},
		{"  smtp: {host: h, from: a@example.com, tls: sometimes}\n", "notify.smtp.tls"},
		{"  smtp: {host: h, from: a@example.com, cc: [nope]}\n", "notify.smtp.cc"},
		{"  ui_url: 127.0.0.1:8233\n", "notify.ui_url"},
		{"  reminder_days: -1\n", "reminder_days"},
		{"  remider_days: 2\n", "remider_days"},
	} {
		_, err := Parse([]byte(base + tc.notify))
		require.ErrorContains(t, err, tc.want, tc.notify)
	}
}
