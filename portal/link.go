package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/dataretire/retire/owners"
	"github.com/dataretire/retire/proof"
)

// linkCommand mints a personal link for one person and one retirement, the same link the
// worker's notices carry: for a DBA who must resend it (the mail was lost, it expired), and
// for the demo. Whoever holds the link secret can do this, which is why it is a secret.
func linkCommand(args []string, stdout, stderr io.Writer, now func() time.Time) error {
	fs := flag.NewFlagSet("retire-portal link", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", envOr("RETIRE_PORTAL_CONFIG", "/etc/retire/portal.yaml"), "the portal's config file")
	person := fs.String("person", "", "the person, by directory id or e-mail (required)")
	workflowID := fs.String("workflow", "", "the retirement's workflow id, e.g. retire:orders-prod:orders_2019 (required)")
	ttl := fs.Duration("ttl", 7*24*time.Hour, "how long the link can be used")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: retire-portal link --person ID --workflow ID [--ttl 168h] [--config FILE]

Prints a personal, single-use link to the owners' page for one person and the current run of
one retirement, signed with the config's link_secret like the links in the worker's notices.
Opening it shows the page; one decision can be made from it.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *person == "" || *workflowID == "" {
		return errors.New("say for whom and which retirement: --person <id> --workflow <workflow id>")
	}
	if *ttl <= 0 || *ttl > 35*24*time.Hour {
		return fmt.Errorf("--ttl %s: a link lives between a second and 35 days", *ttl)
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	cfg, err := c.resolve()
	if err != nil {
		return err
	}
	if cfg.LinkSecret == nil {
		return errors.New("the config has no link_secret: personal links cannot be made")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := owners.Load(ctx, cfg.Owners)
	if err != nil {
		return err
	}
	p, ok := dir.Find(*person)
	if !ok {
		return fmt.Errorf("%s is not in the owners directory (%s)", *person, dir.From)
	}
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return fmt.Errorf("temporal client settings: %w", err)
	}
	tc, err := client.Dial(opts)
	if err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	defer tc.Close()
	st, err := (sdkTemporal{c: tc}).Status(ctx, *workflowID, "")
	if err != nil {
		return fmt.Errorf("the retirement %s cannot be read: %s", *workflowID, explain(err))
	}
	if sg := st.Signers; sg != nil && !slices.ContainsFunc(append(slices.Clone(sg.Owners), sg.Added...), func(o string) bool { return strings.EqualFold(o, p.ID) }) {
		fmt.Fprintf(stderr, "note: %s is not an owner of this retirement (owners: %s); the page will show it, the workflow will refuse their decisions\n", p.ID, strings.Join(sg.Owners, ", "))
	}
	at := now()
	tok, err := proof.SignLink(cfg.LinkSecret, proof.Link{Person: p.ID, Workflow: *workflowID, Run: st.RunID, Nonce: proof.NewNonce(),
		IssuedAt: at.Unix(), Expires: at.Add(*ttl).Unix()})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s/l/%s\n", cfg.PublicURL, tok)
	return nil
}
