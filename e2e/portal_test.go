package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/crypto/ssh"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/testservices"
	"github.com/dataretire/retire/workflows"
)

// portalStack is the whole system an owner meets: Temporal, MinIO and MariaDB, the real
// worker with an owners directory that requires proof of every decision, the company's
// OpenID Connect provider, the mail relay the worker sends the owners' notices through, and
// the real retire-portal. The DBA proves who they are with an SSH key; owners only ever use
// the browser.
type portalStack struct {
	*harness
	portal     string // http://127.0.0.1:port
	portalLog  string
	idp        *testservices.OIDCProvider
	relay      *testservices.SMTPServer
	linkSecret []byte
	dba        ssh.Signer
	temporalC  client.Client
}

var (
	portalBuildOnce sync.Once
	portalBuildErr  error
)

// buildPortal builds retire-portal next to the other binaries of the package.
func buildPortal(t *testing.T, bin string) {
	portalBuildOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "retire-portal"), filepath.Join(testservices.ModuleRoot(t), "portal")).CombinedOutput()
		if err != nil {
			portalBuildErr = fmt.Errorf("go build ./portal: %v: %s", err, out)
		}
	})
	require.NoError(t, portalBuildErr)
}

func newPortalStack(t *testing.T) *portalStack {
	h := &harness{t: t, bin: buildBinaries(t), dir: t.TempDir()}
	buildPortal(t, h.bin)
	h.temporal = testservices.Temporal(t)
	h.s3 = testservices.MinIO(t)
	h.db = testservices.MariaDB(t)
	p := &portalStack{harness: h, idp: testservices.OIDC(t), relay: testservices.SMTP(t, false)}
	p.linkSecret = []byte("link-" + randomHex(24))

	// The page's signing key, made the way an operator makes it; the worker trusts its
	// public key.
	keyFile := filepath.Join(h.dir, "portal-key.pem")
	var pub, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(h.bin, "retire-portal"), "keygen", keyFile)
	cmd.Stdout, cmd.Stderr = &pub, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	portalKey := strings.TrimSpace(pub.String())
	_, err := proof.PortalKey(portalKey)
	require.NoError(t, err, "keygen prints the key for signoff.portal_keys")

	_, dbaKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	p.dba, err = ssh.NewSignerFromKey(dbaKey)
	require.NoError(t, err)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.portal = "http://" + l.Addr().String()
	require.NoError(t, l.Close())

	// One owners directory for the worker and the page.
	ownersFile := filepath.Join(h.dir, "owners.yaml")
	require.NoError(t, os.WriteFile(ownersFile, []byte(fmt.Sprintf(`people:
  - {id: alice, name: Alice Liddell, email: alice@example.com, owns: [{connection: local, objects: ["rt_e2e_portal_*"]}]}
  - {id: bob, name: Bob Builder, email: bob@example.com, owns: [{connection: local, objects: ["rt_e2e_portal_*"]}]}
  - {id: dba, name: The DBA, email: dba@example.com, dba: true, ssh_keys: [%q]}
`, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(p.dba.PublicKey()))))), 0o600))

	h.cfg = filepath.Join(h.dir, "config.yaml")
	require.NoError(t, os.WriteFile(h.cfg, []byte(fmt.Sprintf(`connections:
  local:
    engine: mysql
    host: 127.0.0.1
    port: 3306
    user: root
    password_env: RT_E2E_DB_PASSWORD
    poll_interval: 100ms
    sampling: {enable: [table-counters]}
stores:
  e2e:
    endpoint: %s
    bucket: retire-e2e
    prefix: archive
    access_key_env: RT_E2E_S3_ACCESS
    secret_key_env: RT_E2E_S3_SECRET
notify:
  smtp: {host: %s, port: %d, from: retire@example.com, user: %s, password_env: RT_E2E_SMTP_PASSWORD, ca_file: %s}
owners: {file: %s}
signoff:
  portal_keys: [%s]
  require_proof: true
  portal_url: %s
  link_secret: {password_env: RT_E2E_LINK_SECRET}
`, h.s3.Endpoint, p.relay.Host, p.relay.Port, p.relay.User, p.relay.CAFile, ownersFile, portalKey, p.portal)), 0o600))

	portalCfg := filepath.Join(h.dir, "portal.yaml")
	require.NoError(t, os.WriteFile(portalCfg, []byte(fmt.Sprintf(`listen: %s
public_url: %s
signing_key_file: %s
cookie_secret: {password_env: RT_E2E_COOKIE_SECRET}
oidc: {issuer: %q, client_id: %q, client_secret_env: RT_E2E_OIDC_SECRET}
link_secret: {password_env: RT_E2E_LINK_SECRET}
owners: {file: %s}
`, strings.TrimPrefix(p.portal, "http://"), p.portal, keyFile, p.idp.Issuer, p.idp.ClientID, ownersFile)), 0o600))

	h.env = append(os.Environ(), "TEMPORAL_ADDRESS="+h.temporal.Address, "TEMPORAL_NAMESPACE=default",
		"RT_E2E_DB_PASSWORD=", "RT_E2E_S3_ACCESS="+h.s3.AccessKey, "RT_E2E_S3_SECRET="+h.s3.SecretKey,
		"RT_E2E_SMTP_PASSWORD="+p.relay.Pass, "RT_E2E_LINK_SECRET="+string(p.linkSecret),
		"RT_E2E_COOKIE_SECRET=cookie-"+randomHex(24), "RT_E2E_OIDC_SECRET="+p.idp.ClientSecret)

	h.startWorker("worker.log")
	p.portalLog = filepath.Join(h.dir, "portal.log")
	logFile, err := os.Create(p.portalLog)
	require.NoError(t, err)
	pc := exec.Command(filepath.Join(h.bin, "retire-portal"), "--config", portalCfg)
	pc.Env, pc.Stdout, pc.Stderr = h.env, logFile, logFile
	require.NoError(t, pc.Start())
	t.Cleanup(func() { _ = pc.Process.Kill(); _, _ = pc.Process.Wait(); logFile.Close() })
	ready := func() bool {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(p.portal + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	require.Eventually(t, ready, time.Minute, 100*time.Millisecond, "the portal never became ready:\n%s", p.log("portal.log"))

	p.temporalC, err = client.Dial(client.Options{HostPort: h.temporal.Address})
	require.NoError(t, err)
	t.Cleanup(p.temporalC.Close)
	return p
}

// start is a DBA starting a retirement with a request signed by their SSH key (the worker
// requires proof of who asks); the plan then pins the owners from the directory.
func (p *portalStack) start(db string, sample, observe time.Duration) string {
	req := workflows.Request{Connection: "local", Object: db, Reason: workflows.ReasonDecommission, Requester: "dba",
		Ticket: "E2E-PORTAL", SampleWindow: sample, ObserveWindow: observe}.WithDefaults()
	id := workflows.WorkflowID("local", db)
	var err error
	req.Proof, err = proof.SignSSH(p.dba, p.statement(workflows.DecisionStart, id, "", req.Says()))
	require.NoError(p.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = p.temporalC.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: workflows.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrConnection.ValueSet(req.Connection), workflows.AttrObject.ValueSet(req.Object),
			workflows.AttrReason.ValueSet(string(req.Reason)), workflows.AttrRequester.ValueSet(req.Requester),
			workflows.AttrPhase.ValueSet(string(workflows.PhasePlan))),
	}, workflows.WorkflowName, req)
	require.NoError(p.t, err)
	return id
}

