// Package testservices starts the real servers that integration tests run against. Tests
// never skip when a server is missing: a skipped safety test reads as a passing one.
package testservices

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// MinIOServer is a running MinIO server. Stop and Start let a test take it down and bring it
// back on the same address and data directory, e.g. to fail an upload half way.
type MinIOServer struct {
	Endpoint  string // host:port, plain HTTP
	AccessKey string
	SecretKey string
	Stop      func()
	Start     func()
}

const minioStartTimeout = 60 * time.Second

// MinIO starts a MinIO server for the test and stops it when the test ends. The binary is
// $RETIRE_MINIO_BIN or <module root>/bin/minio (`make tools` builds it).
func MinIO(t testing.TB) MinIOServer {
	t.Helper()
	bin := minioBinary(t)
	addr := freeAddr(t)
	console := freeAddr(t)
	dir := t.TempDir()
	access := "retire-test-" + randomHex(t, 4)
	secret := randomHex(t, 16)

	var (
		mu   sync.Mutex
		cmd  *exec.Cmd
		done chan struct{}
		logs *lockedBuffer
	)
	stop := func() {
		mu.Lock()
		defer mu.Unlock()
		if cmd == nil {
			return
		}
		// Kill, not a graceful stop: tests use Stop to simulate the store vanishing.
		_ = cmd.Process.Kill()
		<-done
		cmd = nil
	}
	start := func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if cmd != nil {
			return
		}
		logs = &lockedBuffer{}
		c := exec.Command(bin, "server", dir, "--address", addr, "--console-address", console, "--quiet")
		c.Env = append(os.Environ(),
			"MINIO_ROOT_USER="+access,
			"MINIO_ROOT_PASSWORD="+secret,
			"MINIO_BROWSER=off",
			"MINIO_UPDATE=off",
		)
		c.Stdout, c.Stderr = logs, logs
		c.SysProcAttr = sysProcAttr()
		if err := c.Start(); err != nil {
			t.Fatalf("start MinIO %s: %v", bin, err)
		}
		exited := make(chan struct{})
		var waitErr error
		go func() { waitErr = c.Wait(); close(exited) }()
		if err := waitLive(addr, exited); err != nil {
			_ = c.Process.Kill()
			<-exited
			if waitErr != nil {
				err = fmt.Errorf("%w (exit: %v)", err, waitErr)
			}
			t.Fatalf("MinIO on %s: %v\n%s", addr, err, logs.String())
		}
		cmd, done = c, exited
	}
	start()
	t.Cleanup(stop)
	return MinIOServer{Endpoint: addr, AccessKey: access, SecretKey: secret, Stop: stop, Start: start}
}

func minioBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("RETIRE_MINIO_BIN")
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatalf("MinIO binary not found: %v: run `make tools`", err)
		}
		bin = filepath.Join(root, "bin", "minio")
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		t.Fatalf("MinIO binary not found at %s: run `make tools`", bin)
	}
	return bin
}

// moduleRoot walks up from the working directory (the package directory under go test) to
// the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// freeAddr asks the kernel for a free port. Another process could take it before MinIO
// binds it; that race is rare enough for tests and shows up as a clear start failure.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitLive waits for /minio/health/live and then /minio/health/cluster: live answers as soon
// as HTTP is up, while S3 calls still fail with "Server not initialized yet"; cluster says
// the object layer, bucket metadata and IAM are ready.
func waitLive(addr string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	ok := func(path string) bool {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := time.Now().Add(minioStartTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("exited before it was live")
		default:
		}
		if ok("/minio/health/live") && ok("/minio/health/cluster") {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not live after %s", minioStartTimeout)
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// lockedBuffer collects the server's output for the failure message; exec writes to it
// from its own goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
