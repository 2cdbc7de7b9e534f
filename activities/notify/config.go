package notify

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/dataretire/retire/config"
)

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
