package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// A portal key of the right shape: base64 of 32 bytes, as `retire-portal keygen` prints it.
const goodPortalKey = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

const signoffSample = `
connections:
  prod: {engine: mysql, host: db1, user: retire}
signoff:
  portal_keys: [` + goodPortalKey + `]
  portal_key_files: [%s]
  require_proof: true
  portal_url: https://retire.example.com
  link_secret: {password_env: RT_TEST_LINK_SECRET}
  link_ttl: 72h
`

func TestSignoffSectionParses(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "portal.pub")
	require.NoError(t, os.WriteFile(keyFile, []byte(goodPortalKey+"\n"), 0o644))
	c, err := Parse([]byte(fmt.Sprintf(signoffSample, keyFile)))
	require.NoError(t, err)
	s := c.Signoff
	require.True(t, s.RequireProof)
	require.True(t, s.Links(), "portal_url and link_secret: notices carry links")
	require.Equal(t, 72*time.Hour, s.LinkTTL)
	keys, err := s.Keys()
	require.NoError(t, err)
	require.Equal(t, []string{goodPortalKey, goodPortalKey}, keys, "inline keys, then one per file, trimmed")

	t.Setenv("RT_TEST_LINK_SECRET", "a-link-secret-of-at-least-32-bytes!")
	secret, err := s.LinkSecret.Password()
	require.NoError(t, err, "the link secret resolves like every other secret")
	require.Equal(t, "a-link-secret-of-at-least-32-bytes!", secret)

	// Links need both halves; the default ttl is a week.
	require.False(t, Signoff{PortalURL: "https://retire.example.com"}.Links())
	require.False(t, Signoff{LinkSecret: Secret{PasswordFile: "/run/secrets/link"}}.Links())
	require.Equal(t, 7*24*time.Hour, DefaultLinkTTL)

	// A key file that is not a key is refused when the keys are read.
	bad := filepath.Join(t.TempDir(), "bad.pub")
	require.NoError(t, os.WriteFile(bad, []byte("ssh-ed25519 AAAA not a portal key\n"), 0o644))
	_, err = Signoff{PortalKeyFiles: []string{bad}}.Keys()
	require.ErrorContains(t, err, "not the base64 of a 32-byte Ed25519 public key")
	_, err = Signoff{PortalKeyFiles: []string{"/nonexistent/portal.pub"}}.Keys()
	require.ErrorContains(t, err, "signoff.portal_key_files")
}

func TestSignoffSectionIsChecked(t *testing.T) {
	base := "connections:\n  x: {engine: mysql, host: h, user: u}\nsignoff:\n"
	for _, tc := range []struct{ signoff, want string }{
		{"  portal_keys: [not-base64!]\n", "config: signoff.portal_keys"},
		// base64 of 16 bytes: the shape of a key, the wrong size.
		{"  portal_keys: [AAAAAAAAAAAAAAAAAAAAAA==]\n", "32-byte Ed25519 public key"},
		{"  link_secret: {password_env: A, password_file: /b}\n", "signoff.link_secret: set password_env or password_file, not both"},
		{"  link_secret: {password: inline}\n", "field password not found"},
		{"  portal_url: retire.example.com\n", `signoff.portal_url "retire.example.com" is not an http(s) URL`},
		{"  portal_url: ftp://retire.example.com\n", "signoff.portal_url"},
		{"  portal_url: https://\n", "signoff.portal_url"},
		{"  link_ttl: -1h\n", "signoff.link_ttl cannot be negative"},
		{"  link_tll: 1h\n", "link_tll"},
		{"  require_proofs: true\n", "require_proofs"},
	} {
		_, err := Parse([]byte(base + tc.signoff))
		require.ErrorContains(t, err, tc.want, tc.signoff)
	}
	// Every problem is reported at once.
	_, err := Parse([]byte(base + "  portal_keys: [x]\n  portal_url: nope\n  link_ttl: -1s\n"))
	require.ErrorContains(t, err, "signoff.portal_keys")
	require.ErrorContains(t, err, "signoff.portal_url")
	require.ErrorContains(t, err, "signoff.link_ttl")
}

const ownersSample = `
connections:
  prod: {engine: mysql, host: db1, user: retire}
owners:
  file: /etc/retire/owners.yaml
  url: https://owners.example.com/retire.yaml
  people:
    - id: alice@example.com
      name: Alice Liddell
      email: alice@example.com
      ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm7h5r8wR2v4Q2o0xq3s5mJm1c0cQ2Hh6Z3wqvV9YyB alice"]
      owns:
        - connection: prod
          objects: [shop, "shop_*"]
    - id: dba@example.com
      dba: true
`

func TestOwnersSectionParses(t *testing.T) {
	c, err := Parse([]byte(ownersSample))
	require.NoError(t, err)
	o := c.Owners
	require.True(t, o.Configured())
	require.Equal(t, "/etc/retire/owners.yaml", o.File)
	require.Equal(t, "https://owners.example.com/retire.yaml", o.URL)
	require.Len(t, o.People, 2)
	alice := o.People[0]
	require.Equal(t, "alice@example.com", alice.ID)
	require.Equal(t, "Alice Liddell", alice.Name)
	require.Equal(t, "alice@example.com", alice.Email)
	require.Len(t, alice.SSHKeys, 1)
	require.Len(t, alice.Owns, 1)
	require.Equal(t, "prod", alice.Owns[0].Connection)
	require.Equal(t, []string{"shop", "shop_*"}, alice.Owns[0].Objects)
	require.False(t, alice.DBA)
	require.True(t, o.People[1].DBA)

	c, err = Parse([]byte("connections:\n  x: {engine: mysql, host: h, user: u}\n"))
	require.NoError(t, err)
	require.False(t, c.Owners.Configured(), "no owners section: no directory")

	// The owners section is read with KnownFields too: a typo in who owns what fails.
	base := "connections:\n  x: {engine: mysql, host: h, user: u}\nowners:\n"
	for _, tc := range []struct{ owners, want string }{
		{"  fil: /etc/retire/owners.yaml\n", "field fil not found"},
		{"  people:\n    - id: a\n      emial: a@example.com\n", "field emial not found"},
		{"  people:\n    - id: a\n      owns: [{connection: x, object: [db]}]\n", "field object not found"},
		{"  people:\n    - id: a\n      ssh_key: [k]\n", "field ssh_key not found"},
		{"  people:\n    - id: a\n      dba: maybe\n", "cannot unmarshal !!str `maybe` into bool"},
		{"  people: {id: a}\n", "cannot unmarshal !!map into []owners.Person"},
	} {
		_, err := Parse([]byte(base + tc.owners))
		require.ErrorContains(t, err, tc.want, tc.owners)
	}
}
