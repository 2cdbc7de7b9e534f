package testservices

import (
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
)

// OIDCProvider is a real OpenID Connect provider in the test process (oauth2-proxy/mockoidc:
// discovery, authorization code with PKCE, RS256 ID tokens, JWKS) on 127.0.0.1:0.
//
// mockoidc logs in a default user when nobody is queued; this provider refuses such a login
// instead, so that a test only ever logs in the people it queued with Login.
type OIDCProvider struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	Mock         *mockoidc.MockOIDC

	mu    sync.Mutex
	auths []url.Values // the query of every authorization request, in order
}

// OIDCUser is a person the provider logs in.
type OIDCUser struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
}

// OIDC starts a provider for the test and stops it when the test ends.
func OIDC(t testing.TB) *OIDCProvider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatalf("mockoidc: %v", err)
	}
	p := &OIDCProvider{Mock: m}
	err = m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.AuthorizationEndpoint {
				p.mu.Lock()
				p.auths = append(p.auths, r.URL.Query())
				p.mu.Unlock()
				m.UserQueue.Lock()
				queued := len(m.UserQueue.Queue)
				m.UserQueue.Unlock()
				if queued == 0 {
					http.Error(w, "test OIDC provider: no user queued for this login (OIDCProvider.Login)", http.StatusForbidden)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatalf("mockoidc middleware: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(l, nil); err != nil {
		t.Fatalf("start mockoidc: %v", err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	p.Issuer, p.ClientID, p.ClientSecret = m.Issuer(), m.ClientID, m.ClientSecret
	return p
}

// Login queues the person that the next authorization request logs in.
func (p *OIDCProvider) Login(u OIDCUser) {
	p.Mock.QueueUser(&mockoidc.MockUser{
		Subject: u.Subject, Email: u.Email, EmailVerified: u.EmailVerified, PreferredUsername: u.Name,
	})
}

// Authorizations are the queries of the authorization requests the provider received, so
// that a test can check what the client asked for (PKCE challenge, nonce, state).
func (p *OIDCProvider) Authorizations() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]url.Values, len(p.auths))
	copy(out, p.auths)
	return out
}
