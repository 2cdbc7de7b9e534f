package notify

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/proof"
)

// LinksFromConfig is the WithLinks option the worker's signoff section asks for: nil when
// neither portal_url nor link_secret is set (notices carry no personal links). It resolves
// the secret now, and refuses half a setup (a portal without a secret, a secret without a
// portal) and a secret too short to sign with, so a worker fails at start and not at the
// first notice weeks later.
func LinksFromConfig(s config.Signoff) (Option, error) {
	hasSecret := s.LinkSecret.PasswordEnv != "" || s.LinkSecret.PasswordFile != ""
	switch {
	case s.PortalURL == "" && !hasSecret:
		return nil, nil
	case !hasSecret:
		return nil, errors.New("signoff.portal_url is set but signoff.link_secret is not: personal links to the owners' page are signed with it " +
			"(set link_secret.password_env or password_file to the secret retire-portal has as its link_secret), or remove portal_url")
	case s.PortalURL == "":
		return nil, errors.New("signoff.link_secret is set but signoff.portal_url is not: personal links need the owners' page's address as owners reach it, e.g. https://retire.example.com")
	}
	secret, err := s.LinkSecret.Password()
	if err != nil {
		return nil, fmt.Errorf("signoff.link_secret: %w", err)
	}
	if len(secret) < proof.MinLinkSecret {
		return nil, fmt.Errorf("signoff.link_secret is %d bytes; it must be at least %d (e.g. openssl rand -base64 48), the same on the worker and retire-portal",
			len(secret), proof.MinLinkSecret)
	}
	ttl := s.LinkTTL
	if ttl == 0 {
		ttl = config.DefaultLinkTTL
	}
	if ttl < 0 {
		return nil, errors.New("signoff.link_ttl cannot be negative")
	}
	return WithLinks(s.PortalURL, []byte(secret), ttl, time.Now), nil
}

// FromConfig builds the notifier the worker's config asks for: each configured channel
// wrapped in its own Deduper, fanned out by Multi when there are two. It resolves the secrets
// now, so a worker with a missing one fails at start, not weeks later. It returns nil, nil
// when no channel is configured.
func FromConfig(c config.Notify) (Notifier, error) {
	var ns Multi
	if w := c.Webhook; w != nil {
		u, err := w.URL()
		if err != nil {
			return nil, fmt.Errorf("notify.webhook: %w", err)
		}
		if u == "" {
			return nil, errors.New("notify.webhook: the URL is empty")
		}
		ns = append(ns, Dedupe(&Webhook{URL: u, Timeout: w.Timeout}, 0))
	}
	if s := c.SMTP; s != nil {
		pw, err := s.Password()
		if err != nil {
			return nil, fmt.Errorf("notify.smtp: %w", err)
		}
		n := &SMTP{
			Addr: s.Address(), From: s.From, User: s.User, Password: pw, Domain: s.Domain, CC: s.CC,
			ImplicitTLS: s.TLS == config.SMTPImplicit, Timeout: s.Timeout,
		}
		if s.CAFile != "" {
			pem, err := os.ReadFile(s.CAFile)
			if err != nil {
				return nil, fmt.Errorf("notify.smtp.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("notify.smtp.ca_file %s: no PEM certificate in it", s.CAFile)
			}
			n.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		ns = append(ns, Dedupe(n, 0))
	}
	switch len(ns) {
	case 0:
		return nil, nil
	case 1:
		return ns[0], nil
	}
	return ns, nil
}
