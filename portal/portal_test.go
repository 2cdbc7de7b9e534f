package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/testservices"
	"github.com/dataretire/retire/workflows"
)

const (
	shopID = "retire:local:shop"
	crmID  = "retire:local:crm"
	hrID   = "retire:hr:payroll"
)

// env is a portal under test: a real OIDC provider, the fake Temporal, the page's clock, and
// the page served over real HTTP.
type env struct {
	t          *testing.T
	clock      *clock
	fake       *fakeTemporal
	idp        *testservices.OIDCProvider
	srv        *Server
	ts         *httptest.Server
	pub        ed25519.PublicKey
	pins       proof.Pins
	linkSecret []byte
}

type setupOptions struct {
	claim  string // oidc.login_claim
	noOIDC bool
}

const directoryYAML = `owners:
  people:
    - {id: alice, name: Alice Liddell, email: alice@example.com, owns: [{connection: local, objects: ["shop*", crm]}]}
    - {id: bob, name: Bob, email: bob@example.com, owns: [{connection: local, objects: ["shop*"]}]}
    - {id: dba, name: The DBA, email: dba@example.com, dba: true}
    - {id: carol, email: carol@example.com}
    - {id: sub-of-erin, name: Erin, email: erin@example.com, owns: [{connection: local, objects: [shop]}]}
`

