// Package config reads the worker's YAML file of connection and store profiles. Requests
// name a profile; passwords and keys come from the environment variables or files the
// profile names, so they never enter a request, a workflow history or a log.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dataretire/retire/owners"
	"github.com/dataretire/retire/proof"
)

// Config is the whole file.
type Config struct {
	Connections  map[string]Connection `yaml:"connections"`
	Stores       map[string]Store      `yaml:"stores"`
	DefaultStore string                `yaml:"default_store"`
	// Notify says how owners are told about their retirements; empty means nobody is told.
	Notify Notify `yaml:"notify"`
	// Archive tunes the export; zero values take the defaults.
	Archive Archive `yaml:"archive"`
	// Owners is the owners directory: who owns which objects, and their SSH keys.
	Owners owners.Source `yaml:"owners"`
	// Signoff says which proofs of identity the worker's retirements trust.
	Signoff Signoff `yaml:"signoff"`
}

// Signoff is how decisions are proven. Every retirement pins the keys at its plan.
type Signoff struct {
	// PortalKeys are the owners' page's Ed25519 public keys (base64 of 32 bytes, as
	// retire-portal prints them); PortalKeyFiles name files holding one each.
	PortalKeys     []string `yaml:"portal_keys"`
	PortalKeyFiles []string `yaml:"portal_key_files"`
	// RequireProof makes a --dev worker refuse unproven decisions too; a production worker
	// always does.
	RequireProof bool `yaml:"require_proof"`
	// PortalURL is the owners' page as owners reach it, e.g. https://retire.example.com: the
	// notices carry personal links to it when LinkSecret is set too.
	PortalURL string `yaml:"portal_url"`
	// LinkSecret signs the personal e-mail links (HS256): the portal holds the same secret.
	LinkSecret Secret `yaml:"link_secret"`
	// LinkTTL is how long a personal link can be used; default 7 days.
	LinkTTL time.Duration `yaml:"link_ttl"`
}

// DefaultLinkTTL is how long a personal link lives when link_ttl is not set.
const DefaultLinkTTL = 7 * 24 * time.Hour

// Links says whether notices carry personal links to the owners' page.
func (s Signoff) Links() bool {
	return s.PortalURL != "" && (s.LinkSecret.PasswordEnv != "" || s.LinkSecret.PasswordFile != "")
}

// Keys resolves the portal's public keys from the file and the files it names.
func (s Signoff) Keys() ([]string, error) {
	keys := slices.Clone(s.PortalKeys)
	for _, f := range s.PortalKeyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("signoff.portal_key_files: %w", err)
		}
		keys = append(keys, strings.TrimSpace(string(b)))
	}
	for _, k := range keys {
		if _, err := proof.PortalKey(k); err != nil {
			return nil, fmt.Errorf("signoff: %w", err)
		}
	}
	return keys, nil
}

func (s Signoff) check() []error {
	var errs []error
	for _, k := range s.PortalKeys {
		if _, err := proof.PortalKey(k); err != nil {
			errs = append(errs, fmt.Errorf("config: signoff.portal_keys: %w", err))
		}
	}
	if s.PortalURL != "" {
		u, err := url.Parse(s.PortalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("config: signoff.portal_url %q is not an http(s) URL", s.PortalURL))
		}
	}
	if s.LinkSecret.PasswordEnv != "" && s.LinkSecret.PasswordFile != "" {
		errs = append(errs, errors.New("config: signoff.link_secret: set password_env or password_file, not both"))
	}
	if s.LinkTTL < 0 {
		errs = append(errs, errors.New("config: signoff.link_ttl cannot be negative"))
	}
	return errs
}

// Archive tunes how tables are exported.
type Archive struct {
	ChunkRows int64 `yaml:"chunk_rows"` // rows per primary-key chunk, the unit of checkpoint and parallelism; default 500000
	Parallel  int   `yaml:"parallel"`   // chunks exported at once, each on its own connection; default 2
}

