package testservices

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// TemporalServer is a running Temporal dev server (temporal CLI, in-memory SQLite).
type TemporalServer struct {
	Address string // host:port of the frontend
	UI      string // host:port of the web UI
}

// SearchAttributes are the ones the workflow upserts and `retire list` queries; `make demo`
// and deployments/ register the same.
var SearchAttributes = []string{
	"RetirePhase=Keyword", "RetireConnection=Keyword", "RetireObject=Keyword",
	"RetireReason=Keyword", "RetireRequester=Keyword", "RetireOwners=KeywordList", "RetireFleet=Keyword",
}

// Temporal starts a headless dev server for the test and stops it when the test ends. The
// binary is $RETIRE_TEMPORAL_BIN or <module root>/bin/temporal (`make tools` builds it).
func Temporal(t testing.TB) TemporalServer {
	t.Helper()
	return startTemporal(t, false)
}

// TemporalWithUI is Temporal with its web UI served on TemporalServer.UI, for tests that ask
// the UI's own HTTP API what an operator would see.
func TemporalWithUI(t testing.TB) TemporalServer {
	t.Helper()
	return startTemporal(t, true)
}

func startTemporal(t testing.TB, withUI bool) TemporalServer {
	t.Helper()
	bin := binary(t, "RETIRE_TEMPORAL_BIN", "temporal")
	addr, ui := freeAddr(t), freeAddr(t)
	host, port := splitAddr(addr)
	_, uiPort := splitAddr(ui)
	args := []string{"server", "start-dev", "--ip", host, "--port", port, "--ui-port", uiPort, "--log-level", "error"}
	if !withUI {
		args = append(args, "--headless")
	}
	for _, sa := range SearchAttributes {
		args = append(args, "--search-attribute", sa)
	}
	logs := &lockedBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Temporal dev server %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("Temporal dev server exited:\n%s", logs.String())
		default:
		}
		c, err := client.Dial(client.Options{HostPort: addr})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			cancel()
			c.Close()
			if err == nil && withUI {
				err = uiUp(ui)
			}
			if err == nil {
				return TemporalServer{Address: addr, UI: ui}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Temporal dev server on %s not healthy after 90s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// uiUp is nil once the web UI serves its API (it starts after the frontend).
func uiUp(ui string) error {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + ui + "/api/v1/settings")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("web UI on %s: %s", ui, resp.Status)
	}
	return nil
}

// HistoryJSON exports a workflow's history as `temporal workflow show --output json` does:
// the format auditors keep and the replayer reads.
func HistoryJSON(t testing.TB, ctx context.Context, c client.Client, workflowID string) []byte {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("read history of %s: %v", workflowID, err)
		}
		h.Events = append(h.Events, ev)
	}
	out, err := protojson.MarshalOptions{Multiline: true}.Marshal(&h)
	if err != nil {
		t.Fatalf("encode history: %v", err)
	}
	return out
}

// ModuleRoot is the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func binary(t testing.TB, env, name string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		bin = filepath.Join(ModuleRoot(t), "bin", name)
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		t.Fatalf("%s binary not found at %s: run `make tools`", name, bin)
	}
	return bin
}

func splitAddr(addr string) (host, port string) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		panic(fmt.Sprintf("address %q has no port", addr))
	}
	return addr[:i], addr[i+1:]
}
