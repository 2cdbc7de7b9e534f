// Package proof says who made a decision, in a way the workflow can check on its own.
//
// A person's decision (sign off, object, extend, acknowledge, start) travels with a Proof:
// either a token the owners' page signed (a compact JWS, EdDSA) after the person logged in
// through the company's OpenID Connect provider or opened a personal e-mail link, or an SSH
// signature (the `ssh-keygen -Y sign` format, namespace Namespace) made on the CLI with one of
// the person's keys. Either way what is signed is a Statement: the decision, the workflow and
// run it is for, the person, what they say, a single-use nonce and an expiry.
//
// Verify is deterministic: it reads nothing but its arguments (the keys pinned into the
// workflow at plan time and the workflow's clock), so Update validators may call it.
package proof

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Namespace is the SSH signature namespace of retire's decisions (ssh-keygen -Y sign -n).
const Namespace = "retire-decision@dataretire"

// Methods a decision is proven by.
const (
	MethodPortal = "portal" // a token signed by the owners' page
	MethodSSH    = "ssh"    // an SSH signature made by one of the person's keys
	// MethodUnverified is a name typed on a dev worker's CLI: nothing proves who it was.
	MethodUnverified = "unverified"
)

// How the owners' page authenticated the person (Statement.Auth of a portal token).
const (
	AuthOIDC = "oidc"       // logged in through the company's OpenID Connect provider
	AuthLink = "email-link" // opened a personal, single-use link from an owners' notice
)

// Lifetimes: a proof is made for one decision, now.
const (
	MaxLifetime = time.Hour       // exp - iat
	ClockSkew   = 5 * time.Minute // iat may be this far in the workflow's future
)

// Statement is what a person signs. Times are Unix seconds, as in JWTs.
type Statement struct {
	Decision string `json:"decision"`      // approve, object, extend, acknowledge-clients, acknowledge-attempts, start
	Workflow string `json:"workflow"`      // the workflow id
	Run      string `json:"run,omitempty"` // the run id; empty only for start, when there is no run yet
	Person   string `json:"person"`        // the person's id in the owners directory
	Says     string `json:"says"`          // what the decision says (comment, reason, extension, note)
	Nonce    string `json:"nonce"`         // single use within the run
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
	// Auth is how the person was authenticated: "oidc" with Issuer, "email-link" (portal
	// tokens); "ssh" for SSH signatures.
	Auth   string `json:"auth,omitempty"`
	Issuer string `json:"iss,omitempty"` // the OpenID Connect issuer, for Auth oidc
}