// Connection is a database profile.
type Connection struct {
	Engine       string `yaml:"engine"` // mysql (MySQL 8, MariaDB 10.6+)
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	Service      string `yaml:"service"` // Oracle service name (for a PDB target: the CDB root's)
	User         string `yaml:"user"`
	Secret       `yaml:",inline"`
	Params       map[string]string `yaml:"params"`
	QueryTimeout time.Duration     `yaml:"query_timeout"` // every statement's deadline; default 30s
	PollInterval time.Duration     `yaml:"poll_interval"` // sampling look interval; default 500ms
	// Sampling says which usage evidence retire gathers and insists on (see Sampling).
	Sampling Sampling `yaml:"sampling"`
	// Oracle only.
	DiagnosticsPack bool   `yaml:"diagnostics_pack"` // licensed: sampling may read gv$active_session_history
	TablespaceMode  string `yaml:"tablespace_mode"`  // read-only (default) or offline
	LOBPrefetchRows int    `yaml:"lob_prefetch_rows"`
}

// Sampling is a connection's usage-evidence policy.
type Sampling struct {
	// AuditLog is the path of the server's audit log as the worker can read it (MariaDB
	// server_audit); empty: the audit log is not used.
	AuditLog string `yaml:"audit_log"`
	// Enable are dynamic sources retire may switch on for the sampling window and the
	// observation window, and put back as it found them afterwards (MariaDB: table-counters
	// and attempts are userstat).
	Enable []string `yaml:"enable"`
	// Require are sources without which a retirement is refused in the plan (a production
	// policy: require: [table-counters]).
	Require []string `yaml:"require"`
}

// EvidenceSources are the names sampling.enable and sampling.require take.
var EvidenceSources = []string{"sessions", "metadata-locks", "table-counters", "attempts", "audit-log"}

// Secret says where a password comes from: an environment variable or a file.
type Secret struct {
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
}

// Store is an S3-compatible object store profile.
type Store struct {
	Endpoint      string `yaml:"endpoint"`
	Bucket        string `yaml:"bucket"`
	Prefix        string `yaml:"prefix"`
	Region        string `yaml:"region"`
	Secure        bool   `yaml:"secure"`
	AccessKeyEnv  string `yaml:"access_key_env"`
	AccessKeyFile string `yaml:"access_key_file"`
	SecretKeyEnv  string `yaml:"secret_key_env"`
	SecretKeyFile string `yaml:"secret_key_file"`
}

// Notify is where owner notifications go (activities/notify). Secrets (the webhook URL,
// which holds a token, and the SMTP password) come from env vars or files, like passwords.
type Notify struct {
	UIURL        string         `yaml:"ui_url"`        // base of links to a run in the Temporal UI, e.g. http://127.0.0.1:8233
	ReminderDays int            `yaml:"reminder_days"` // remind owners this many days before the window ends; default 2
	Webhook      *NotifyWebhook `yaml:"webhook"`       // Slack-compatible incoming webhook
	SMTP         *NotifySMTP    `yaml:"smtp"`          // mail to the owners
}

// DefaultReminderDays is used when reminder_days is not set.
const DefaultReminderDays = 2

// Reminder is how many days before the end of the observation window owners are reminded.
func (n Notify) Reminder() int {
	if n.ReminderDays == 0 {
		return DefaultReminderDays
	}
	return n.ReminderDays
}

// Enabled says whether any channel is configured.
func (n Notify) Enabled() bool { return n.Webhook != nil || n.SMTP != nil }

// NotifyWebhook is a Slack-compatible incoming webhook: its URL is a secret.
type NotifyWebhook struct {
	URLEnv  string        `yaml:"url_env"`
	URLFile string        `yaml:"url_file"`
	Timeout time.Duration `yaml:"timeout"` // per request; default 10s
}

