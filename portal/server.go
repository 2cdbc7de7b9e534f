package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dataretire/retire/owners"
	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/workflows"
)

//go:embed templates/*.html templates/style.css
var templateFS embed.FS

// Options are what tests (and main) inject.
type Options struct {
	// Now is the page's clock: link expiry, sessions, ID token expiry, proof lifetimes.
	Now    func() time.Time
	Logger *zap.Logger
	// HTTPClient talks to the OIDC provider; default: a client with a 15s timeout.
	HTTPClient *http.Client
}

// Server is the owners' page.
type Server struct {
	cfg     *settings
	t       Temporal
	now     func() time.Time
	log     *zap.Logger
	cookies *cookies
	dir     *directory
	oidc    *oidcLogin
	pages   map[string]*template.Template
	csp     string
	handler http.Handler
}

// NewServer checks what it can at start (the owners directory reads, the templates parse)
// and builds the routes.
func NewServer(ctx context.Context, cfg *settings, t Temporal, o Options) (*Server, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	s := &Server{cfg: cfg, t: t, now: o.Now, log: o.Logger, cookies: newCookies(cfg.Cookie, cfg.PublicURL.Scheme == "https")}
	s.dir = &directory{src: cfg.Owners, log: o.Logger}
	if _, err := s.dir.get(ctx); err != nil {
		return nil, err
	}
	if cfg.OIDC != nil {
		s.oidc = &oidcLogin{cfg: cfg.OIDC, client: o.HTTPClient, now: o.Now}
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /login", s.login)
	mux.HandleFunc("GET /callback", s.callback)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /l/{token}", s.openLink)
	mux.HandleFunc("GET /r/{id...}", s.retirement)
	mux.HandleFunc("POST /r/{id...}", s.decide)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s.message(w, r, http.StatusNotFound, "Not here", "There is no page at this address.")
	})

	// Browsers say where a form comes from (Sec-Fetch-Site, Origin): a form posted from any
	// other site is refused before it reaches a handler, on top of the per-session token.
	cop := http.NewCrossOriginProtection()
	if err := cop.AddTrustedOrigin(cfg.PublicURL.Scheme + "://" + cfg.PublicURL.Host); err != nil {
		return nil, fmt.Errorf("public_url: %w", err)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.message(w, r, http.StatusForbidden, "Refused: this form came from another site",
			"The owners' page only takes forms sent from its own pages. Open "+cfg.PublicURL.String()+" and decide there.")
	}))
	s.handler = s.headers(cop.Handler(mux))
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// headers are the browser protections of every page: nothing but the page's own stylesheet
// runs or loads, no framing, no referrer (a personal link must not leak to another site).
func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", s.csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if s.cfg.PublicURL.Scheme == "https" {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// readyz is 200 while Temporal answers: without it the page can show and decide nothing.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.t.Check(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "Temporal is not reachable: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ok")
}

// directory is the owners directory, read again at most every directoryTTL so that a person
// added to it can log in without a restart; a failed read keeps the last good one.
type directory struct {
	src owners.Source
	log *zap.Logger

	mu sync.Mutex
	d  *owners.Directory
	at time.Time
}

const directoryTTL = time.Minute

