package proof

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

type keys struct {
	portal     ed25519.PrivateKey
	alice, bob ssh.Signer
	pins       Pins
}

func newKeys(t *testing.T) keys {
	t.Helper()
	_, portal, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer := func() ssh.Signer {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		s, err := ssh.NewSignerFromKey(k)
		require.NoError(t, err)
		return s
	}
	k := keys{portal: portal, alice: signer(), bob: signer()}
	line := func(s ssh.Signer) string { return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey()))) }
	k.pins = Pins{
		PortalKeys: []string{PortalPublicKey(portal.Public().(ed25519.PublicKey))},
		People: []Person{
			{ID: "alice", Email: "alice@example.com", SSHKeys: []string{line(k.alice)}},
			{ID: "bob", SSHKeys: []string{line(k.bob)}},
		},
	}
	return k
}

func statement(person string) Statement {
	return Statement{Decision: "approve", Workflow: "retire:local:shop", Run: "run-1", Person: person, Says: "approve: closed",
		Nonce: "n-1", IssuedAt: now.Unix(), Expires: now.Add(10 * time.Minute).Unix()}
}

func expect(person string) Expect {
	return Expect{Decision: "approve", Workflow: "retire:local:shop", Run: "run-1", Person: person, Says: "approve: closed", Now: now.Add(time.Minute)}
}

func TestAValidProofIsAccepted(t *testing.T) {
	k := newKeys(t)
	pr, err := SignSSH(k.alice, statement("alice"))
	require.NoError(t, err)
	v, err := k.pins.Verify(pr, expect("alice"))
	require.NoError(t, err)
	require.Equal(t, MethodSSH, v.Method)
	require.Equal(t, ssh.FingerprintSHA256(k.alice.PublicKey()), v.Key)
	require.Contains(t, v.Text(), "SSH signature by SHA256:")

	st := statement("alice")
	st.Auth, st.Issuer = AuthOIDC, "https://login.example.com"
	tok, err := SignToken(k.portal, st)
	require.NoError(t, err)
	v, err = k.pins.Verify(&Proof{Method: MethodPortal, Token: tok}, expect("alice"))
	require.NoError(t, err)
	require.Equal(t, "alice", v.Person)
	require.Equal(t, AuthOIDC, v.Auth)
	require.Contains(t, v.Text(), "https://login.example.com")
}

