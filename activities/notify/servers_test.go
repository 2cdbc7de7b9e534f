package notify

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/testservices"
)

// parsedMail is the mail as a reader sees it: headers decoded, body decoded; it fails the
// test when the mail cannot be read.
func parsedMail(t *testing.T, m testservices.Mail) (mail.Header, string) {
	t.Helper()
	h, body, err := m.Parsed()
	require.NoError(t, err)
	return h, body
}

// mailSubject is the decoded Subject header; it fails the test when it cannot be decoded.
func mailSubject(t *testing.T, m testservices.Mail) string {
	t.Helper()
	h, _ := parsedMail(t, m)
	s, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	require.NoError(t, err)
	return s
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
