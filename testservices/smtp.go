package testservices

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPServer is a real SMTP server (emersion/go-smtp) in the test process on 127.0.0.1:0,
// like a company's mail relay: STARTTLS with a certificate of its own (CAFile), AUTH PLAIN
// only after TLS, and every accepted mail kept. Recipients nobody@... are refused (550), and
// an address made busy with SetBusy is put off (451) until its count runs out.
type SMTPServer struct {
	Addr   string // 127.0.0.1:port
	Host   string
	Port   int
	CAFile string // PEM of the server's self-signed certificate
	User   string
	Pass   string

	mu      sync.Mutex
	mails   []Mail
	arrived chan struct{} // closed and replaced whenever a mail arrives
	// busy answers RCPT TO for an address with 451 (try again later) this many more times.
	busy map[string]int
}

// Mail is one accepted mail as the relay received it.
type Mail struct {
	From   string
	Rcpt   []string
	Raw    []byte
	TLS    bool
	AuthAs string
}

// Parsed is the mail as a reader sees it: headers, and the body with its quoted-printable
// decoded and CRLF turned into LF.
func (m Mail) Parsed() (mail.Header, string, error) {
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Raw)))
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		return nil, "", err
	}
	return msg.Header, strings.ReplaceAll(string(body), "\r\n", "\n"), nil
}

// Body is the decoded body, "" when it cannot be read.
func (m Mail) Body() string {
	_, body, _ := m.Parsed()
	return body
}

// Subject is the decoded Subject header.
func (m Mail) Subject() string {
	h, _, err := m.Parsed()
	if err != nil {
		return ""
	}
	s, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		return h.Get("Subject")
	}
	return s
}

// SMTP starts a relay for the test and stops it when the test ends. implicitTLS makes it
// speak TLS from the first byte (port 465 style) instead of offering STARTTLS.
func SMTP(t testing.TB, implicitTLS bool) *SMTPServer {
	t.Helper()
	cert, caFile := selfSigned(t)
	ms := &SMTPServer{CAFile: caFile, User: "retire", Pass: "smtp-" + randomHex(t, 8), arrived: make(chan struct{})}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{ms: ms, conn: c}, nil })
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.MaxMessageBytes = 1 << 20
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.AllowInsecureAuth = false // AUTH is offered only once the connection is TLS
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicitTLS {
		l = tls.NewListener(l, s.TLSConfig)
	}
	ms.Addr = l.Addr().String()
	ms.Host, ms.Port = "127.0.0.1", l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return ms
}

// SetBusy makes the relay put off the next n mails to addr: RCPT TO for that address is
// answered with 451 4.3.0 (mailbox busy, try again later) n times, then accepted again.
// A sender sees a temporary failure it should retry. n <= 0 ends a busy spell at once.
func (ms *SMTPServer) SetBusy(addr string, n int) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.busy == nil {
		ms.busy = map[string]int{}
	}
	if n <= 0 {
		delete(ms.busy, addr)
		return
	}
	ms.busy[addr] = n
}

// Mails are the mails accepted so far, in order.
func (ms *SMTPServer) Mails() []Mail {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]Mail(nil), ms.mails...)
}

// WaitFor returns the first mail that match accepts, waiting for new mails until timeout;
// it fails the test with the subjects received when none comes.
func (ms *SMTPServer) WaitFor(t testing.TB, timeout time.Duration, match func(Mail) bool) Mail {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ms.mu.Lock()
		mails, arrived := append([]Mail(nil), ms.mails...), ms.arrived
		ms.mu.Unlock()
		for _, m := range mails {
			if match(m) {
				return m
			}
		}
		select {
		case <-arrived:
		case <-deadline.C:
			var subjects []string
			for _, m := range mails {
				subjects = append(subjects, fmt.Sprintf("%q to %v", m.Subject(), m.Rcpt))
			}
			t.Fatalf("no matching mail within %s; received: %v", timeout, subjects)
		}
	}
}

type smtpSession struct {
	ms     *SMTPServer
	conn   *smtp.Conn
	authAs string
	from   string
	rcpt   []string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.ms.User || password != s.ms.Pass {
			return smtp.ErrAuthFailed // 535 5.7.8, as Postfix answers
		}
		s.authAs = username
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.authAs == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
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

func (s *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, tlsOn := s.conn.TLSConnectionState()
	s.ms.mu.Lock()
	s.ms.mails = append(s.ms.mails, Mail{From: s.from, Rcpt: append([]string(nil), s.rcpt...), Raw: raw, TLS: tlsOn, AuthAs: s.authAs})
	close(s.ms.arrived)
	s.ms.arrived = make(chan struct{})
	s.ms.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.rcpt = "", nil }
func (s *smtpSession) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost and writes it as a CA file.
func selfSigned(t testing.TB) (tls.Certificate, string) {
	t.Helper()
	fail := func(err error) {
		if err != nil {
			t.Fatalf("self-signed certificate: %v", err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "retire test relay"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	fail(err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	fail(err)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	fail(err)
	caFile := filepath.Join(t.TempDir(), "relay-ca.pem")
	fail(os.WriteFile(caFile, certPEM, 0o600))
	return cert, caFile
}