// URL resolves the webhook URL from its env var or file.
func (w NotifyWebhook) URL() (string, error) { return resolve("webhook url", w.URLEnv, w.URLFile) }

// NotifySMTP is a mail relay. STARTTLS is used whenever the server offers it; AUTH PLAIN is
// used when a user is set, and only over TLS (or to a relay on localhost).
type NotifySMTP struct {
	Host   string `yaml:"host"`
	Port   int    `yaml:"port"` // default 587 (465 with tls: implicit)
	From   string `yaml:"from"` // retire@example.com or "Retire <retire@example.com>"
	User   string `yaml:"user"`
	Secret `yaml:",inline"`
	// Domain completes owner names without an @: alice -> alice@<domain>.
	Domain  string        `yaml:"domain"`
	CC      []string      `yaml:"cc"`      // also sent every notification, e.g. the DBA team's list
	TLS     string        `yaml:"tls"`     // starttls (default: used when offered) or implicit (port 465)
	CAFile  string        `yaml:"ca_file"` // PEM roots for the relay's certificate; default: the system's
	Timeout time.Duration `yaml:"timeout"` // whole conversation; default 30s
}

// SMTP TLS modes.
const (
	SMTPStartTLS = "starttls"
	SMTPImplicit = "implicit"
)

// Address is host:port with the defaults applied.
func (s NotifySMTP) Address() string {
	port := s.Port
	if port == 0 {
		port = 587
		if s.TLS == SMTPImplicit {
			port = 465
		}
	}
	return fmt.Sprintf("%s:%d", s.Host, port)
}

func (n Notify) check() []error {
	var errs []error
	if n.UIURL != "" {
		u, err := url.Parse(n.UIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("config: notify.ui_url %q is not an http(s) URL", n.UIURL))
		}
	}
	if n.ReminderDays < 0 || n.ReminderDays > 34 {
		errs = append(errs, fmt.Errorf("config: notify.reminder_days %d is outside 1..34", n.ReminderDays))
	}
	if w := n.Webhook; w != nil {
		if (w.URLEnv == "") == (w.URLFile == "") {
			errs = append(errs, errors.New("config: notify.webhook needs exactly one of url_env or url_file (the URL holds a token: it is never written in the file)"))
		}
		if w.Timeout < 0 {
			errs = append(errs, errors.New("config: notify.webhook.timeout cannot be negative"))
		}
	}
	if s := n.SMTP; s != nil {
		if s.Host == "" || s.From == "" {
			errs = append(errs, errors.New("config: notify.smtp: host and from are required"))
		}
		if s.From != "" {
			if _, err := mail.ParseAddress(s.From); err != nil {
				errs = append(errs, fmt.Errorf("config: notify.smtp.from %q is not a mail address: %v", s.From, err))
			}
		}
		for _, cc := range s.CC {
			if _, err := mail.ParseAddress(cc); err != nil {
				errs = append(errs, fmt.Errorf("config: notify.smtp.cc %q is not a mail address: %v", cc, err))
			}
		}
		if s.Port < 0 || s.Port > 65535 {
			errs = append(errs, fmt.Errorf("config: notify.smtp.port %d is not a port", s.Port))
		}
		switch s.TLS {
		case "", SMTPStartTLS, SMTPImplicit:
		default:
			errs = append(errs, fmt.Errorf("config: notify.smtp.tls %q: use %s or %s", s.TLS, SMTPStartTLS, SMTPImplicit))
		}
		if s.User != "" && s.PasswordEnv == "" && s.PasswordFile == "" {
			errs = append(errs, errors.New("config: notify.smtp: user is set but neither password_env nor password_file"))
		}
		if s.User == "" && (s.PasswordEnv != "" || s.PasswordFile != "") {
			errs = append(errs, errors.New("config: notify.smtp: a password is set but no user"))
		}
		if s.Domain != "" && strings.ContainsAny(s.Domain, "@ \t") {
			errs = append(errs, fmt.Errorf("config: notify.smtp.domain %q is not a domain", s.Domain))
		}
		if s.Timeout < 0 {
			errs = append(errs, errors.New("config: notify.smtp.timeout cannot be negative"))
		}
	}
	return errs
}

