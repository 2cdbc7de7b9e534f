// Package config reads the worker's YAML file of connection and store profiles. Requests
// name a profile; passwords and keys come from the environment variables or files the
// profile names, so they never enter a request, a workflow history or a log.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole file.
type Config struct {
	Connections  map[string]Connection `yaml:"connections"`
	Stores       map[string]Store      `yaml:"stores"`
	DefaultStore string                `yaml:"default_store"`
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
	// Oracle only.
	DiagnosticsPack bool   `yaml:"diagnostics_pack"` // licensed: sampling may read gv$active_session_history
	TablespaceMode  string `yaml:"tablespace_mode"`  // read-only (default) or offline
	LOBPrefetchRows int    `yaml:"lob_prefetch_rows"`
}

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
	}
	for name, s := range c.Stores {
		if s.Endpoint == "" || s.Bucket == "" {
			errs = append(errs, fmt.Errorf("config: store %s: endpoint and bucket are required", name))
		}
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