func setup(t *testing.T, o setupOptions) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}}
	e.fake = newFakeTemporal(e.clock.Now)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "portal-key.pem")
	var out bytes.Buffer
	require.Zero(t, run([]string{"keygen", keyFile}, &out, io.Discard))
	key, err := readSigningKey(keyFile)
	require.NoError(t, err)
	e.pub = key.Public().(ed25519.PublicKey)
	require.Equal(t, proof.PortalPublicKey(e.pub), strings.TrimSpace(out.String()), "keygen prints the public key line")
	e.linkSecret = []byte("link-secret-" + randomToken())
	t.Setenv("RT_PORTAL_COOKIE", "cookie-secret-"+randomToken())
	t.Setenv("RT_PORTAL_LINK", string(e.linkSecret))

	// The page's address must be known before the page is built (redirect URL, origin).
	var h http.Handler = http.NotFoundHandler()
	e.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.ts.Close)

	oidcYAML := ""
	if !o.noOIDC {
		e.idp = testservices.OIDC(t)
		t.Setenv("RT_PORTAL_OIDC_SECRET", e.idp.ClientSecret)
		claim := o.claim
		if claim == "" {
			claim = "email"
		}
		oidcYAML = fmt.Sprintf("oidc: {issuer: %q, client_id: %q, client_secret_env: RT_PORTAL_OIDC_SECRET, login_claim: %s}\n", e.idp.Issuer, e.idp.ClientID, claim)
	}
	cfgFile := filepath.Join(dir, "portal.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
public_url: %s
signing_key_file: %s
cookie_secret: {password_env: RT_PORTAL_COOKIE}
link_secret: {password_env: RT_PORTAL_LINK}
%s%s`, e.ts.URL, keyFile, oidcYAML, directoryYAML)), 0o600))
	c, err := loadConfig(cfgFile)
	require.NoError(t, err)
	cfg, err := c.resolve()
	require.NoError(t, err)
	e.srv, err = NewServer(context.Background(), cfg, e.fake, Options{Now: e.clock.Now})
	require.NoError(t, err)
	h = e.srv

	// What the worker pins at plan time: the page's key and the people of the directory.
	e.pins = proof.Pins{PortalKeys: []string{proof.PortalPublicKey(e.pub)}, People: []proof.Person{
		{ID: "alice", Name: "Alice Liddell", Email: "alice@example.com"}, {ID: "bob", Name: "Bob", Email: "bob@example.com"},
		{ID: "dba", Name: "The DBA", Email: "dba@example.com"}, {ID: "sub-of-erin", Name: "Erin", Email: "erin@example.com"},
	}}
	e.fake.put(e.observing(shopID, "run-shop", "local", "shop", []string{"alice", "bob", "sub-of-erin"}))
	e.fake.put(e.observing(crmID, "run-crm", "local", "crm", []string{"alice"}))
	e.fake.put(e.observing(hrID, "run-hr", "hr", "payroll", []string{"dave"}))
	return e
}

// observing is a retirement in its observation window, as the status query returns it.
func (e *env) observing(id, run, connection, object string, owners []string) workflows.Status {
	now := e.clock.Now()
	return workflows.Status{
		WorkflowID: id, RunID: run, Phase: workflows.PhaseObserve,
		Request: workflows.Request{Connection: connection, Object: object, Reason: workflows.ReasonDecommission, Owners: owners,
			Requester: "dba", Ticket: "CHG-<b>1</b>", Strategy: engine.StrategyRevoke, SampleWindow: 3 * 24 * time.Hour, ObserveWindow: 14 * 24 * time.Hour},
		StartedAt: now.Add(-4 * 24 * time.Hour), SampleUntil: now.Add(-24 * time.Hour),
		ObserveFrom: now.Add(-time.Hour), ObserveUntil: now.Add(14*24*time.Hour - time.Hour), ObserveTotal: 14 * 24 * time.Hour,
		Plan: &activities.Plan{Inventory: engine.Inventory{Engine: "mysql", Version: "11.8", Object: object,
			Tables:    []engine.Table{{Name: "orders", Rows: 5000, Bytes: 1 << 20}, {Name: "customers<script>", Rows: 2, Bytes: 16384}},
			TotalRows: 5002, TotalBytes: 1<<20 + 16384}},
		Signers: &activities.Signers{Owners: owners, Requester: "dba", DBAs: []string{"dba"}, Pins: e.pins, From: "owners.people in the worker's config"},
		Clients: []engine.Session{{User: "report", Host: "10.1.2.3", Program: "bi", Count: 3, FirstSeen: now.Add(-3 * 24 * time.Hour), LastSeen: now.Add(-2 * 24 * time.Hour)}},
		Cut:     &engine.CutResult{Revoked: 2, Locked: []string{"'app'@'%'"}},
		Gates:   []workflows.Gate{{Name: workflows.GateSignoff, State: workflows.GatePending}},
	}
}

// browser is a person's browser: cookies kept, redirects followed, forms posted from the
// page's own origin as browsers say (Origin, Sec-Fetch-Site).
type browser struct {
	t *testing.T
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(e.t, err)
	return &browser{t: e.t, e: e, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.e.ts.URL + path
	}
	resp, err := b.c.Get(u)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values, header map[string]string) (int, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.ts.URL+path, strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.ts.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp.StatusCode, string(body)
}

// login goes through the provider as u and lands on "My retirements".
func (b *browser) login(u testservices.OIDCUser) (int, string) {
	b.t.Helper()
	b.e.idp.Login(u)
	return b.get("/login")
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the synchronizer token of the forms on a page.
func csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	require.NotNil(t, m, "no form with a csrf field on the page:\n%s", body)
	return html.UnescapeString(m[1])
}

var (
	alice = testservices.OIDCUser{Subject: "alice-sub", Email: "alice@example.com", EmailVerified: true}
	bob   = testservices.OIDCUser{Subject: "bob-sub", Email: "BOB@example.com", EmailVerified: true}
)

func TestLoginListsMyRetirementsWithPKCEStateAndNonce(t *testing.T) {
	e := setup(t, setupOptions{})
	b := e.browser()
	code, body := b.login(alice)
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `name="viewport"`, "readable on a phone")
	assert.Contains(t, body, "Alice Liddell (alice)")
	assert.Contains(t, body, "local/shop")
	assert.Contains(t, body, "local/crm")
	assert.NotContains(t, body, "hr/payroll", "not alice's")
	assert.Contains(t, body, "observation window ends")
	assert.Equal(t, []string{workflows.Filter{Owner: "alice"}.Query()}, e.fake.queries, "listed by RetireOwners = the person's directory id")

	auths := e.idp.Authorizations()
	require.Len(t, auths, 1)
	a := auths[0]
	assert.Equal(t, "S256", a.Get("code_challenge_method"), "PKCE with S256")
	assert.Len(t, a.Get("code_challenge"), 43, "base64url of a SHA-256")
	assert.NotEmpty(t, a.Get("state"))
	assert.NotEmpty(t, a.Get("nonce"))
	assert.NotEqual(t, a.Get("state"), a.Get("nonce"))
	assert.Equal(t, e.ts.URL+"/callback", a.Get("redirect_uri"))
	assert.Contains(t, strings.Fields(a.Get("scope")), "openid")

	// The session expires with the page's clock.
	e.clock.Advance(OIDCSessionTTL + time.Second)
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := b.c.Get(e.ts.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/login"), resp.Header.Get("Location"))
}

// stepper follows a login by hand, so that a test can change what travels between the
// browser, the provider and the page.
type stepper struct {
	*browser
}

func (e *env) stepper() *stepper {
	b := e.browser()
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &stepper{b}
}

// hop is one request without following its redirect: the status and where it points.
func (s *stepper) hop(u string) (int, *url.URL, string) {
	s.t.Helper()
	resp, err := s.c.Get(u)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	loc, _ := resp.Location()
	return resp.StatusCode, loc, string(body)
}

// authorize starts a login and returns the provider's authorization URL the page sent the
// browser to.
func (s *stepper) authorize() *url.URL {
	s.t.Helper()
	code, loc, body := s.hop(s.e.ts.URL + "/login?next=/r/" + shopID)
	require.Equal(s.t, http.StatusSeeOther, code, body)
	return loc
}

// callbackURL asks the provider for a code and returns the page's callback URL it answers with.
func (s *stepper) callbackURL(auth *url.URL) *url.URL {
	s.t.Helper()
	code, loc, body := s.hop(auth.String())
	require.Equal(s.t, http.StatusFound, code, body)
	require.Equal(s.t, "/callback", loc.Path)
	return loc
}

func TestCallbackRefusesWhatIsNotThisLogin(t *testing.T) {
	e := setup(t, setupOptions{})

	t.Run("the state differs", func(t *testing.T) {
		s := e.stepper()
		e.idp.Login(alice)
		cb := s.callbackURL(s.authorize())
		q := cb.Query()
		q.Set("state", "forged-"+q.Get("state"))
		cb.RawQuery = q.Encode()
		code, _, body := s.hop(cb.String())
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, body, "its state differs")
		// The login cookie is spent: the right state no longer works either.
		code, loc, _ := s.hop(e.ts.URL + "/")
		assert.Equal(t, http.StatusSeeOther, code)
		assert.Equal(t, "/login", loc.Path, "no session was made")
	})

	t.Run("another browser's callback", func(t *testing.T) {
		s := e.stepper()
		e.idp.Login(alice)
		cb := s.callbackURL(s.authorize())
		code, _, body := e.stepper().hop(cb.String()) // no login cookie there
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, body, "Login expired")
	})

	t.Run("the nonce differs", func(t *testing.T) {
		s := e.stepper()
		e.idp.Login(alice)
		auth := s.authorize()
		q := auth.Query()
		q.Set("nonce", "someone-elses-nonce")
		auth.RawQuery = q.Encode()
		code, _, body := s.hop(s.callbackURL(auth).String())
		assert.Equal(t, http.StatusForbidden, code)
		assert.Contains(t, body, "its nonce differs")
	})

	t.Run("the PKCE challenge is not this login's", func(t *testing.T) {
		s := e.stepper()
		e.idp.Login(alice)
		auth := s.authorize()
		q := auth.Query()
		q.Set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
		auth.RawQuery = q.Encode()
		code, _, body := s.hop(s.callbackURL(auth).String())
		assert.Equal(t, http.StatusForbidden, code)
		assert.Contains(t, body, "did not accept this login")
	})

	t.Run("the login took too long", func(t *testing.T) {
		s := e.stepper()
		e.idp.Login(alice)
		cb := s.callbackURL(s.authorize())
		e.clock.Advance(LoginStateTTL + time.Second)
		defer e.clock.Advance(-LoginStateTTL - time.Second)
		code, _, body := s.hop(cb.String())
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Contains(t, body, "Login expired")
	})

	t.Run("the right login goes where it was going", func(t *testing.T) {
		s := e.stepper()
		e.idp.Login(alice)
		code, loc, body := s.hop(s.callbackURL(s.authorize()).String())
		require.Equal(t, http.StatusSeeOther, code, body)
		assert.Equal(t, "/r/"+shopID, loc.Path)
	})
}

func TestLoginOfSomeoneNotInTheDirectoryIsRefused(t *testing.T) {
	e := setup(t, setupOptions{})
	code, body := e.browser().login(testservices.OIDCUser{Subject: "m", Email: "mallory@example.com", EmailVerified: true})
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, "You are not in the owners directory")
	assert.Contains(t, body, "mallory@example.com is not in the owners directory")

	// An e-mail the provider does not vouch for names nobody.
	code, body = e.browser().login(testservices.OIDCUser{Subject: "alice-sub", Email: "alice@example.com", EmailVerified: false})
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, "did not say your e-mail address is verified")
	assert.Empty(t, e.fake.queries, "nobody was logged in")
}

func TestLoginBySubject(t *testing.T) {
	e := setup(t, setupOptions{claim: "sub"})
	// The directory knows Erin by the provider's subject; her e-mail is not even verified.
	code, body := e.browser().login(testservices.OIDCUser{Subject: "sub-of-erin", Email: "whatever@example.org"})
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "Erin (sub-of-erin)")
	assert.Contains(t, body, "local/shop")
	// Alice's subject is not in the directory.
	code, body = e.browser().login(alice)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, "alice-sub is not in the owners directory")
}

func TestApproveSignsWhatTheWorkflowVerifies(t *testing.T) {
	e := setup(t, setupOptions{})
	b := e.browser()
	_, _ = b.login(alice)
	code, page := b.get("/r/" + shopID)
	require.Equal(t, http.StatusOK, code, page)
	for _, want := range []string{"2 tables, 5,002 rows, 1.0 MiB", "report@10.1.2.3", "CHG-&lt;b&gt;1&lt;/b&gt;", "customers&lt;script&gt;", "Alice Liddell (alice)", "Type <code>shop</code> to confirm"} {
		assert.Contains(t, page, want)
	}
	assert.NotContains(t, page, "<script>", "everything is escaped")
	token := csrf(t, page)

	// Without the object's name typed, nothing is sent.
	code, body := b.post("/r/"+shopID, url.Values{"csrf": {token}, "decision": {"approve"}, "comment": {"shop is closed"}, "confirm": {"Shop"}}, nil)
	assert.Equal(t, http.StatusUnprocessableEntity, code)
	assert.Contains(t, body, "type the name of the object that will be destroyed, shop")
	assert.Contains(t, body, "shop is closed", "what was typed is kept")
	assert.Empty(t, e.fake.sent())

	code, body = b.post("/r/"+shopID, url.Values{"csrf": {token}, "decision": {"approve"}, "comment": {"shop is closed"}, "confirm": {" shop "}}, nil)
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "Your sign-off is recorded.")
	sent := e.fake.sent()
	require.Len(t, sent, 1)
	require.NoError(t, sent[0].Err)
	assert.Equal(t, "run-shop", sent[0].Run, "sent to the run it was signed for")
	assert.Equal(t, proof.Verified{Person: "alice", Method: proof.MethodPortal, Auth: proof.AuthOIDC, Issuer: e.idp.Issuer, Key: proof.KeyID(e.pub), Nonce: sent[0].Verified.Nonce}, *sent[0].Verified)
	assert.Contains(t, body, "alice signed off")
	assert.Contains(t, body, "verified: logged in to the owners&#39; page through "+e.idp.Issuer)
	assert.NotContains(t, body, `id="approve-form"`, "no second sign-off offered")

	// The same sign-off again (an old form) is the workflow's to refuse, and its words are shown.
	e.fake.mu.Lock()
	e.fake.refuse = "alice has already signed off"
	e.fake.mu.Unlock()
	code, body = b.post("/r/"+shopID, url.Values{"csrf": {token}, "decision": {"approve"}, "confirm": {"shop"}}, nil)
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, body, `<p class="error" id="error" role="alert">alice has already signed off</p>`)
}

func TestMintedTokenVerifiesWithThePinnedKeyOnly(t *testing.T) {
	e := setup(t, setupOptions{})
	st := e.fake.get(shopID)
	sess := &session{Person: "bob", Auth: proof.AuthOIDC, Issuer: "https://login.example.com"}
	d := workflows.Objection{By: "bob", Reason: "month-end billing still reads it"}
	token, err := e.srv.sign(sess, workflows.UpdateObject, st, d.Says())
	require.NoError(t, err)
	pr := &proof.Proof{Method: proof.MethodPortal, Token: token}
	want := proof.Expect{Decision: workflows.UpdateObject, Workflow: shopID, Run: "run-shop", Person: "bob", Says: d.Says(), Now: e.clock.Now()}

	v, err := e.pins.Verify(pr, want)
	require.NoError(t, err)
	assert.Equal(t, "bob", v.Person)
	assert.Equal(t, proof.AuthOIDC, v.Auth)
	assert.Equal(t, "https://login.example.com", v.Issuer)
	stmt, err := pr.Decode()
	require.NoError(t, err)
	assert.Equal(t, ProofLifetime, time.Duration(stmt.Expires-stmt.IssuedAt)*time.Second)

	other, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, err = proof.Pins{PortalKeys: []string{proof.PortalPublicKey(other)}}.Verify(pr, want)
	assert.ErrorContains(t, err, "does not verify with the page keys pinned")

	for name, w := range map[string]func(*proof.Expect){
		"another run":      func(x *proof.Expect) { x.Run = "run-2" },
		"another decision": func(x *proof.Expect) { x.Decision = workflows.UpdateApprove },
		"other words":      func(x *proof.Expect) { x.Says = "object: nothing" },
		"spent nonce":      func(x *proof.Expect) { x.Used = []string{stmt.Nonce} },
		"too late":         func(x *proof.Expect) { x.Now = x.Now.Add(ProofLifetime) },
		"another person":   func(x *proof.Expect) { x.Person = "alice" },
	} {
		x := want
		w(&x)
		_, err := e.pins.Verify(pr, x)
		assert.Error(t, err, name)
	}
	// Two tokens of one login have two nonces: each decides once.
	token2, err := e.srv.sign(sess, workflows.UpdateObject, st, d.Says())
	require.NoError(t, err)
	stmt2, err := proof.Proof{Method: proof.MethodPortal, Token: token2}.Decode()
	require.NoError(t, err)
	assert.NotEqual(t, stmt.Nonce, stmt2.Nonce)
}

func TestFormsNeedTheSessionTokenAndTheSameOrigin(t *testing.T) {
	e := setup(t, setupOptions{})
	b := e.browser()
	_, _ = b.login(bob)
	_, page := b.get("/r/" + shopID)
	token := csrf(t, page)
	object := url.Values{"decision": {"object"}, "reason": {"still needed"}}
	with := func(tok string) url.Values {
		v := url.Values{"csrf": {tok}}
		for k, x := range object {
			v[k] = x
		}
		return v
	}

	code, body := b.post("/r/"+shopID, object, nil)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, "not one this page gave you")
	code, _ = b.post("/r/"+shopID, with(token[:len(token)-1]+"x"), nil)
	assert.Equal(t, http.StatusForbidden, code)

	// Another browser's session token does not work in this one.
	other := e.browser()
	_, _ = other.login(alice)
	_, otherPage := other.get("/r/" + shopID)
	code, _ = b.post("/r/"+shopID, with(csrf(t, otherPage)), nil)
	assert.Equal(t, http.StatusForbidden, code)

	// From another site, even with the right token (say it leaked), the browser's headers
	// give it away.
	code, body = b.post("/r/"+shopID, with(token), map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, "this form came from another site")
	code, _ = b.post("/r/"+shopID, with(token), map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": ""})
	assert.Equal(t, http.StatusForbidden, code)
	// Log out is a form too.
	code, _ = b.post("/logout", url.Values{}, nil)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Empty(t, e.fake.sent(), "nothing reached the workflow")

	// State changes only by POST.
	req, _ := http.NewRequest(http.MethodPut, e.ts.URL+"/r/"+shopID, nil)
	resp, err := b.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	code, body = b.post("/r/"+shopID, with(token), nil)
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "Your objection is recorded.")
	assert.Contains(t, body, "bob objected")
	require.Len(t, e.fake.sent(), 1)
	assert.Equal(t, "bob", e.fake.sent()[0].Verified.Person, "BOB@example.com is bob in the directory")

	code, body = b.post("/logout", url.Values{"csrf": {token}}, nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "You are logged out")
	code, _ = b.get("/r/" + shopID)
	assert.Equal(t, http.StatusForbidden, code, "back at the provider, with nobody queued")
}

func (e *env) link(person, workflow, run string, ttl time.Duration) (string, proof.Link) {
	e.t.Helper()
	now := e.clock.Now()
	l := proof.Link{Person: person, Workflow: workflow, Run: run, Nonce: proof.NewNonce(), IssuedAt: now.Unix(), Expires: now.Add(ttl).Unix()}
	tok, err := proof.SignLink(e.linkSecret, l)
	require.NoError(e.t, err)
	return "/l/" + tok, l
}

func TestPersonalLinkOpensOneRetirementAndDecidesOnce(t *testing.T) {
	e := setup(t, setupOptions{})
	path, l := e.link("bob", shopID, "run-shop", 7*24*time.Hour)
	b := e.browser()
	code, page := b.get(path)
	require.Equal(t, http.StatusOK, code, page)
	assert.Contains(t, page, "Bob (bob), by personal link")
	assert.Contains(t, page, `id="object-form"`, "objecting is one form away")
	assert.Contains(t, page, `id="extend-form"`)
	assert.Empty(t, e.fake.sent(), "opening a link decides nothing")

	// The link session sees its retirement only.
	code, body := b.get("/r/" + crmID)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, "is for "+shopID+" only")
	_, body = b.get("/")
	assert.Contains(t, body, "Retirement of <code>shop</code>", "the list is the linked retirement")
	assert.Empty(t, e.fake.queries, "a link session lists nothing")
	token := csrf(t, page)
	code, _ = b.post("/r/"+crmID, url.Values{"csrf": {token}, "decision": {"object"}, "reason": {"x"}}, nil)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Empty(t, e.fake.sent())

	code, body = b.post("/r/"+shopID, url.Values{"csrf": {token}, "decision": {"extend"}, "days": {"7"}, "extend_reason": {"quarter end"}}, nil)
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "extended by 7d, to 21d in total")
	sent := e.fake.sent()
	require.Len(t, sent, 1)
	require.NoError(t, sent[0].Err)
	assert.Equal(t, proof.AuthLink, sent[0].Verified.Auth)
	assert.Equal(t, l.Nonce, sent[0].Verified.Nonce, "a link decision carries the link's nonce")
	assert.Empty(t, sent[0].Verified.Issuer)
	assert.Contains(t, body, "verified: personal e-mail link")

	// The link has decided: the page says so and sends nothing more.
	assert.Contains(t, body, `id="link-spent"`)
	assert.NotContains(t, body, `id="object-form"`)
	code, body = b.post("/r/"+shopID, url.Values{"csrf": {token}, "decision": {"object"}, "reason": {"x"}}, nil)
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, body, "a link decides once")
	assert.Len(t, e.fake.sent(), 1)

	// Opening the same link again gives a new session with the same nonce; the workflow
	// refuses the spent nonce, and its words are shown.
	b2 := e.browser()
	_, page = b2.get(path)
	code, body = b2.post("/r/"+shopID, url.Values{"csrf": {csrf(t, page)}, "decision": {"object"}, "reason": {"x"}}, nil)
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, body, "this proof was already used")
}

func TestPersonalLinkRefusals(t *testing.T) {
	e := setup(t, setupOptions{})

	good, _ := e.link("bob", shopID, "run-shop", time.Hour)
	tok := strings.TrimPrefix(good, "/l/")
	forged, err := proof.SignLink([]byte("another-secret-that-is-long-enough-0123456789"), proof.Link{Person: "bob", Workflow: shopID, Run: "run-shop", Nonce: "n", IssuedAt: e.clock.Now().Unix(), Expires: e.clock.Now().Add(time.Hour).Unix()})
	require.NoError(t, err)
	parts := strings.Split(tok, ".")
	for name, c := range map[string]struct {
		path, want string
	}{
		"forged":  {"/l/" + forged, "signature does not verify"},
		"damaged": {"/l/" + parts[0] + "." + parts[1] + "x." + parts[2], "signature does not verify"},
		"garbage": {"/l/not-a-token", "this link is damaged"},
	} {
		code, body := e.browser().get(c.path)
		assert.Equal(t, http.StatusForbidden, code, name)
		assert.Contains(t, body, c.want, name)
	}

	e.clock.Advance(time.Hour)
	code, body := e.browser().get(good)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, "this link expired")
	e.clock.Advance(-time.Hour)

	// A link session ends with its link, even within LinkSessionTTL.
	short, _ := e.link("bob", shopID, "run-shop", 10*time.Minute)
	b := e.browser()
	code, _ = b.get(short)
	require.Equal(t, http.StatusOK, code)
	e.clock.Advance(10 * time.Minute)
	code, body = b.get("/r/" + shopID)
	assert.Equal(t, http.StatusForbidden, code, "sent to log in, where nobody is queued")
	e.clock.Advance(-10 * time.Minute)
	_ = body

	// A link for an earlier run shows the current run but offers no decision about it.
	old, _ := e.link("bob", shopID, "run-before", time.Hour)
	b = e.browser()
	code, page := b.get(old)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, `id="link-old"`)
	assert.NotContains(t, page, `id="object-form"`)

	// A new run that starts while the page is open: the form of the old one decides nothing.
	current, _ := e.link("bob", shopID, "run-shop", time.Hour)
	b = e.browser()
	_, page = b.get(current)
	st := e.fake.get(shopID)
	st.RunID = "run-shop-2"
	e.fake.put(st)
	code, body = b.post("/r/"+shopID, url.Values{"csrf": {csrf(t, page)}, "decision": {"object"}, "reason": {"x"}}, nil)
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, body, "sent for an earlier run")
	assert.Empty(t, e.fake.sent())
}

func TestOnlyThePeopleOfARetirementSeeIt(t *testing.T) {
	e := setup(t, setupOptions{})
	b := e.browser()
	code, body := b.login(testservices.OIDCUser{Subject: "c", Email: "carol@example.com", EmailVerified: true})
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "Nothing of yours is being retired right now")
	code, body = b.get("/r/" + shopID)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, "carol is not an owner, the requester or a DBA")

	// The requester sees it and may object or extend, never sign off.
	d := e.browser()
	_, _ = d.login(testservices.OIDCUser{Subject: "d", Email: "dba@example.com", EmailVerified: true})
	code, body = d.get("/r/" + shopID)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `id="object-form"`)
	assert.NotContains(t, body, `id="approve-form"`)

	code, body = d.get("/r/retire:local:nothing")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, "this retirement is not running")
}

func TestAfterTheDropThePageSaysHowToGetTheDataBack(t *testing.T) {
	e := setup(t, setupOptions{})
	st := e.fake.get(shopID)
	st.Phase, st.Outcome = workflows.PhaseDone, "retired"
	st.Archive = &activities.ArchiveResult{Store: "e2e", Bucket: "retire", Path: "local/shop/run-shop/", URL: "s3://retire/archive/local/shop/run-shop/", Tables: 2, Rows: 5002, Files: 3, Bytes: 9000, ManifestSHA256: "abc"}
	st.Gone = &engine.GoneReport{Gone: true, BytesFreed: 1 << 20}
	e.fake.put(st)
	b := e.browser()
	_, _ = b.login(alice)
	code, body := b.get("/r/" + shopID)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "s3://retire/archive/local/shop/run-shop/")
	assert.Contains(t, body, "retire restore --config &lt;the worker&#39;s config&gt; --store e2e local/shop/run-shop/ --connection local --into shop_restored")
	assert.NotContains(t, body, `id="object-form"`)
	assert.NotContains(t, body, `id="approve-form"`)
}

func TestHealthAndReadiness(t *testing.T) {
	e := setup(t, setupOptions{noOIDC: true})
	b := e.browser()
	code, _ := b.get("/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, _ = b.get("/readyz")
	assert.Equal(t, http.StatusOK, code)
	e.fake.mu.Lock()
	e.fake.down = fmt.Errorf("connection refused")
	e.fake.mu.Unlock()
	code, body := b.get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "Temporal is not reachable")
	code, _ = b.get("/healthz")
	assert.Equal(t, http.StatusOK, code)

	// Without a provider, the way in is the personal link.
	code, body = b.get("/")
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Contains(t, body, "personal link")
}

func TestSecurityHeaders(t *testing.T) {
	e := setup(t, setupOptions{})
	resp, err := http.Get(e.ts.URL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	assert.Contains(t, csp, "form-action 'self'")
	assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))

	// Cookies are HttpOnly and SameSite=Lax; not Secure over plain http.
	s := e.stepper()
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/login", nil)
	resp, err = s.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEmpty(t, resp.Cookies())
	for _, c := range resp.Cookies() {
		assert.True(t, c.HttpOnly, c.Name)
		assert.Equal(t, http.SameSiteLaxMode, c.SameSite, c.Name)
		assert.Positive(t, c.MaxAge, c.Name)
	}
}

func TestSecureCookiesOverHTTPS(t *testing.T) {
	c := newCookies([]byte(strings.Repeat("k", 32)), true)
	w := httptest.NewRecorder()
	require.NoError(t, c.set(w, cookieSession, session{Person: "alice"}, time.Hour))
	ck := w.Result().Cookies()[0]
	assert.Equal(t, "__Host-retire_session", ck.Name)
	assert.True(t, ck.Secure)
	assert.Equal(t, "/", ck.Path)
	assert.NotContains(t, ck.Value, "alice", "encrypted, not only signed")
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k.pem")
	require.Zero(t, run([]string{"keygen", key}, io.Discard, io.Discard))
	fi, err := os.Stat(key)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	var errOut bytes.Buffer
	assert.Equal(t, 1, run([]string{"keygen", key}, io.Discard, &errOut), "never overwrites a key")
	assert.Contains(t, errOut.String(), "never overwrites")
	var out bytes.Buffer
	require.Zero(t, run([]string{"pubkey", key}, &out, io.Discard))
	k, err := readSigningKey(key)
	require.NoError(t, err)
	assert.Equal(t, proof.PortalPublicKey(k.Public().(ed25519.PublicKey))+"\n", out.String())

	t.Setenv("RT_C_COOKIE", strings.Repeat("c", 32))
	t.Setenv("RT_C_SHORT", "short")
	t.Setenv("RT_C_LINK", strings.Repeat("l", 32))
	base := "public_url: https://retire.example.com\nsigning_key_file: " + key + "\ncookie_secret: {password_env: RT_C_COOKIE}\nowners: {people: [{id: alice}]}\n"

	c, err := parseConfig([]byte(base + "link_secret: {password_env: RT_C_LINK}\n"))
	require.NoError(t, err)
	s, err := c.resolve()
	require.NoError(t, err)
	assert.Equal(t, DefaultListen, s.Listen)
	assert.Nil(t, s.OIDC)

	c, err = parseConfig([]byte(base + "oidc: {issuer: https://login.example.com, client_id: retire}\n"))
	require.NoError(t, err)
	s, err = c.resolve()
	require.NoError(t, err)
	assert.Equal(t, "https://retire.example.com/callback", s.OIDC.RedirectURL)
	assert.Equal(t, ClaimEmail, s.OIDC.Claim)

	_, err = parseConfig([]byte(base + "link_secret: {password_env: RT_C_LINK}\nlisten_addr: :80\n"))
	assert.ErrorContains(t, err, "field listen_addr not found", "unknown keys are errors")

	for name, c := range map[string]struct{ yaml, want string }{
		"neither oidc nor links": {base, "neither oidc nor link_secret is set"},
		"short cookie secret":    {strings.Replace(base, "RT_C_COOKIE", "RT_C_SHORT", 1) + "link_secret: {password_env: RT_C_LINK}\n", "cookie_secret is 5 bytes"},
		"short link secret":      {base + "link_secret: {password_env: RT_C_SHORT}\n", "link_secret is 5 bytes"},
		"unset env":              {base + "link_secret: {password_env: RT_C_UNSET}\n", "RT_C_UNSET is not set"},
		"bad claim":              {base + "oidc: {issuer: https://login.example.com, client_id: retire, login_claim: name}\n", `login_claim "name"`},
		"no owners":              {strings.Replace(base, "owners: {people: [{id: alice}]}\n", "", 1) + "link_secret: {password_env: RT_C_LINK}\n", "owners is not set"},
		"no public url":          {strings.Replace(base, "public_url: https://retire.example.com\n", "", 1) + "link_secret: {password_env: RT_C_LINK}\n", "public_url is required"},
	} {
		cfg, err := parseConfig([]byte(c.yaml))
		require.NoError(t, err, name)
		_, err = cfg.resolve()
		assert.ErrorContains(t, err, c.want, name)
	}

	// A key others can read is refused; so is a key of another kind.
	require.NoError(t, os.Chmod(key, 0o644))
	_, err = readSigningKey(key)
	assert.ErrorContains(t, err, "readable by others")
	require.NoError(t, os.Chmod(key, 0o600))
	rsaLike := filepath.Join(dir, "x.pem")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, os.WriteFile(rsaLike, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600))
	_, err = readSigningKey(rsaLike)
	assert.ErrorContains(t, err, "no PKCS#8 PEM private key")

	var help bytes.Buffer
	assert.Zero(t, run([]string{"--help"}, io.Discard, &help))
	assert.Contains(t, help.String(), "signoff.portal_keys")
}

func TestRelativeAndLocalPath(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, "in 3 days", relative(now.Add(3*24*time.Hour+time.Minute), now))
	assert.Equal(t, "2 hours ago", relative(now.Add(-2*time.Hour), now))
	assert.Equal(t, "in 1 minute", relative(now.Add(90*time.Second), now))
	for in, want := range map[string]string{"/r/x": "/r/x", "//evil.example": "/", "https://evil.example": "/", "/\\evil": "/", "": "/", "/\t/evil.example": "/", "/\n/evil.example": "/", "/a\\b": "/"} {
		assert.Equal(t, want, localPath(in), in)
	}
	assert.Equal(t, "1,234,567", thousands(1234567))
}