// Proof comes with a decision.
type Proof struct {
	Method string `json:"method"` // portal or ssh
	// Token is the owners' page's compact JWS over the Statement (portal).
	Token string `json:"token,omitempty"`
	// Statement is the exact bytes the SSH key signed (a JSON Statement), and Signature the
	// armored SSH signature over them (ssh).
	Statement string `json:"statement,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// Person is one entry of the owners directory as pinned into a retirement.
type Person struct {
	ID      string   `json:"id"` // login subject or e-mail
	Name    string   `json:"name,omitempty"`
	Email   string   `json:"email,omitempty"`
	SSHKeys []string `json:"ssh_keys,omitempty"` // authorized_keys lines
}

// Pins are the keys a retirement trusts, fixed at plan time: later changes to the worker's
// config or directory do not change who may decide in a running retirement.
type Pins struct {
	// PortalKeys are the owners' page's Ed25519 public keys, base64 (standard, 32 bytes).
	PortalKeys []string `json:"portal_keys,omitempty"`
	// People are everyone who may decide anything in this retirement, with their SSH keys.
	People []Person `json:"people,omitempty"`
	// AcceptUnproven is set by a dev worker: a decision without proof is taken at its word,
	// and recorded as not verified.
	AcceptUnproven bool `json:"accept_unproven,omitempty"`
}

// Person finds someone among the pinned people, by id or e-mail (case-insensitively).
func (p Pins) Person(id string) (Person, bool) {
	i := slices.IndexFunc(p.People, func(x Person) bool { return samePerson(x.ID, id) })
	if i < 0 {
		i = slices.IndexFunc(p.People, func(x Person) bool { return x.Email != "" && samePerson(x.Email, id) })
	}
	if i < 0 {
		return Person{}, false
	}
	return p.People[i], true
}

// Expect is what the workflow expects a proof to say, and what it knows.
type Expect struct {
	Decision string
	Workflow string
	Run      string // "" for start
	Person   string // who the decision claims to be by
	Says     string
	Now      time.Time
	Used     []string // nonces already used in this run
}

// Verified is what a proof proved; the record keeps it beside the decision.
type Verified struct {
	Person string `json:"person"`
	Method string `json:"method"`         // portal, ssh or unverified
	Auth   string `json:"auth,omitempty"` // oidc, email-link, ssh
	Issuer string `json:"issuer,omitempty"`
	Key    string `json:"key,omitempty"` // the key that signed: SHA256 fingerprint (ssh) or portal key id
	Nonce  string `json:"nonce,omitempty"`
}

// Text says in words how the identity was proven, for the record and the status.
func (v Verified) Text() string {
	switch v.Method {
	case MethodPortal:
		if v.Auth == AuthOIDC {
			return fmt.Sprintf("verified: logged in to the owners' page through %s", orUnknown(v.Issuer))
		}
		return "verified: personal e-mail link to the owners' page"
	case MethodSSH:
		return "verified: SSH signature by " + v.Key
	}
	return "identity not verified (dev worker: a name typed on the CLI)"
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed provider"
	}
	return s
}

// ErrNoProof is returned for a decision that carries no proof where one is required.
var ErrNoProof = errors.New("this decision carries no proof of who makes it: sign it with your SSH key (--sign-with ~/.ssh/id_ed25519, or an ssh-agent key) or decide on the owners' page")

// Verify checks that pr proves the decision want describes, with the pinned keys only.
func (p Pins) Verify(pr *Proof, want Expect) (Verified, error) {
	if pr == nil || pr.Method == "" {
		if p.AcceptUnproven {
			return Verified{Person: want.Person, Method: MethodUnverified}, nil
		}
		return Verified{}, ErrNoProof
	}
	var (
		st  Statement
		ver Verified
		err error
	)
	switch pr.Method {
	case MethodPortal:
		st, ver, err = p.verifyToken(pr.Token)
	case MethodSSH:
		st, ver, err = p.verifySSH(pr, want.Person)
	default:
		return Verified{}, fmt.Errorf("proof method %q is unknown (use %s or %s)", pr.Method, MethodPortal, MethodSSH)
	}
	if err != nil {
		return Verified{}, err
	}
	if err := st.matches(want); err != nil {
		return Verified{}, err
	}
	ver.Person, ver.Nonce, ver.Auth, ver.Issuer = st.Person, st.Nonce, st.Auth, st.Issuer
	if pr.Method == MethodSSH {
		ver.Auth, ver.Issuer = MethodSSH, ""
	}
	return ver, nil
}

func (p Pins) verifyToken(token string) (Statement, Verified, error) {
	if len(p.PortalKeys) == 0 {
		return Statement{}, Verified{}, errors.New("this retirement trusts no owners' page (no portal key was pinned at plan time): sign with your SSH key instead")
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return Statement{}, Verified{}, fmt.Errorf("the owners' page token is not a valid EdDSA JWS: %v", err)
	}
	for _, k := range p.PortalKeys {
		pub, err := PortalKey(k)
		if err != nil {
			continue
		}
		payload, err := jws.Verify(pub)
		if err != nil {
			continue
		}
		var st Statement
		if err := strictJSON(payload, &st); err != nil {
			return Statement{}, Verified{}, fmt.Errorf("the owners' page token holds no statement: %v", err)
		}
		return st, Verified{Method: MethodPortal, Key: KeyID(pub)}, nil
	}
	return Statement{}, Verified{}, errors.New("the owners' page token's signature does not verify with the page keys pinned for this retirement")
}

func (p Pins) verifySSH(pr *Proof, claimed string) (Statement, Verified, error) {
	sig, err := sshsig.Unarmor([]byte(pr.Signature))
	if err != nil {
		return Statement{}, Verified{}, fmt.Errorf("the SSH signature cannot be read: %v", err)
	}
	if sig.Namespace != Namespace {
		return Statement{}, Verified{}, fmt.Errorf("the SSH signature is for namespace %q, not %q", sig.Namespace, Namespace)
	}
	var st Statement
	if err := strictJSON([]byte(pr.Statement), &st); err != nil {
		return Statement{}, Verified{}, fmt.Errorf("the signed statement cannot be read: %v", err)
	}
	who := st.Person
	if !samePerson(who, claimed) {
		return Statement{}, Verified{}, fmt.Errorf("the signed statement is %s's; it cannot decide as %s", who, claimed)
	}
	person, ok := p.Person(who)
	if !ok || len(person.SSHKeys) == 0 {
		return Statement{}, Verified{}, fmt.Errorf("%s has no SSH key pinned for this retirement (keys come from the owners directory at plan time)", who)
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	var pinned []string
	for _, line := range person.SSHKeys {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			continue
		}
		pinned = append(pinned, ssh.FingerprintSHA256(pub))
		if !bytes.Equal(pub.Marshal(), sig.PublicKey.Marshal()) {
			continue
		}
		if err := sshsig.Verify(strings.NewReader(pr.Statement), sig, pub, sig.HashAlgorithm, Namespace); err != nil {
			return Statement{}, Verified{}, fmt.Errorf("the SSH signature by %s does not verify: %v", fp, err)
		}
		return st, Verified{Method: MethodSSH, Key: ssh.FingerprintSHA256(pub)}, nil
	}
	return Statement{}, Verified{}, fmt.Errorf("the SSH key %s is not one of %s's keys pinned for this retirement (%s)", fp, who, strings.Join(pinned, ", "))
}

// matches refuses a statement made for anything but the decision at hand.
func (st Statement) matches(want Expect) error {
	switch {
	case !samePerson(st.Person, want.Person):
		return fmt.Errorf("the proof is %s's; it cannot decide as %s", st.Person, want.Person)
	case st.Decision != want.Decision:
		return fmt.Errorf("the proof is for %q, not %q", st.Decision, want.Decision)
	case st.Workflow != want.Workflow:
		return fmt.Errorf("the proof is for another retirement (%s), not %s", st.Workflow, want.Workflow)
	case st.Run != want.Run:
		return fmt.Errorf("the proof is for run %s of %s, not run %s: decide again on the current run", orUnknown(st.Run), want.Workflow, orUnknown(want.Run))
	case st.Says != want.Says:
		return fmt.Errorf("the proof says %q, but the decision says %q", st.Says, want.Says)
	case strings.TrimSpace(st.Nonce) == "" || len(st.Nonce) > 128:
		return errors.New("the proof has no usable nonce")
	case slices.Contains(want.Used, st.Nonce):
		return errors.New("this proof was already used (its nonce is spent): a proof decides once; make a new one")
	case st.Expires <= st.IssuedAt || time.Duration(st.Expires-st.IssuedAt)*time.Second > MaxLifetime:
		return fmt.Errorf("the proof's lifetime must be between 0 and %s", MaxLifetime)
	case want.Now.Unix() >= st.Expires:
		return fmt.Errorf("the proof expired at %s", time.Unix(st.Expires, 0).UTC().Format(time.RFC3339))
	case time.Unix(st.IssuedAt, 0).After(want.Now.Add(ClockSkew)):
		return fmt.Errorf("the proof was issued at %s, in the future of this retirement's clock", time.Unix(st.IssuedAt, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// strictJSON decodes one JSON object with no unknown fields.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

func samePerson(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// PortalKey reads an owners' page public key: base64 of the 32 raw Ed25519 bytes.
func PortalKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("portal key %q is not the base64 of a 32-byte Ed25519 public key", s)
	}
	return ed25519.PublicKey(b), nil
}

// KeyID names a portal key in records: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return fmt.Sprintf("ed25519:%x", sum[:8])
}
