package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/owners"
	"github.com/dataretire/retire/proof"
)

// Config is the portal's YAML file. Secrets (the cookie secret, the link secret, the OIDC
// client secret) come from environment variables or files it names, as in the worker's config;
// the signing key is a file of its own.
type Config struct {
	// Listen is the HTTP address; default DefaultListen. TLS is the reverse proxy's.
	Listen string `yaml:"listen"`
	// PublicURL is the page as owners reach it (https://retire.example.com): redirects, the
	// OIDC callback and the origin forms are accepted from are built on it.
	PublicURL string `yaml:"public_url"`
	// SigningKeyFile is the Ed25519 private key (PKCS#8 PEM, `retire-portal keygen`) that
	// signs every decision; the worker trusts its public key (signoff.portal_keys).
	SigningKeyFile string `yaml:"signing_key_file"`
	// CookieSecret keys the session cookies (signed and encrypted); at least 32 bytes.
	CookieSecret config.Secret `yaml:"cookie_secret"`
	// OIDC is the company's OpenID Connect provider; LinkSecret the secret the worker signs
	// personal e-mail links with. One of them at least.
	OIDC       *OIDCConfig   `yaml:"oidc"`
	LinkSecret config.Secret `yaml:"link_secret"`
	// Owners is the owners directory, declared as in the worker's config (the same file or
	// URL): who logs in is looked up there.
	Owners owners.Source `yaml:"owners"`
}

// OIDCConfig is the login through the company's OpenID Connect provider.
type OIDCConfig struct {
	Issuer           string `yaml:"issuer"`
	ClientID         string `yaml:"client_id"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// RedirectURL is registered with the provider; default public_url + /callback.
	RedirectURL string `yaml:"redirect_url"`
	// LoginClaim names the person in the owners directory: email (default; the provider
	// must say it is verified) or sub.
	LoginClaim string `yaml:"login_claim"`
}

// Defaults.
const (
	DefaultListen = "127.0.0.1:8088"
	ClaimEmail    = "email"
	ClaimSub      = "sub"
	// MinCookieSecret is the shortest cookie secret accepted, in bytes.
	MinCookieSecret = 32
)

// settings is the config with every secret resolved and every default applied: what the
// server runs on.
type settings struct {
	Listen     string
	PublicURL  *url.URL
	Key        ed25519.PrivateKey
	Cookie     []byte
	OIDC       *oidcSettings
	LinkSecret []byte
	Owners     owners.Source
}

type oidcSettings struct {
	Issuer, ClientID, ClientSecret, RedirectURL, Claim string
}

// loadConfig reads and checks a config file. Unknown keys are errors: a typo in a security
// setting must not pass silently.
func loadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parseConfig(data)
}

func parseConfig(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("portal config: %w", err)
	}
	return &c, nil
}

// resolve checks the config and reads its secrets, collecting every problem at once so that
// an operator fixes the file in one go.
func (c *Config) resolve() (*settings, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("portal config: "+format, args...)) }
	s := &settings{Listen: c.Listen, Owners: c.Owners}
	if s.Listen == "" {
		s.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		bad("listen %q is not host:port: %v", s.Listen, err)
	}

	u, err := url.Parse(strings.TrimRight(c.PublicURL, "/"))
	switch {
	case c.PublicURL == "":
		bad("public_url is required: the page's address as owners reach it, e.g. https://retire.example.com")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		bad("public_url %q is not an http(s) URL without query", c.PublicURL)
	default:
		s.PublicURL = u
	}

	if c.SigningKeyFile == "" {
		bad("signing_key_file is required: make one with `retire-portal keygen <file>`")
	} else if s.Key, err = readSigningKey(c.SigningKeyFile); err != nil {
		bad("signing_key_file: %v", err)
	}

	if cookie, err := c.CookieSecret.Password(); err != nil {
		bad("cookie_secret: %v", err)
	} else if len(cookie) < MinCookieSecret {
		bad("cookie_secret is %d bytes; it must be at least %d (set password_env or password_file; e.g. openssl rand -base64 48)", len(cookie), MinCookieSecret)
	} else {
		s.Cookie = []byte(cookie)
	}

	linkDeclared := c.LinkSecret.PasswordEnv != "" || c.LinkSecret.PasswordFile != ""
	if link, err := c.LinkSecret.Password(); err != nil {
		bad("link_secret: %v", err)
	} else if linkDeclared && len(link) < proof.MinLinkSecret {
		bad("link_secret is %d bytes; it must be at least %d, and the same as the worker's signoff.link_secret", len(link), proof.MinLinkSecret)
	} else if linkDeclared {
		s.LinkSecret = []byte(link)
	}

	if o := c.OIDC; o != nil {
		oc := &oidcSettings{Issuer: o.Issuer, ClientID: o.ClientID, RedirectURL: o.RedirectURL, Claim: o.LoginClaim}
		if iu, err := url.Parse(o.Issuer); o.Issuer == "" || err != nil || (iu.Scheme != "https" && iu.Scheme != "http") || iu.Host == "" {
			bad("oidc.issuer %q is not the provider's issuer URL", o.Issuer)
		}
		if o.ClientID == "" {
			bad("oidc.client_id is required")
		}
		switch {
		case o.ClientSecretEnv != "" && o.ClientSecretFile != "":
			bad("oidc: set client_secret_env or client_secret_file, not both")
		case o.ClientSecretEnv != "" || o.ClientSecretFile != "":
			secret, err := config.Secret{PasswordEnv: o.ClientSecretEnv, PasswordFile: o.ClientSecretFile}.Password()
			if err != nil {
				bad("oidc client secret: %v", err)
			}
			oc.ClientSecret = secret
		}
		if oc.RedirectURL == "" && s.PublicURL != nil {
			oc.RedirectURL = s.PublicURL.String() + "/callback"
		} else if ru, err := url.Parse(oc.RedirectURL); oc.RedirectURL != "" && (err != nil || ru.Host == "") {
			bad("oidc.redirect_url %q is not a URL", oc.RedirectURL)
		}
		switch oc.Claim {
		case "":
			oc.Claim = ClaimEmail
		case ClaimEmail, ClaimSub:
		default:
			bad("oidc.login_claim %q: use email (the verified e-mail names the person in the owners directory) or sub", oc.Claim)
		}
		s.OIDC = oc
	}
	if c.OIDC == nil && !linkDeclared {
		bad("neither oidc nor link_secret is set: nobody could log in (declare the company's OpenID Connect provider under oidc:, or link_secret: for the worker's personal e-mail links, or both)")
	}
	if !c.Owners.Configured() {
		bad("owners is not set: declare the owners directory as the worker does (owners: {file: ...}, {url: ...} or people:)")
	}
	return s, errors.Join(errs...)
}

// readSigningKey reads an Ed25519 private key in PKCS#8 PEM.
func readSigningKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %s): it signs every owner's decision; chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseSigningKey(b, path)
}

func parseSigningKey(b []byte, path string) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s holds no PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----); make one with `retire-portal keygen`", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T, not an Ed25519 key", path, k)
	}
	return key, nil
}