// Load reads and checks a config file. Unknown keys are errors: a typo in a safety setting
// must not pass silently.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data)
}

// Parse checks a config document.
func Parse(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &c, c.check()
}

func (c *Config) check() error {
	var errs []error
	if len(c.Connections) == 0 {
		errs = append(errs, errors.New("config: no connections"))
	}
	for name, conn := range c.Connections {
		switch conn.Engine {
		case "mysql":
		case "oracle":
			if conn.Service == "" {
				errs = append(errs, fmt.Errorf("config: connection %s: oracle needs a service", name))
			}
		default:
			errs = append(errs, fmt.Errorf("config: connection %s: engine %q is not supported (use mysql or oracle)", name, conn.Engine))
		}
		if conn.Host == "" || conn.User == "" {
			errs = append(errs, fmt.Errorf("config: connection %s: host and user are required", name))
		}
		for _, src := range append(slices.Clone(conn.Sampling.Enable), conn.Sampling.Require...) {
			if !slices.Contains(EvidenceSources, src) {
				errs = append(errs, fmt.Errorf("config: connection %s: sampling: %q is not an evidence source (use %s)", name, src, strings.Join(EvidenceSources, ", ")))
			}
		}
	}
	for name, s := range c.Stores {
		if s.Endpoint == "" || s.Bucket == "" {
			errs = append(errs, fmt.Errorf("config: store %s: endpoint and bucket are required", name))
		}
	}
	if c.Archive.ChunkRows < 0 || c.Archive.Parallel < 0 || c.Archive.Parallel > 64 {
		errs = append(errs, fmt.Errorf("config: archive: chunk_rows must be >= 0 and parallel 0..64"))
	}
	if c.DefaultStore != "" {
		if _, ok := c.Stores[c.DefaultStore]; !ok {
			errs = append(errs, fmt.Errorf("config: default_store %q is not a store", c.DefaultStore))
		}
	} else if len(c.Stores) == 1 {
		for name := range c.Stores {
			c.DefaultStore = name
		}
	}
	errs = append(errs, c.Notify.check()...)
	errs = append(errs, c.Signoff.check()...)
	return errors.Join(errs...)
}

// Connection returns a profile by name.
func (c *Config) Connection(name string) (Connection, error) {
	conn, ok := c.Connections[name]
	if !ok {
		return Connection{}, fmt.Errorf("connection %q is not in the worker's config (known: %s)", name, keys(c.Connections))
	}
	return conn, nil
}

// Store returns a store profile by name; "" means the default store.
func (c *Config) Store(name string) (string, Store, error) {
	if name == "" {
		name = c.DefaultStore
	}
	s, ok := c.Stores[name]
	if !ok {
		return "", Store{}, fmt.Errorf("store %q is not in the worker's config (known: %s)", name, keys(c.Stores))
	}
	return name, s, nil
}

// Password resolves the secret; an empty password is allowed only when neither source is set.
func (s Secret) Password() (string, error) { return resolve("password", s.PasswordEnv, s.PasswordFile) }

// Keys resolves the store's access and secret keys.
func (s Store) Keys() (access, secret string, err error) {
	if access, err = resolve("access key", s.AccessKeyEnv, s.AccessKeyFile); err != nil {
		return "", "", err
	}
	secret, err = resolve("secret key", s.SecretKeyEnv, s.SecretKeyFile)
	return access, secret, err
}

func resolve(what, env, file string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", fmt.Errorf("%s: set either an env var or a file, not both", what)
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("%s: environment variable %s is not set on the worker", what, env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

func keys[V any](m map[string]V) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}
