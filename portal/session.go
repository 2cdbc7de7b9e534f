package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/dataretire/retire/proof"
)

// Lifetimes of what the page keeps in cookies.
const (
	// OIDCSessionTTL is how long a login lasts; the provider is asked again after it.
	OIDCSessionTTL = 8 * time.Hour
	// LinkSessionTTL is how long a personal link's page stays open once clicked (never past
	// the link's own expiry): long enough to read and decide, and the link opens it again.
	LinkSessionTTL = time.Hour
	// LoginStateTTL bounds the trip to the provider and back.
	LoginStateTTL = 10 * time.Minute
	// cookieMaxAge is the codec's own bound on any cookie's age, past every lifetime above;
	// the lifetimes are checked against the page's clock, which tests move.
	cookieMaxAge = 24 * time.Hour
)

// Cookie names; "__Host-" when the page is served over https (Secure, Path=/, no Domain).
const (
	cookieSession = "retire_session"
	cookieLogin   = "retire_login"
	cookieFlash   = "retire_flash"
)

// session is who is logged in, and how. A link session is limited to one retirement and run:
// the one the personal link was sent for.
type session struct {
	Person  string `json:"p"` // directory id
	Name    string `json:"n,omitempty"`
	Auth    string `json:"a"`           // proof.AuthOIDC or proof.AuthLink
	Issuer  string `json:"i,omitempty"` // the OIDC issuer
	CSRF    string `json:"c"`           // the synchronizer token of every form
	Expires int64  `json:"e"`
	// Link sessions only.
	Workflow  string `json:"w,omitempty"`
	Run       string `json:"r,omitempty"`
	LinkNonce string `json:"ln,omitempty"`
}

// ByLink is true for a session opened by a personal link.
func (s *session) ByLink() bool { return s.Auth == proof.AuthLink }

// loginState travels to the provider and back in a short-lived cookie: the callback takes
// a code only for the state it sent, and an ID token only with the nonce it asked for.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // PKCE code verifier
	Next     string `json:"x"` // where to go once logged in (a local path)
	Expires  int64  `json:"e"`
}

// flash is what the page says once after a decision (post, redirect, get).
type flash struct {
	Workflow string `json:"w"`
	Text     string `json:"t"`
}

// cookies signs (HMAC-SHA256) and encrypts (AES-256) everything the page keeps in the
// browser, with keys derived from the cookie secret.
type cookies struct {
	codec  *securecookie.SecureCookie
	secure bool
}

func newCookies(secret []byte, secure bool) *cookies {
	codec := securecookie.New(derive(secret, "retire-portal cookie signature"), derive(secret, "retire-portal cookie encryption"))
	codec.SetSerializer(securecookie.JSONEncoder{})
	codec.MaxAge(int(cookieMaxAge / time.Second))
	return &cookies{codec: codec, secure: secure}
}

// derive is a key for one purpose from the secret (HMAC-SHA256 with the purpose as message).
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

func (c *cookies) name(n string) string {
	if c.secure {
		return "__Host-" + n
	}
	return n
}

func (c *cookies) set(w http.ResponseWriter, name string, v any, ttl time.Duration) error {
	name = c.name(name)
	enc, err := c.codec.Encode(name, v)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: enc, Path: "/", MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// get decodes a cookie; false when it is missing, forged, or too old for the codec.
func (c *cookies) get(r *http.Request, name string, v any) bool {
	name = c.name(name)
	ck, err := r.Cookie(name)
	if err != nil {
		return false
	}
	return c.codec.Decode(name, ck.Value, v) == nil
}

func (c *cookies) clear(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: c.name(name), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
}

// randomToken is 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// sameSecret compares two secrets in constant time.
func sameSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
