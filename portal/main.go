// Command retire-portal is the owners' page of retire: owners log in through the company's
// OpenID Connect provider (or open the personal link of a notice), see the retirements of
// their data with the evidence of who still uses it, and sign off, object or extend. Every
// decision is a statement the page signs with its Ed25519 key and sends to the retirement as
// a Temporal Update; the workflow checks the signature against the page keys it pinned at
// plan time, so the page is trusted for who logged in, never for what a retirement does.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/temporalclient"
)

const usage = `retire-portal is the owners' page of retire: owners see the retirements of their data
and sign off, object or extend there, without a Temporal account or an SSH key.

Usage:
  retire-portal --config FILE [--log-level info]   serve the page
  retire-portal keygen FILE                        make the page's signing key
  retire-portal pubkey FILE                        print the public key of a signing key
  retire-portal link --person ID --workflow ID     print a personal link to one retirement

How it fits:
  1. retire-portal keygen /etc/retire/portal-key.pem
     writes a new Ed25519 key (mode 0600) and prints its public key. Put that line in the
     worker's config, under signoff.portal_keys: retirements planned from then on trust
     decisions this page signs. Keep the file secret: it speaks for every owner who logs in.
  2. Write the config (YAML; unknown keys are errors):

       listen: 127.0.0.1:8088                 # default; put a TLS reverse proxy in front
       public_url: https://retire.example.com # as owners reach it
       signing_key_file: /etc/retire/portal-key.pem
       cookie_secret: {password_env: RETIRE_PORTAL_COOKIE_SECRET}   # >= 32 bytes
       oidc:                                  # the company's OpenID Connect provider
         issuer: https://login.example.com
         client_id: retire-portal
         client_secret_env: RETIRE_PORTAL_OIDC_SECRET   # or client_secret_file
         # redirect_url: https://retire.example.com/callback   (the default)
         login_claim: email                   # or sub: what names the person in owners:
       link_secret: {password_env: RETIRE_LINK_SECRET}  # the worker's signoff.link_secret
       owners: {file: /etc/retire/owners.yaml}          # the worker's owners directory

     oidc, link_secret or both: with link_secret the personal links of the worker's
     notices (signoff.portal_url + link_secret) open the page for that one retirement.
  3. Temporal is reached like the temporal CLI and the worker do: TEMPORAL_ADDRESS,
     TEMPORAL_NAMESPACE, TEMPORAL_PROFILE, TLS and API key settings. The page uses its own
     credentials; owners need none.

The page serves /healthz (200 while the process runs) and /readyz (200 while Temporal
answers).

Flags:
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "keygen":
			return report(stderr, keygen(args[1:], stdout, stderr))
		case "pubkey":
			return report(stderr, pubkey(args[1:], stdout))
		case "link":
			return report(stderr, linkCommand(args[1:], stdout, stderr, time.Now))
		}
	}
	fs := flag.NewFlagSet("retire-portal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", envOr("RETIRE_PORTAL_CONFIG", "/etc/retire/portal.yaml"), "the portal's config file (YAML); env RETIRE_PORTAL_CONFIG")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "retire-portal: unexpected %q (commands: keygen, pubkey, link; see --help)\n", fs.Arg(0))
		return 2
	}
	return report(stderr, serve(*cfgPath, *level))
}

func report(stderr io.Writer, err error) int {
	if err != nil {
		fmt.Fprintln(stderr, "retire-portal:", err)
		return 1
	}
	return 0
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func serve(cfgPath, level string) error {
	var lvl zapcore.Level
	if err := lvl.Set(level); err != nil {
		return err
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Encoding = "console"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	logger, err := zc.Build()
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()

	c, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	cfg, err := c.resolve()
	if err != nil {
		return err
	}
	// Lazy: the page starts (and /healthz answers) while Temporal is away; /readyz says so.
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return fmt.Errorf("temporal client settings: %w", err)
	}
	opts.Logger = temporalclient.Logger(logger)
	tc, err := client.NewLazyClient(opts)
	if err != nil {
		return fmt.Errorf("temporal client: %w", err)
	}
	defer tc.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := NewServer(ctx, cfg, sdkTemporal{c: tc}, Options{Logger: logger})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	pub := cfg.Key.Public().(ed25519.PublicKey)
	logger.Info("retire-portal started", zap.String("listen", l.Addr().String()), zap.String("public_url", cfg.PublicURL.String()),
		zap.String("portal_key", proof.PortalPublicKey(pub)), zap.String("key_id", proof.KeyID(pub)),
		zap.Bool("oidc", cfg.OIDC != nil), zap.Bool("links", cfg.LinkSecret != nil))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("Stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

// keygen writes a new signing key, never over an existing file, and prints its public key.
func keygen(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: retire-portal keygen FILE")
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%w (keygen never overwrites a key: decisions signed with it would stop verifying)", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (mode 0600; keep it secret: it signs every decision made on the owners' page)\n", args[0])
	fmt.Fprintf(stderr, "key id %s; add this public key to the worker's config, under signoff.portal_keys:\n", proof.KeyID(pub))
	fmt.Fprintln(stdout, proof.PortalPublicKey(pub))
	return nil
}

func pubkey(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: retire-portal pubkey FILE")
	}
	key, err := readSigningKey(args[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, proof.PortalPublicKey(key.Public().(ed25519.PublicKey)))
	return nil
}
