package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"time"
)

// DefaultSMTPTimeout bounds one whole SMTP conversation.
const DefaultSMTPTimeout = 30 * time.Second

// SMTP sends each message as one mail to its recipients (the directory's address when the
// message has one, else owner names become addresses at Domain) and CC (not for a personal
// message, whose link decides as its one recipient). STARTTLS is used whenever the server offers it (ImplicitTLS: TLS from the
// first byte, port 465); AUTH PLAIN is used when User is set, and net/smtp refuses to send
// the password over a connection that is not TLS unless the relay is on localhost.
type SMTP struct {
	Addr        string // host:port
	From        string // "retire@example.com" or "Retire <retire@example.com>"
	User        string
	Password    string
	Domain      string   // owners without @ get @Domain
	CC          []string // added to every mail
	ImplicitTLS bool
	TLSConfig   *tls.Config   // nil: system roots, server name = host of Addr
	Timeout     time.Duration // 0: DefaultSMTPTimeout
	HelloName   string        // EHLO name; default: this host's name
}

// Notify sends m. 5xx replies (a recipient refused, authentication rejected) are permanent.
func (s *SMTP) Notify(ctx context.Context, m Message) error {
	err := s.send(ctx, m)
	return redactErr(err, s.secrets()...)
}

func (s *SMTP) secrets() []string {
	if s.Password == "" {
		return nil
	}
	return []string{
		s.Password,
		base64.StdEncoding.EncodeToString([]byte("\x00" + s.User + "\x00" + s.Password)),
		base64.StdEncoding.EncodeToString([]byte(s.User + "\x00" + s.User + "\x00" + s.Password)),
	}
}

func (s *SMTP) send(ctx context.Context, m Message) error {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return permanent(fmt.Errorf("smtp: address %q: %w", s.Addr, err))
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return permanent(fmt.Errorf("smtp: from %q: %w", s.From, err))
	}
	to, err := s.addresses(m.To, m.Addresses)
	if err != nil {
		return err
	}
	var cc []string
	if !m.Personal {
		// A personal link decides as its person: nobody else gets a copy.
		if cc, err = s.addresses(s.CC, nil); err != nil {
			return err
		}
	}
	if len(to) == 0 && len(cc) == 0 {
		if m.Optional {
			return nil
		}
		return permanent(fmt.Errorf("smtp: %s %s: no recipients", m.Event, m.Key))
	}
	msg, err := buildMail(from, to, cc, m, time.Now())
	if err != nil {
		return permanent(err)
	}

	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tlsConf := s.tlsConfig(host)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp: connect %s: %w", s.Addr, err)
	}
	defer conn.Close()
	// A stalled server cannot hold us past the deadline, nor past a cancellation.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if s.ImplicitTLS {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("smtp: TLS with %s: %w", s.Addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return s.classify("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.hello()); err != nil {
		return s.classify("EHLO", err)
	}
	if !s.ImplicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConf); err != nil {
				return s.classify("STARTTLS", err)
			}
		}
	}
	if s.User != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return permanent(fmt.Errorf("smtp: %s offers no AUTH, but a user is configured", s.Addr))
		}
		if err := c.Auth(smtp.PlainAuth("", s.User, s.Password, host)); err != nil {
			return s.classify("AUTH", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return s.classify("MAIL FROM", err)
	}
	for _, a := range append(append([]string{}, to...), cc...) {
		if err := c.Rcpt(a); err != nil {
			return s.classify("RCPT TO <"+a+">", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return s.classify("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return s.classify("DATA", err)
	}
	if err := w.Close(); err != nil {
		return s.classify("end of DATA", err)
	}
	// The mail is accepted; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

func (s *SMTP) tlsConfig(host string) *tls.Config {
	if s.TLSConfig != nil {
		c := s.TLSConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = host
		}
		return c
	}
	return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
}

func (s *SMTP) hello() string {
	if s.HelloName != "" {
		return s.HelloName
	}
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// classify names the step that failed; a 5xx reply is permanent.
func (s *SMTP) classify(step string, err error) error {
	err = fmt.Errorf("smtp: %s %s: %w", s.Addr, step, err)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return permanent(err)
	}
	return err
}

// Private: a mail reaches its addressees (and the CC list, which personal messages skip).
func (s *SMTP) Private() bool { return true }

// addresses turns owner names and addresses into mail addresses: the directory's address
// (known) when it has one, else the name itself when it is an address, else name@Domain.
func (s *SMTP) addresses(people []string, known map[string]string) ([]string, error) {
	var out []string
	var errs []error
	for _, p := range uniq(people) {
		a := p
		if k, ok := known[p]; ok && k != "" {
			a = k
		} else if !strings.Contains(a, "@") {
			if s.Domain == "" {
				errs = append(errs, fmt.Errorf("smtp: %q has no mail domain and notify.smtp.domain is not set", p))
				continue
			}
			a = p + "@" + s.Domain
		}
		addr, err := mail.ParseAddress(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("smtp: %q is not a mail address: %v", p, err))
			continue
		}
		if !containsFold(out, addr.Address) {
			out = append(out, addr.Address)
		}
	}
	if len(errs) > 0 {
		return nil, permanent(errors.Join(errs...))
	}
	return out, nil
}

func containsFold(ss []string, s string) bool {
	for _, x := range ss {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// MessageID is the Message-ID of the mail for an idempotency key: the same key always gives
// the same Message-ID, so a resend is recognisable (and many systems drop it).
func MessageID(key, fromAddress string) string {
	domain := "retire.invalid"
	if i := strings.LastIndex(fromAddress, "@"); i >= 0 && i < len(fromAddress)-1 {
		domain = fromAddress[i+1:]
	}
	sum := sha256.Sum256([]byte(key))
	return "<retire." + hex.EncodeToString(sum[:16]) + "@" + domain + ">"
}

// buildMail writes an RFC 5322 message, UTF-8 text in quoted-printable, CRLF line ends.
func buildMail(from *mail.Address, to, cc []string, m Message, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + headerValue(v) + "\r\n") }
	h("From", from.String())
	if len(to) > 0 {
		h("To", addrList(to))
	} else {
		h("To", "undisclosed-recipients:;")
	}
	if len(cc) > 0 {
		h("Cc", addrList(cc))
	}
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", MessageID(m.Key, from.Address))
	h(IdempotencyHeader, m.Key)
	h("X-Retire-Event", m.Event)
	h("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies to this
	h("MIME-Version", "1.0")
	h("Content-Type", `text/plain; charset="utf-8"`)
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	body := m.Text
	if m.Link != "" && !strings.Contains(body, m.Link) {
		body += "\nRun: " + m.Link + "\n"
	}
	body = strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

func addrList(as []string) string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = (&mail.Address{Address: a}).String()
	}
	return strings.Join(out, ", ")
}