// Each way of passing off a decision as someone else's, or reusing one, is refused.
func TestProofsThatMustNotPass(t *testing.T) {
	k := newKeys(t)
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	strangerSSH, err := ssh.NewSignerFromKey(stranger)
	require.NoError(t, err)
	sshProof := func(signer ssh.Signer, st Statement) *Proof {
		pr, err := SignSSH(signer, st)
		require.NoError(t, err)
		return pr
	}
	token := func(key ed25519.PrivateKey, st Statement) *Proof {
		tok, err := SignToken(key, st)
		require.NoError(t, err)
		return &Proof{Method: MethodPortal, Token: tok}
	}
	with := func(f func(*Statement)) Statement { st := statement("alice"); f(&st); return st }
	tampered := sshProof(k.alice, statement("alice"))
	tampered.Statement = strings.Replace(tampered.Statement, "approve: closed", "approve: closed!", 1)
	used := expect("alice")
	used.Used = []string{"n-1"}
	late := expect("alice")
	late.Now = now.Add(11 * time.Minute)
	for _, c := range []struct {
		name string
		pr   *Proof
		want Expect
		err  string
	}{
		{"no proof", nil, expect("alice"), "carries no proof"},
		{"a key not pinned for that person", sshProof(strangerSSH, statement("alice")), expect("alice"), "is not one of alice's keys"},
		{"bob's key for alice", sshProof(k.bob, statement("alice")), expect("alice"), "is not one of alice's keys"},
		{"bob's statement sent as alice's", sshProof(k.bob, statement("bob")), expect("alice"), "it cannot decide as alice"},
		{"a bad signature", tampered, expect("alice"), "does not verify"},
		{"a token from another page", token(stranger, statement("alice")), expect("alice"), "does not verify with the page keys"},
		{"a token for another run", token(k.portal, with(func(s *Statement) { s.Run = "run-0" })), expect("alice"), "for run run-0"},
		{"a token for another decision", token(k.portal, with(func(s *Statement) { s.Decision = "object" })), expect("alice"), `is for "object", not "approve"`},
		{"a token for another retirement", token(k.portal, with(func(s *Statement) { s.Workflow = "retire:local:other" })), expect("alice"), "another retirement"},
		{"a token that says something else", token(k.portal, with(func(s *Statement) { s.Says = "approve: other" })), expect("alice"), "the decision says"},
		{"an expired token", token(k.portal, statement("alice")), late, "expired"},
		{"a replayed token", token(k.portal, statement("alice")), used, "already used"},
		{"a token that lives too long", token(k.portal, with(func(s *Statement) { s.Expires = now.Add(2 * time.Hour).Unix() })), expect("alice"), "lifetime"},
		{"a token from the future", token(k.portal, with(func(s *Statement) {
			s.IssuedAt, s.Expires = now.Add(time.Hour).Unix(), now.Add(time.Hour+time.Minute).Unix()
		})), expect("alice"), "in the future"},
		{"a token without nonce", token(k.portal, with(func(s *Statement) { s.Nonce = "" })), expect("alice"), "nonce"},
		{"an unknown method", &Proof{Method: "password"}, expect("alice"), "unknown"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := k.pins.Verify(c.pr, c.want)
			require.ErrorContains(t, err, c.err)
		})
	}
	// Without a pinned page key no token passes, however well signed.
	noPortal := k.pins
	noPortal.PortalKeys = nil
	_, err = noPortal.Verify(token(k.portal, statement("alice")), expect("alice"))
	require.ErrorContains(t, err, "trusts no owners' page")
}

func TestADevWorkerTakesUnprovenNamesAndSaysSo(t *testing.T) {
	pins := Pins{AcceptUnproven: true}
	v, err := pins.Verify(nil, expect("alice"))
	require.NoError(t, err)
	require.Equal(t, MethodUnverified, v.Method)
	require.Equal(t, "identity not verified (dev worker: a name typed on the CLI)", v.Text())
	// A proof that is there is still checked.
	_, err = pins.Verify(&Proof{Method: MethodPortal, Token: "x"}, expect("alice"))
	require.Error(t, err)
}

func TestPeopleAreFoundByIDOrEmail(t *testing.T) {
	k := newKeys(t)
	p, ok := k.pins.Person("ALICE@example.com ")
	require.True(t, ok)
	require.Equal(t, "alice", p.ID)
	_, ok = k.pins.Person("carol")
	require.False(t, ok)
}

func TestLinks(t *testing.T) {
	secret := []byte(strings.Repeat("s", MinLinkSecret))
	l := Link{Person: "alice", Workflow: "retire:local:shop", Run: "run-1", Nonce: "n", IssuedAt: now.Unix(), Expires: now.Add(time.Hour).Unix()}
	tok, err := SignLink(secret, l)
	require.NoError(t, err)
	got, err := VerifyLink(secret, tok, now)
	require.NoError(t, err)
	require.Equal(t, "alice", got.Person)
	_, err = VerifyLink(secret, tok, now.Add(time.Hour))
	require.ErrorContains(t, err, "expired")
	_, err = VerifyLink([]byte(strings.Repeat("t", MinLinkSecret)), tok, now)
	require.ErrorContains(t, err, "does not verify")
	_, err = SignLink([]byte("short"), l)
	require.ErrorContains(t, err, "at least")
	// A decision token is no link, even with the right secret's algorithm family.
	k := newKeys(t)
	dec, err := SignToken(k.portal, statement("alice"))
	require.NoError(t, err)
	_, err = VerifyLink(secret, dec, now)
	require.Error(t, err)
}
