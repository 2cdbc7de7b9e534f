package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// IdempotencyHeader carries Message.Key on every channel.
const IdempotencyHeader = "X-Retire-Idempotency-Key"

// DefaultWebhookTimeout bounds one webhook request.
const DefaultWebhookTimeout = 10 * time.Second

// Webhook POSTs {"text": ...} (what Slack, Mattermost and Rocket.Chat incoming webhooks take)
// to an incoming-webhook URL. The URL holds a token, so it never appears in an error.
type Webhook struct {
	URL     string
	Timeout time.Duration // per request; 0 means DefaultWebhookTimeout
	Client  *http.Client  // nil: a client that follows no redirects
}

type webhookBody struct {
	Text string `json:"text"`
}

// webhookText is what the webhook posts: subject in bold, the text, the link.
func (m Message) webhookText() string {
	var b strings.Builder
	b.WriteString("*" + m.Subject + "*\n")
	if len(m.To) > 0 {
		b.WriteString("For: " + strings.Join(m.To, ", ") + "\n")
	}
	b.WriteString(m.Text)
	if m.Link != "" && !strings.Contains(m.Text, m.Link) {
		b.WriteString("\n" + m.Link + "\n")
	}
	return b.String()
}

// Notify posts m. A 2xx answer is success; anything else is an error, permanent for 4xx
// (but 408 and 429) since resending the same request will not change the answer.
func (w *Webhook) Notify(ctx context.Context, m Message) error {
	err := w.post(ctx, m)
	return redactErr(err, w.secrets()...)
}

func (w *Webhook) post(ctx context.Context, m Message) error {
	if w.URL == "" {
		return permanent(errors.New("webhook: no URL"))
	}
	if m.Personal {
		// Whoever reads the channel could follow the link and decide as its person.
		return permanent(fmt.Errorf("webhook: %s %s is a personal message: a shared channel never carries one", m.Event, m.Key))
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := json.Marshal(webhookBody{Text: m.webhookText()})
	if err != nil {
		return permanent(fmt.Errorf("webhook: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		// url.Parse errors quote the URL: say only that it is malformed.
		return permanent(errors.New("webhook: the configured URL is not a valid URL"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "retire-notify")
	req.Header.Set(IdempotencyHeader, headerValue(m.Key))
	req.Header.Set("X-Retire-Event", headerValue(m.Event))
	client := w.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the url.Error text repeats the URL
		}
		return fmt.Errorf("webhook: %s %s: %w", m.Event, m.Key, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("webhook: %s %s: HTTP %d: %s", m.Event, m.Key, resp.StatusCode, strings.TrimSpace(string(snippet)))
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return permanent(err)
	}
	return err
}

// secrets are the URL and its parts that could show in an error: the whole URL, its path
// (Slack's token lives there), its query and any user info.
func (w *Webhook) secrets() []string {
	s := []string{w.URL}
	if u, err := url.Parse(w.URL); err == nil {
		if u.Path != "" && u.Path != "/" {
			s = append(s, u.Path, strings.TrimPrefix(u.EscapedPath(), "/"))
			// Tokens are path segments (Slack: /services/T../B../<token>); they may show on
			// their own. Plain lower-case words ("services", "webhooks") are not tokens.
			for _, seg := range strings.Split(strings.Trim(u.Path, "/"), "/") {
				if len(seg) >= 6 && strings.Trim(seg, "abcdefghijklmnopqrstuvwxyz-") != "" {
					s = append(s, seg)
				}
			}
		}
		if u.RawQuery != "" {
			s = append(s, u.RawQuery)
		}
		if u.User != nil {
			s = append(s, u.User.String())
		}
	}
	return s
}

// headerValue keeps a header to one line.
func headerValue(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
