package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/dataretire/retire/proof"
)

// oidcLogin is the login through the company's OpenID Connect provider: authorization code
// with PKCE, state and nonce. The provider is discovered at the first login rather than at
// start, so that the page (and its personal links) work while the provider is away.
type oidcLogin struct {
	cfg    *oidcSettings
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func (o *oidcLogin) ready(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.oauth != nil {
		return o.oauth, o.verifier, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.client), o.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("the company login (%s) cannot be reached: %v", o.cfg.Issuer, err)
	}
	// Issuer, audience and expiry are checked by the verifier, against the page's clock.
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID, Now: o.now})
	o.oauth = &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: o.cfg.RedirectURL, Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}
	return o.oauth, o.verifier, nil
}

// login sends the browser to the provider with a fresh state, nonce and PKCE challenge, kept
// in a short-lived signed and encrypted cookie for the callback.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		s.needLogin(w, r)
		return
	}
	oc, _, err := s.oidc.ready(r.Context())
	if err != nil {
		s.log.Error("OIDC discovery failed", zap.Error(err))
		s.message(w, r, http.StatusBadGateway, "The company login is not reachable", err.Error()+". Try again in a minute, or open the personal link from your last notice.")
		return
	}
	st := loginState{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(),
		Next: localPath(r.URL.Query().Get("next")), Expires: s.now().Add(LoginStateTTL).Unix()}
	if err := s.cookies.set(w, cookieLogin, st, LoginStateTTL); err != nil {
		s.message(w, r, http.StatusInternalServerError, "Login failed", err.Error())
		return
	}
	http.Redirect(w, r, oc.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusSeeOther)
}

// idClaims are the claims of the ID token the page reads.
type idClaims struct {
	Email         string   `json:"email"`
	EmailVerified flexBool `json:"email_verified"`
	Name          string   `json:"name"`
	Username      string   `json:"preferred_username"`
	AuthorizedBy  string   `json:"azp"`
}

// flexBool reads true and "true": some providers send email_verified as a string.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*b = flexBool(x)
	case string:
		*b = flexBool(strings.EqualFold(x, "true"))
	}
	return nil
}

// callback takes the provider's answer: the state must be the one this browser was sent
// with, the code is exchanged with the PKCE verifier, and the ID token must verify (issuer,
// audience, expiry) and carry the nonce. Then the person is looked up in the owners
// directory by the configured claim.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		s.needLogin(w, r)
		return
	}
	var st loginState
	ok := s.cookies.get(r, cookieLogin, &st)
	s.cookies.clear(w, cookieLogin) // one trip, one use
	q := r.URL.Query()
	switch {
	case !ok || s.now().Unix() >= st.Expires:
		s.messageLink(w, r, http.StatusBadRequest, message{Heading: "Login expired", Text: "This login took too long or was started in another browser.", Link: "/login", Label: "Log in again"})
		return
	case !sameSecret(q.Get("state"), st.State):
		s.messageLink(w, r, http.StatusBadRequest, message{Heading: "Login refused", Text: "The answer from the company login does not belong to the login this browser started (its state differs).", Link: "/login", Label: "Log in again"})
		return
	case q.Get("error") != "":
		s.messageLink(w, r, http.StatusForbidden, message{Heading: "The company login said no", Text: strings.TrimSpace(q.Get("error") + ": " + q.Get("error_description")), Link: "/login", Label: "Try again"})
		return
	}
	oc, verifier, err := s.oidc.ready(r.Context())
	if err != nil {
		s.message(w, r, http.StatusBadGateway, "The company login is not reachable", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(r.Context(), s.oidc.client), 15*time.Second)
	defer cancel()
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		s.log.Warn("OIDC code exchange failed", zap.Error(err))
		s.messageLink(w, r, http.StatusForbidden, message{Heading: "Login failed", Text: "The company login did not accept this login's code.", Link: "/login", Label: "Log in again"})
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		s.message(w, r, http.StatusForbidden, "Login failed", "The company login sent no ID token.")
		return
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		s.log.Warn("ID token refused", zap.Error(err))
		s.message(w, r, http.StatusForbidden, "Login failed", "The ID token from the company login does not verify: "+err.Error())
		return
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		s.message(w, r, http.StatusForbidden, "Login failed", "The ID token's claims cannot be read.")
		return
	}
	switch {
	case !sameSecret(idt.Nonce, st.Nonce):
		s.message(w, r, http.StatusForbidden, "Login refused", "The ID token was not made for this login (its nonce differs).")
		return
	case len(idt.Audience) > 1 && c.AuthorizedBy != s.oidc.cfg.ClientID:
		s.message(w, r, http.StatusForbidden, "Login refused", "The ID token was issued to another application.")
		return
	}
	who := idt.Subject
	if s.oidc.cfg.Claim == ClaimEmail {
		if c.Email == "" || !bool(c.EmailVerified) {
			s.message(w, r, http.StatusForbidden, "Login refused",
				"The company login did not say your e-mail address is verified, and the owners' page knows people by their verified e-mail. Ask the identity team, or use the personal link from your notice.")
			return
		}
		who = c.Email
	}
	dir, err := s.dir.get(r.Context())
	if err != nil {
		s.message(w, r, http.StatusServiceUnavailable, "The owners directory cannot be read", err.Error())
		return
	}
	p, found := dir.Find(who)
	if !found {
		s.log.Info("Login of someone not in the owners directory", zap.String("who", who))
		s.render(w, r, http.StatusForbidden, "message", page{Title: "Not in the owners directory", Who: &session{}, Data: message{
			Heading: "You are not in the owners directory",
			Text: fmt.Sprintf("You logged in as %s, but %s is not in the owners directory (%s), so this page cannot tell which retirements are yours or let you decide. If you own data that is being retired, ask the DBA team to add you to the directory.",
				who, who, dir.From),
		}})
		return
	}
	name := firstNonEmpty(p.Name, c.Name, c.Username, p.ID)
	sess := session{Person: p.ID, Name: name, Auth: proof.AuthOIDC, Issuer: idt.Issuer, CSRF: randomToken(), Expires: s.now().Add(OIDCSessionTTL).Unix()}
	if err := s.cookies.set(w, cookieSession, sess, OIDCSessionTTL); err != nil {
		s.message(w, r, http.StatusInternalServerError, "Login failed", err.Error())
		return
	}
	s.log.Info("Logged in", zap.String("person", p.ID), zap.String("issuer", idt.Issuer))
	http.Redirect(w, r, st.Next, http.StatusSeeOther)
}

