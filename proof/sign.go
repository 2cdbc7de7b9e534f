package proof

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// NewNonce is 128 random bits, base64url.
func NewNonce() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// SignToken is the owners' page signing a statement: a compact JWS, EdDSA.
func SignToken(key ed25519.PrivateKey, st Statement) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key}, (&jose.SignerOptions{}).WithType("retire-decision+jwt"))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// SignSSH is a person signing a statement with one of their SSH keys, as
// `ssh-keygen -Y sign -n retire-decision@dataretire` would.
func SignSSH(signer ssh.Signer, st Statement) (*Proof, error) {
	st.Auth = MethodSSH
	msg, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	sig, err := sshsig.Sign(strings.NewReader(string(msg)), signer, sshsig.HashSHA512, Namespace)
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", ssh.FingerprintSHA256(signer.PublicKey()), err)
	}
	return &Proof{Method: MethodSSH, Statement: string(msg), Signature: string(sshsig.Armor(sig))}, nil
}

// PortalPublicKey is how a page key is written in the worker's config (Pins.PortalKeys).
func PortalPublicKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// Decode reads a proof's statement without verifying it: for printing what a proof says,
// never for deciding anything.
func (pr Proof) Decode() (Statement, error) {
	var st Statement
	switch pr.Method {
	case MethodSSH:
		return st, json.Unmarshal([]byte(pr.Statement), &st)
	case MethodPortal:
		jws, err := jose.ParseSignedCompact(pr.Token, []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			return st, err
		}
		return st, json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &st)
	}
	return st, fmt.Errorf("no statement in a %q proof", pr.Method)
}
