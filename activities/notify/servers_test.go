package notify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// mailServer is a real SMTP server (emersion/go-smtp) in the test process: STARTTLS with a
// certificate of its own, AUTH PLAIN only after TLS, and every accepted mail kept.
type mailServer struct {
	Addr   string
	CAFile string // PEM of the server's self-signed certificate
	User   string
	Pass   string

	mu    sync.Mutex
	mails []receivedMail
	srv   *smtp.Server
	// busy answers RCPT TO for an address with 451 (try again later) this many times.
	busy map[string]int
}

type receivedMail struct {
	From   string
	Rcpt   []string
	Raw    []byte
	TLS    bool
	AuthAs string
}

// Parsed is the mail as a reader sees it: headers decoded, body decoded.
func (r receivedMail) Parsed(t *testing.T) (mail.Header, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(r.Raw)))
	require.NoError(t, err)
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	require.NoError(t, err)
	return msg.Header, strings.ReplaceAll(string(body), "\r\n", "\n")
}

func (r receivedMail) Subject(t *testing.T) string {
	t.Helper()
	h, _ := r.Parsed(t)
	s, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	require.NoError(t, err)
	return s
}

func startMailServer(t *testing.T, implicitTLS bool) *mailServer {
	t.Helper()
	cert, caFile := selfSigned(t)
	ms := &mailServer{CAFile: caFile, User: "retire", Pass: "smtp-S3cret-pw"}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mailSession{ms: ms, conn: c}, nil })
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.MaxMessageBytes = 1 << 20
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.AllowInsecureAuth = false // AUTH is offered only once the connection is TLS
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if implicitTLS {
		l = tls.NewListener(l, s.TLSConfig)
	}
	ms.Addr = l.Addr().String()
	ms.srv = s
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return ms
}

// setBusy makes the relay refuse addr for a while (451) n times.
func (ms *mailServer) setBusy(addr string, n int) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.busy == nil {
		ms.busy = map[string]int{}
	}
	ms.busy[addr] = n
}

func (ms *mailServer) Mails() []receivedMail {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]receivedMail(nil), ms.mails...)
}

type mailSession struct {
	ms     *mailServer
	conn   *smtp.Conn
	authAs string
	from   string
	rcpt   []string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.ms.User || password != s.ms.Pass {
			return smtp.ErrAuthFailed // 535 5.7.8, as Postfix answers
		}
		s.authAs = username
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.authAs == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.ms.mu.Lock()
	busy := s.ms.busy[to] > 0
	if busy {
		s.ms.busy[to]--
	}
	s.ms.mu.Unlock()
	if busy {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "mailbox busy, try again later"}
	}
	s.rcpt = append(s.rcpt, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, tlsOn := s.conn.TLSConnectionState()
	s.ms.mu.Lock()
	s.ms.mails = append(s.ms.mails, receivedMail{From: s.from, Rcpt: append([]string(nil), s.rcpt...), Raw: raw, TLS: tlsOn, AuthAs: s.authAs})
	s.ms.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.from, s.rcpt = "", nil }
func (s *mailSession) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and writes it as a CA file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "retire test relay"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	caFile := filepath.Join(t.TempDir(), "relay-ca.pem")
	require.NoError(t, os.WriteFile(caFile, certPEM, 0o600))
	return cert, caFile
}

// hookServer is a real local HTTP receiver for the webhook.
type hookServer struct {
	*httptest.Server
	Token string // the secret part of the URL
	URL   string // with the token

	mu       sync.Mutex
	requests []hookRequest
	fail     int // answer this many requests with 500
	status   int // answer every request with this status when set
	delay    time.Duration
}

type hookRequest struct {
	Key, Event, ContentType string
	Text                    string
}

func startHookServer(t *testing.T) *hookServer {
	t.Helper()
	h := &hookServer{Token: "XoXb-t0ken-Secret-4242"}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		delay, status := h.delay, h.status
		if h.fail > 0 {
			h.fail--
			status = http.StatusInternalServerError
		}
		h.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/services/T01/B02/"+h.Token {
			http.Error(w, "unknown hook "+r.URL.Path, http.StatusNotFound)
			return
		}
		if status != 0 && status != http.StatusOK {
			// Like some gateways, echo the path: the token must still not reach our errors.
			http.Error(w, "upstream failed for "+r.URL.String(), status)
			return
		}
		var body struct {
			Text string `json:"text"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return // the client gave up: nothing was delivered
			}
		}
		h.mu.Lock()
		h.requests = append(h.requests, hookRequest{Key: r.Header.Get(IdempotencyHeader), Event: r.Header.Get("X-Retire-Event"), ContentType: r.Header.Get("Content-Type"), Text: body.Text})
		h.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(h.Close)
	h.URL = h.Server.URL + "/services/T01/B02/" + h.Token
	return h
}

func (h *hookServer) Requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.requests...)
}

func (h *hookServer) set(f func(h *hookServer)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
}