func (d *directory) get(ctx context.Context) (*owners.Directory, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.d != nil && time.Since(d.at) < directoryTTL {
		return d.d, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dir, err := owners.Load(ctx, d.src)
	if err != nil {
		if d.d != nil {
			d.log.Warn("Could not read the owners directory again; using the last one read", zap.Error(err), zap.Time("read_at", d.at))
			return d.d, nil
		}
		return nil, err
	}
	d.d, d.at = dir, time.Now()
	return dir, nil
}

// page is what every template gets.
type page struct {
	Title string
	Who   *session // nil when nobody is logged in
	CSRF  string
	OIDC  bool // logging in through the provider is possible
	Flash string
	Error string
	Data  any
}

// message is a page of plain words: a refusal, an error, a notice.
type message struct {
	Heading string
	Text    string
	Link    string // optional: where to go from here
	Label   string
}

func (s *Server) parseTemplates() error {
	css, err := fs.ReadFile(templateFS, "templates/style.css")
	if err != nil {
		return err
	}
	sum := sha256.Sum256(css)
	// Only the inline stylesheet, by its hash: no script runs on the page at all.
	s.csp = fmt.Sprintf("default-src 'none'; style-src 'sha256-%s'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		base64.StdEncoding.EncodeToString(sum[:]))
	funcs := template.FuncMap{
		"css":       func() template.CSS { return template.CSS(css) },
		"stamp":     stamp,
		"rel":       func(t time.Time) string { return relative(t, s.now()) },
		"bytes":     workflows.BytesText,
		"days":      workflows.DaysText,
		"thousands": thousands,
		"rpath":     retirementPath,
		"verified":  verifiedText,
		"join":      strings.Join,
		"past":      func(t time.Time) bool { return !t.IsZero() && !s.now().Before(t) },
	}
	s.pages = map[string]*template.Template{}
	for _, name := range []string{"home", "retirement", "message"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return err
		}
		s.pages[name] = t
	}
	return nil
}

// render writes a page; templates are executed into a buffer first so that a template error
// never leaves half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.Who == nil {
		p.Who = s.session(r)
	}
	if p.Who != nil {
		p.CSRF = p.Who.CSRF
	}
	p.OIDC = s.oidc != nil
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		s.log.Error("Template failed", zap.String("page", name), zap.Error(err))
		http.Error(w, "the page could not be drawn; see the portal's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (s *Server) message(w http.ResponseWriter, r *http.Request, status int, heading, text string) {
	s.render(w, r, status, "message", page{Title: heading, Data: message{Heading: heading, Text: text}})
}

func (s *Server) messageLink(w http.ResponseWriter, r *http.Request, status int, m message) {
	s.render(w, r, status, "message", page{Title: m.Heading, Data: m})
}

// session is the logged-in person, or nil: no cookie, a forged one, or an expired one.
func (s *Server) session(r *http.Request) *session {
	var sess session
	if !s.cookies.get(r, cookieSession, &sess) || sess.Person == "" || sess.CSRF == "" {
		return nil
	}
	if s.now().Unix() >= sess.Expires {
		return nil
	}
	return &sess
}

// needLogin sends someone without a session to the provider (and back to where they were
// going), or says how to get in when the page has no provider.
func (s *Server) needLogin(w http.ResponseWriter, r *http.Request) {
	if s.oidc != nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	s.message(w, r, http.StatusUnauthorized, "Open your personal link",
		"This owners' page has no company login: open it through the personal link in the last notice you received about the retirement.")
}

// checkForm reads a posted form and checks its synchronizer token against the session's.
func (s *Server) checkForm(w http.ResponseWriter, r *http.Request, sess *session) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errors.New("the form could not be read")
	}
	if !sameSecret(r.PostForm.Get("csrf"), sess.CSRF) {
		return errors.New("this form is not one this page gave you in your current session (it is old, or was made elsewhere); reload the page and try again")
	}
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	if sess == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if err := s.checkForm(w, r, sess); err != nil {
		s.message(w, r, http.StatusForbidden, "Refused", err.Error())
		return
	}
	s.cookies.clear(w, cookieSession)
	s.render(w, r, http.StatusOK, "message", page{Title: "Logged out", Who: &session{}, Data: message{
		Heading: "Logged out", Text: "You are logged out of the owners' page.", Link: "/", Label: "Log in again"}})
}

// retirementPath is the page of a retirement. Workflow ids hold ':' and may hold '/'.
func retirementPath(id string) string { return "/r/" + url.PathEscape(id) }

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// relative says a time the way people read a deadline: "in 3 days", "2 hours ago".
func relative(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := t.Sub(now)
	suffix, prefix := "", "in "
	if d < 0 {
		d, suffix, prefix = -d, " ago", ""
	}
	var n int64
	var unit string
	switch {
	case d < time.Minute:
		return map[bool]string{true: "in less than a minute", false: "less than a minute ago"}[suffix == ""]
	case d < time.Hour:
		n, unit = int64(d/time.Minute), "minute"
	case d < 48*time.Hour:
		n, unit = int64(d/time.Hour), "hour"
	default:
		n, unit = int64(d/(24*time.Hour)), "day"
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%s%d %s%s", prefix, n, unit, suffix)
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func verifiedText(v *proof.Verified) string {
	if v == nil {
		return "identity not recorded"
	}
	return v.Text()
}
