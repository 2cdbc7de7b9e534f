package proof

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Link is what a personal e-mail link to the owners' page says: who it was sent to, for which
// retirement and run, until when. The worker signs it (HS256) with the secret it shares with
// the page; the page checks it, and a decision made from it is a portal token with Auth
// email-link whose nonce is the link's, so the workflow lets the link decide once.
type Link struct {
	Person   string `json:"person"`
	Workflow string `json:"workflow"`
	Run      string `json:"run"`
	Nonce    string `json:"nonce"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
	Purpose  string `json:"purpose"` // always LinkPurpose: a link token is no decision token
}

// LinkPurpose marks link tokens.
const LinkPurpose = "retire-owner-link"

// MinLinkSecret is the shortest link secret accepted, in bytes.
const MinLinkSecret = 32

// SignLink makes a link token.
func SignLink(secret []byte, l Link) (string, error) {
	if len(secret) < MinLinkSecret {
		return "", fmt.Errorf("the link secret is %d bytes; it must be at least %d", len(secret), MinLinkSecret)
	}
	l.Purpose = LinkPurpose
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, nil)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// VerifyLink checks a link token's signature and expiry.
func VerifyLink(secret []byte, token string, now time.Time) (Link, error) {
	if len(secret) < MinLinkSecret {
		return Link{}, errors.New("no usable link secret")
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return Link{}, errors.New("this link is damaged: it is not one the retire worker made")
	}
	payload, err := jws.Verify(secret)
	if err != nil {
		return Link{}, errors.New("this link's signature does not verify: it is not one the retire worker made")
	}
	var l Link
	if err := strictJSON(payload, &l); err != nil || l.Purpose != LinkPurpose {
		return Link{}, errors.New("this link is not a personal link to the owners' page")
	}
	if now.Unix() >= l.Expires {
		return Link{}, fmt.Errorf("this link expired at %s; the next notice brings a new one, or log in", time.Unix(l.Expires, 0).UTC().Format(time.RFC3339))
	}
	return l, nil
}