func (p *portalStack) statement(decision, id, run, says string) proof.Statement {
	now := time.Now()
	return proof.Statement{Decision: decision, Workflow: id, Run: run, Person: "dba", Says: says, Nonce: proof.NewNonce(),
		IssuedAt: now.Unix(), Expires: now.Add(10 * time.Minute).Unix()}
}

func (p *portalStack) status(id string) (workflows.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var st workflows.Status
	v, err := p.temporalC.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err == nil {
		err = v.Get(&st)
	}
	return st, err
}

// until waits for the retirement to reach what done says, doing the DBA's part on the way:
// when it waits for an acknowledgement of the usage evidence or of the attempts after the
// cut, the DBA acknowledges exactly what it lists, signed with their SSH key.
func (p *portalStack) until(id string, limit time.Duration, what string, done func(workflows.Status) bool) workflows.Status {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	var st workflows.Status
	var err error
	for time.Now().Before(deadline) {
		st, err = p.status(id)
		if err == nil {
			if done(st) {
				return st
			}
			require.NotEqual(p.t, workflows.PhaseFailed, st.Phase, "the retirement failed: %s", st.Error)
			switch {
			case strings.HasPrefix(st.Waiting, "acknowledgement of the usage evidence"):
				p.acknowledge(st, workflows.UpdateAcknowledge, workflows.EvidenceToAcknowledge(st), "nothing of the e2e test reads it")
			case strings.HasPrefix(st.Waiting, "acknowledgement of the access attempts"):
				p.acknowledge(st, workflows.UpdateAcknowledgeAttempts, workflows.AttemptsToAcknowledge(st), "the e2e test has no servers left")
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.t.Fatalf("%s never happened (last error %v); last status: phase %s, waiting %q\nportal log:\n%s", what, err, st.Phase, st.Waiting, p.log("portal.log"))
	return st
}

func (p *portalStack) acknowledge(st workflows.Status, update string, items []string, note string) {
	ack := workflows.Acknowledgement{By: "dba", Note: note, Covers: strings.Join(items, "; ")}
	var err error
	ack.Proof, err = proof.SignSSH(p.dba, p.statement(update, st.WorkflowID, st.RunID, ack.Says()))
	require.NoError(p.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := p.temporalC.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: st.WorkflowID, RunID: st.RunID, UpdateName: update,
		Args: []any{ack}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	// What is to be acknowledged may have grown since it was read: the next look acknowledges again.
	if err != nil && !strings.Contains(err.Error(), "changed since it was read") {
		require.NoError(p.t, err, "acknowledge %s", update)
	}
}

// browser is a fresh Chromium: its own profile, so no cookie of another test is in it.
func browser(t *testing.T) context.Context {
	t.Helper()
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	require.NoError(t, chromedp.Do(ctx), "start Chromium")
	return ctx
}

// do runs browser steps with a deadline: every wait in them is for a condition on the page.
func do(t *testing.T, ctx context.Context, limit time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, sel)
	return s
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	return s
}

// TestPortal is an owner's life with the owners' page, against the real stack: logging in
// through the company's provider and signing off, and opening the personal link of a real
// mail and objecting.
func TestPortal(t *testing.T) {
	p := newPortalStack(t)

	t.Run("login and sign off", func(t *testing.T) {
		db := "rt_e2e_portal_a_" + randomHex(4)
		p.exec("CREATE DATABASE " + db)
		t.Cleanup(func() { p.exec("DROP DATABASE IF EXISTS " + db) })
		p.exec(fmt.Sprintf("CREATE TABLE %s.invoices (id INT PRIMARY KEY, total DECIMAL(10,2))", db))
		p.exec(fmt.Sprintf("INSERT INTO %s.invoices SELECT seq, seq * 2.5 FROM %s.seq_1_to_300", db, db))
		id := p.start(db, 2*time.Second, 5*time.Second)
		page := p.portal + "/r/" + id

		ctx := browser(t)
		p.idp.Login(testservices.OIDCUser{Subject: "alice-0001", Email: "alice@example.com", EmailVerified: true})
		do(t, ctx, time.Minute, chromedp.Navigate(p.portal+"/"), chromedp.WaitVisible(chromedp.ID("who")))
		require.Contains(t, text(t, ctx, "#who"), "Alice Liddell (alice)")
		require.Equal(t, p.portal+"/", location(t, ctx), "back from the provider on My retirements")
		// The inline stylesheet is allowed by its hash in the Content-Security-Policy (the
		// browser's default body margin is 8px).
		styled, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).marginTop`))
		require.NoError(t, err)
		require.Equal(t, "0px", styled, "the page's stylesheet did not apply")

		// The retirement is listed once its plan has pinned the owners (RetireOwners).
		link := fmt.Sprintf(`#retirements a[href="/r/%s"]`, id)
		deadline := time.Now().Add(time.Minute)
		for {
			listed, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%q) !== null", link)))
			require.NoError(t, err)
			if listed {
				break
			}
			require.True(t, time.Now().Before(deadline), "the retirement never appeared on My retirements:\n%s", p.log("portal.log"))
			do(t, ctx, 30*time.Second, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("who")))
		}
		require.Contains(t, text(t, ctx, "#retirements li"), "local/"+db)

		do(t, ctx, time.Minute, chromedp.Click(chromedp.CSS(link)), chromedp.WaitVisible(chromedp.ID("title")))
		require.Equal(t, page, location(t, ctx))
		require.Contains(t, text(t, ctx, "#ticket"), "E2E-PORTAL")
		require.Contains(t, text(t, ctx, "#requester"), "dba (verified: SSH signature by SHA256:")
		require.Contains(t, text(t, ctx, "#owners"), "Bob Builder (bob)")
		// Sign-off is offered after the plan; sampling may still be under way.
		deadline = time.Now().Add(time.Minute)
		for {
			offered, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("approve-form") !== null`))
			require.NoError(t, err)
			if offered {
				break
			}
			require.True(t, time.Now().Before(deadline), "sign-off was never offered")
			do(t, ctx, 30*time.Second, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("title")))
		}
		require.Contains(t, text(t, ctx, "#destroys"), "1 tables, 300 rows")

		// A wrong confirmation sends nothing.
		do(t, ctx, time.Minute,
			chromedp.SendKeys(chromedp.ID("comment"), "invoicing moved to the new ERP in CHG-7"),
			chromedp.SendKeys(chromedp.ID("confirm"), strings.ToUpper(db)),
			chromedp.Click(chromedp.ID("approve")),
			chromedp.WaitVisible(chromedp.ID("error")),
		)
		require.Contains(t, text(t, ctx, "#error"), "type the name of the object")
		st, err := p.status(id)
		require.NoError(t, err)
		require.Empty(t, st.Signoffs)
		do(t, ctx, time.Minute,
			chromedp.Clear(chromedp.ID("confirm")),
			chromedp.SendKeys(chromedp.ID("confirm"), db),
			chromedp.Click(chromedp.ID("approve")),
			chromedp.WaitVisible(chromedp.ID("flash")),
		)
		require.Contains(t, text(t, ctx, "#flash"), "Your sign-off is recorded.")
		require.Contains(t, text(t, ctx, "#decisions"), "alice signed off")
		require.Contains(t, text(t, ctx, "#decisions"), "verified: logged in to the owners' page through "+p.idp.Issuer)

		p.until(id, 3*time.Minute, "the drop", func(st workflows.Status) bool { return st.Phase == workflows.PhaseDone })
		out := p.retire("status", "local", db, "-o", "json")
		require.NoError(t, json.Unmarshal([]byte(out), &st), out)
		require.Len(t, st.Signoffs, 1)
		so := st.Signoffs[0]
		require.Equal(t, "alice", so.By)
		require.Equal(t, "invoicing moved to the new ERP in CHG-7", so.Comment)
		require.NotNil(t, so.Verified)
		require.Equal(t, "alice", so.Verified.Person)
		require.Equal(t, proof.MethodPortal, so.Verified.Method)
		require.Equal(t, proof.AuthOIDC, so.Verified.Auth)
		require.Equal(t, p.idp.Issuer, so.Verified.Issuer)
		record := p.retire("record", "local", db)
		require.Contains(t, record, "verified: logged in to the owners' page through "+p.idp.Issuer)

		// After the drop the page says where the archive is and how to get the data back.
		do(t, ctx, time.Minute, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("restore")))
		require.Contains(t, text(t, ctx, "#restore"), "retire restore")
		require.Contains(t, text(t, ctx, "#restore"), st.Archive.Path)
		require.Contains(t, text(t, ctx, "#archive"), st.Archive.Location())
	})

	t.Run("personal link from a mail objects", func(t *testing.T) {
		db, app, pw := "rt_e2e_portal_b_"+randomHex(4), "rt_e2e_pa_"+randomHex(4), "App-"+randomHex(8)
		p.exec("CREATE DATABASE " + db)
		t.Cleanup(func() { p.exec("DROP DATABASE IF EXISTS " + db) })
		p.exec(fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY)", db))
		p.exec(fmt.Sprintf("INSERT INTO %s.t VALUES (1), (2)", db))
		p.exec(fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", app, pw))
		t.Cleanup(func() { p.exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'127.0.0.1'", app)) })
		p.exec(fmt.Sprintf("GRANT SELECT, INSERT ON %s.* TO '%s'@'127.0.0.1'", db, app))
		grantsBefore := p.grants(app)
		appDSN := fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/?timeout=5s", app, pw)
		require.NoError(t, appReads(appDSN, db))

		// A long window: the objection, not the clock, ends it.
		id := p.start(db, 2*time.Second, 2*time.Hour)
		p.until(id, 2*time.Minute, "the cut", func(st workflows.Status) bool { return st.Phase == workflows.PhaseObserve })
		require.Error(t, appReads(appDSN, db), "the application still reads during observation")

		// Bob's mail about the cut carries his personal link.
		linkLine := regexp.MustCompile(`(?m)^Decide on the owners' page \(personal link for (.+), valid until (\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC), one decision\): (\S+)/l/(\S+)$`)
		var found proof.Link
		var token string
		p.relay.WaitFor(t, 2*time.Minute, func(m testservices.Mail) bool {
			h, body, err := m.Parsed()
			if err != nil || h.Get("X-Retire-Event") != "access-cut" || !slices.Contains(m.Rcpt, "bob@example.com") {
				return false
			}
			for _, g := range linkLine.FindAllStringSubmatch(body, -1) {
				l, err := proof.VerifyLink(p.linkSecret, g[4], time.Now())
				if err == nil && g[3] == p.portal && l.Workflow == id && l.Person == "bob" {
					found, token = l, g[4]
					return true
				}
			}
			return false
		})
		require.Equal(t, "bob", found.Person)

		ctx := browser(t)
		do(t, ctx, time.Minute, chromedp.Navigate(p.portal+"/l/"+token), chromedp.WaitVisible(chromedp.ID("object-form")))
		require.Equal(t, p.portal+"/r/"+id, location(t, ctx), "the token leaves the address bar")
		require.Contains(t, text(t, ctx, "#who"), "Bob Builder (bob), by personal link")
		st, err := p.status(id)
		require.NoError(t, err)
		require.Empty(t, st.Objections, "opening the link decided nothing")

		// The workflow's own refusal comes back in its words: past the 35-day limit (the
		// form's max, which the browser would enforce, is taken off to get there).
		do(t, ctx, time.Minute,
			chromedp.RemoveAttribute(chromedp.ID("days"), "max"),
			chromedp.Clear(chromedp.ID("days")),
			chromedp.SendKeys(chromedp.ID("days"), "40"),
			chromedp.Click(chromedp.ID("extend")),
			chromedp.WaitVisible(chromedp.ID("error")),
		)
		require.Contains(t, text(t, ctx, "#error"), "it may not exceed 35d in total")
		st, err = p.status(id)
		require.NoError(t, err)
		require.Empty(t, st.Extensions)
		require.NotContains(t, st.Nonces, found.Nonce, "a refused decision spends nothing: the link may still decide")

		do(t, ctx, time.Minute,
			chromedp.SendKeys(chromedp.ID("reason-input"), "month-end billing still reads it"),
			chromedp.Click(chromedp.ID("object")),
			chromedp.WaitVisible(chromedp.ID("flash")),
		)
		require.Contains(t, text(t, ctx, "#flash"), "Your objection is recorded.")
		require.Contains(t, text(t, ctx, "#decisions"), "verified: personal e-mail link")

		p.until(id, 2*time.Minute, "the end after the objection", func(st workflows.Status) bool { return st.Phase == workflows.PhaseAborted })
		out := p.retire("status", "local", db, "-o", "json")
		require.NoError(t, json.Unmarshal([]byte(out), &st), out)
		require.True(t, st.AccessRestored, st.Outcome)
		require.Len(t, st.Objections, 1)
		ob := st.Objections[0]
		require.Equal(t, "bob", ob.By)
		require.Equal(t, proof.MethodPortal, ob.Verified.Method)
		require.Equal(t, proof.AuthLink, ob.Verified.Auth)
		require.Equal(t, found.Nonce, ob.Verified.Nonce, "the link decided, once")

		// Access is back exactly as it was.
		require.NoError(t, appReads(appDSN, db))
		require.Equal(t, grantsBefore, p.grants(app))
		require.Equal(t, engine.StrategyRevoke, st.Request.Strategy)
	})
}

func appReads(dsn, db string) error {
	conn, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	return conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+db+".t").Scan(&n)
}

// grants are the account's SHOW GRANTS lines, sorted.
func (p *portalStack) grants(user string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := p.db.QueryContext(ctx, fmt.Sprintf("SHOW GRANTS FOR '%s'@'127.0.0.1'", user))
	require.NoError(p.t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		require.NoError(p.t, rows.Scan(&g))
		out = append(out, g)
	}
	require.NoError(p.t, rows.Err())
	slices.Sort(out)
	return out
}