// openLink checks a personal link from an owners' notice and opens that retirement's page in
// a session limited to it. It never decides anything: mail scanners open links too.
func (s *Server) openLink(w http.ResponseWriter, r *http.Request) {
	if s.cfg.LinkSecret == nil {
		s.message(w, r, http.StatusNotFound, "Personal links are off", "This owners' page does not take personal links (no link_secret in its config); log in instead.")
		return
	}
	l, err := proof.VerifyLink(s.cfg.LinkSecret, r.PathValue("token"), s.now())
	if err != nil {
		m := message{Heading: "This link cannot be used", Text: err.Error() + "."}
		if s.oidc != nil {
			m.Link, m.Label = "/login", "Log in with your company account"
		}
		s.messageLink(w, r, http.StatusForbidden, m)
		return
	}
	person, name := l.Person, l.Person
	if dir, err := s.dir.get(r.Context()); err == nil {
		if p, ok := dir.Find(l.Person); ok {
			person, name = p.ID, firstNonEmpty(p.Name, p.ID)
		}
	}
	// Someone logged in as the same person keeps the stronger session.
	if cur := s.session(r); cur != nil && !cur.ByLink() && strings.EqualFold(cur.Person, person) {
		http.Redirect(w, r, retirementPath(l.Workflow), http.StatusSeeOther)
		return
	}
	exp := min(s.now().Add(LinkSessionTTL).Unix(), l.Expires)
	sess := session{Person: person, Name: name, Auth: proof.AuthLink, CSRF: randomToken(), Expires: exp,
		Workflow: l.Workflow, Run: l.Run, LinkNonce: l.Nonce}
	if err := s.cookies.set(w, cookieSession, sess, time.Duration(exp-s.now().Unix())*time.Second); err != nil {
		s.message(w, r, http.StatusInternalServerError, "The link could not be opened", err.Error())
		return
	}
	// Redirect, so that the token leaves the address bar and the browser's history.
	http.Redirect(w, r, retirementPath(l.Workflow), http.StatusSeeOther)
}

// localPath keeps a redirect target on this site: a path, never //host or a URL.
func localPath(p string) string {
	// Browsers drop tabs and newlines and read a backslash as a slash: "/\t/evil" would
	// become "//evil", another site. Any control character or backslash sends home instead.
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsFunc(p, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '\\' }) {
		return "/"
	}
	return p
}

func firstNonEmpty(ss ...string) string {
	i := slices.IndexFunc(ss, func(s string) bool { return strings.TrimSpace(s) != "" })
	if i < 0 {
		return ""
	}
	return ss[i]
}
