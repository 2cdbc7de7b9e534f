package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/testservices"
	"github.com/dataretire/retire/workflows"
)

// provenRecord is the record of a finished retirement in which every decision was proven as
// the workflow proves them: SSH signatures by carol (the start), dba and alice, and a token of
// the owners' page for bob. Its times are fixed; nothing reads the wall clock.
type provenRecord struct {
	rec    workflows.Record
	keys   map[string]ssh.Signer
	portal ed25519.PrivateKey
}

var recordStart = testNow.Add(-30 * 24 * time.Hour)

func goSSHKey(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return s
}

func authorizedLine(s ssh.Signer) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

// statement is what person signs for decision at time at in run run-7 (run "" for start).
func statement(decision, run, person, says string, at time.Time) proof.Statement {
	return proof.Statement{Decision: decision, Workflow: "retire:local:shop", Run: run, Person: person, Says: says,
		Nonce: proof.NewNonce(), IssuedAt: at.Add(-time.Minute).Unix(), Expires: at.Add(9 * time.Minute).Unix()}
}

func signSSH(t *testing.T, s ssh.Signer, st proof.Statement) *proof.Proof {
	t.Helper()
	pr, err := proof.SignSSH(s, st)
	require.NoError(t, err)
	return pr
}

func newProvenRecord(t *testing.T) *provenRecord {
	t.Helper()
	day := 24 * time.Hour
	f := &provenRecord{keys: map[string]ssh.Signer{"carol": goSSHKey(t), "alice": goSSHKey(t), "dba": goSSHKey(t)}}
	_, f.portal, _ = ed25519.GenerateKey(rand.Reader)
	people := []proof.Person{{ID: "alice", Email: "alice@example.com"}, {ID: "bob", Email: "bob@example.com"}, {ID: "carol"}, {ID: "dba"}}
	for i, p := range people {
		if k, ok := f.keys[p.ID]; ok {
			people[i].SSHKeys = []string{authorizedLine(k) + " " + p.ID + "@laptop"}
		}
	}
	sg := &activities.Signers{Owners: []string{"alice", "bob"}, DBAs: []string{"dba"}, Requester: "carol", From: "owners.people in the worker's config",
		Pins: proof.Pins{People: people, PortalKeys: []string{proof.PortalPublicKey(f.portal.Public().(ed25519.PublicKey))}}}
	req := workflows.Request{Connection: "local", Object: "shop", Reason: workflows.ReasonDecommission, Requester: "carol", Ticket: "CHG-1",
		Strategy: engine.StrategyRevoke, SampleWindow: 3 * day, ObserveWindow: 14 * day, Verify: workflows.VerifyChecksums}
	req.Proof = signSSH(t, f.keys["carol"], statement(workflows.DecisionStart, "", "carol", req.Says(), recordStart))

	early := workflows.Acknowledgement{By: "dba", Note: "report@10.1.2.3 is the retired BI box", Covers: "1 client(s) seen", At: recordStart.Add(3 * day)}
	early.Proof = signSSH(t, f.keys["dba"], statement(workflows.UpdateAcknowledge, "run-7", "dba", early.Says(), early.At))
	ack := workflows.Acknowledgement{By: "dba", Note: "and its last run before the cut", Covers: "2 client(s) seen", At: recordStart.Add(3*day + 2*time.Hour)}
	ack.Proof = signSSH(t, f.keys["dba"], statement(workflows.UpdateAcknowledge, "run-7", "dba", ack.Says(), ack.At))
	ext := workflows.Extension{By: "alice", Extra: 7 * day, Reason: "quarter end", At: recordStart.Add(5 * day)}
	ext.Proof = signSSH(t, f.keys["alice"], statement(workflows.UpdateExtend, "run-7", "alice", ext.Says(), ext.At))
	attempts := workflows.Acknowledgement{By: "dba", Note: "the Nagios check, removed in CHG-12", Covers: "3 attempt(s) after the cut", At: recordStart.Add(20 * day)}
	attempts.Proof = signSSH(t, f.keys["dba"], statement(workflows.UpdateAcknowledgeAttempts, "run-7", "dba", attempts.Says(), attempts.At))
	alice := workflows.Signoff{By: "alice", Comment: "shop is closed", At: recordStart.Add(21 * day)}
	alice.Proof = signSSH(t, f.keys["alice"], statement(workflows.UpdateApprove, "run-7", "alice", alice.Says(), alice.At))
	bob := workflows.Signoff{By: "bob", Comment: "agreed", At: recordStart.Add(21*day + time.Hour)}
	bobSt := statement(workflows.UpdateApprove, "run-7", "bob", bob.Says(), bob.At)
	bobSt.Auth, bobSt.Issuer = proof.AuthOIDC, "https://login.example.com"
	token, err := proof.SignToken(f.portal, bobSt)
	require.NoError(t, err)
	bob.Proof = &proof.Proof{Method: proof.MethodPortal, Token: token}

	f.rec = workflows.Record{
		WorkflowID: "retire:local:shop", RunID: "run-7", Request: req, Phase: workflows.PhaseDone, StartedAt: recordStart,
		Signers: sg, Acknowledgement: &ack, Extensions: []workflows.Extension{ext}, Signoffs: []workflows.Signoff{alice, bob},
		Evidence:   &workflows.Evidence{Acknowledged: []workflows.Acknowledgement{early}, AttemptsAck: &attempts},
		FinishedAt: recordStart.Add(22 * day), Outcome: "retired",
	}
	f.prove(t)
	return f
}

// prove records what each proof proves, as the workflow does when it takes a decision.
func (f *provenRecord) prove(t *testing.T) {
	t.Helper()
	pins := f.rec.Signers.Pins
	v, err := pins.Verify(f.rec.Request.Proof, proof.Expect{Decision: workflows.DecisionStart, Workflow: f.rec.WorkflowID, Person: "carol", Says: f.rec.Request.Says(), Now: f.rec.StartedAt})
	require.NoError(t, err)
	f.rec.RequesterVerified = &v
	verify := func(decision, by, says string, at time.Time, p *workflows.Proven) {
		v, err := pins.Verify(p.Proof, proof.Expect{Decision: decision, Workflow: f.rec.WorkflowID, Run: f.rec.RunID, Person: by, Says: says, Now: at})
		require.NoError(t, err, decision)
		p.Verified = &v
	}
	for i := range f.rec.Signoffs {
		s := &f.rec.Signoffs[i]
		verify(workflows.UpdateApprove, s.By, s.Says(), s.At, &s.Proven)
	}
	for i := range f.rec.Extensions {
		x := &f.rec.Extensions[i]
		verify(workflows.UpdateExtend, x.By, x.Says(), x.At, &x.Proven)
	}
	for _, k := range append([]*workflows.Acknowledgement{f.rec.Acknowledgement}, &f.rec.Evidence.Acknowledged[0]) {
		verify(workflows.UpdateAcknowledge, k.By, k.Says(), k.At, &k.Proven)
	}
	k := f.rec.Evidence.AttemptsAck
	verify(workflows.UpdateAcknowledgeAttempts, k.By, k.Says(), k.At, &k.Proven)
}

// write puts the record where the workflow puts it, record.json in a folder, and returns the folder.
func (f *provenRecord) write(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.MarshalIndent(f.rec, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, archive.RecordJSONName), b, 0o600))
	return dir
}

func TestRecordVerifyPassesForAProvenRecord(t *testing.T) {
	f := newProvenRecord(t)
	dir := f.write(t)
	a, out, errOut := testApp(t, nil, nil) // nil: it must not need Temporal
	require.Equal(t, 0, a.execute([]string{"record", "verify", dir}), errOut.String())
	text := out.String()
	fp := func(who string) string { return regexp.QuoteMeta(ssh.FingerprintSHA256(f.keys[who].PublicKey())) }
	assert.Regexp(t, `(?m)^#\s+DECISION\s+BY\s+AT\s+METHOD\s+KEY\s+RESULT$`, text)
	for _, row := range []string{
		`1\s+start\s+carol\s+2026-10-21 10:00 UTC\s+ssh\s+` + fp("carol") + `\s+ok`,
		`2\s+acknowledge-clients\s+dba\s+2026-10-24 10:00 UTC\s+ssh\s+` + fp("dba") + `\s+ok`,
		`3\s+acknowledge-clients\s+dba\s+2026-10-24 12:00 UTC\s+ssh\s+` + fp("dba") + `\s+ok`,
		`4\s+extend\s+alice\s+2026-10-26 10:00 UTC\s+ssh\s+` + fp("alice") + `\s+ok`,
		`5\s+acknowledge-attempts\s+dba\s+2026-11-10 10:00 UTC\s+ssh\s+` + fp("dba") + `\s+ok`,
		`6\s+approve\s+alice\s+2026-11-11 10:00 UTC\s+ssh\s+` + fp("alice") + `\s+ok`,
		`7\s+approve\s+bob\s+2026-11-11 11:00 UTC\s+portal\s+ed25519:[0-9a-f]{16}\s+ok`,
	} {
		assert.Regexp(t, `(?m)^`+row+`$`, text)
	}
	assert.Contains(t, text, "all 7 decisions proven (6 by SSH signature, 1 by the owners' page), checked offline against the keys pinned in the record\n")
	assert.Contains(t, text, "note: the owners' page tokens are checked with the page key pinned in the record (signers.pins.portal_keys: ed25519:")
	assert.Empty(t, errOut.String())

	a, out, errOut = testApp(t, nil, nil)
	require.Equal(t, 0, a.execute([]string{"record", "verify", filepath.Join(dir, archive.RecordJSONName), "-o", "json"}), errOut.String())
	var rep recordVerifyReport
	require.NoError(t, json.Unmarshal([]byte(out.String()), &rep), out.String())
	assert.True(t, rep.OK)
	assert.Len(t, rep.Checks, 7)
	assert.Equal(t, "retire:local:shop", rep.WorkflowID)
}

// Every way a record's decision can fail to be proven fails `record verify`, which names the
// decision and says why.
func TestRecordVerifyFails(t *testing.T) {
	for name, tc := range map[string]struct {
		spoil func(t *testing.T, f *provenRecord)
		want  []string
	}{
		"a tampered comment": {func(_ *testing.T, f *provenRecord) {
			f.rec.Signoffs[0].Comment = "shop is open"
		}, []string{`#6 approve by alice: the proof says "approve: shop is closed", but the decision says "approve: shop is open"`}},

		"a statement for another run": {func(t *testing.T, f *provenRecord) {
			s := &f.rec.Signoffs[0]
			s.Proof = signSSH(t, f.keys["alice"], statement(workflows.UpdateApprove, "run-6", "alice", s.Says(), s.At))
		}, []string{"#6 approve by alice: the proof is for run run-6 of retire:local:shop, not run run-7"}},

		"a key not pinned": {func(t *testing.T, f *provenRecord) {
			stranger := goSSHKey(t)
			x := &f.rec.Extensions[0]
			x.Proof = signSSH(t, stranger, statement(workflows.UpdateExtend, "run-7", "alice", x.Says(), x.At))
		}, []string{"#4 extend by alice: the SSH key SHA256:", "is not one of alice's keys pinned for this retirement"}},

		"an unverified decision": {func(_ *testing.T, f *provenRecord) {
			k := f.rec.Evidence.AttemptsAck
			k.Proof, k.Verified = nil, &proof.Verified{Person: "dba", Method: proof.MethodUnverified}
		}, []string{"#5 acknowledge-attempts by dba: not verified: it carries no proof of who made it (a dev worker took the name as typed)"}},

		"a nonce used twice": {func(t *testing.T, f *provenRecord) {
			used, err := f.rec.Acknowledgement.Proof.Decode()
			require.NoError(t, err)
			k := f.rec.Evidence.AttemptsAck
			st := statement(workflows.UpdateAcknowledgeAttempts, "run-7", "dba", k.Says(), k.At)
			st.Nonce = used.Nonce
			k.Proof = signSSH(t, f.keys["dba"], st)
		}, []string{
			"2 of 7 decisions of retire:local:shop (run run-7) not proven:",
			"#3 acknowledge-clients by dba: its nonce was used again by #5: a proof decides once",
			"#5 acknowledge-attempts by dba: its nonce was used again by #3: a proof decides once",
		}},

		"a portal token for another retirement": {func(t *testing.T, f *provenRecord) {
			s := &f.rec.Signoffs[1]
			st := statement(workflows.UpdateApprove, "run-7", "bob", s.Says(), s.At)
			st.Workflow = "retire:local:other"
			token, err := proof.SignToken(f.portal, st)
			require.NoError(t, err)
			s.Proof.Token = token
		}, []string{"#7 approve by bob: the proof is for another retirement (retire:local:other), not retire:local:shop"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newProvenRecord(t)
			tc.spoil(t, f)
			dir := f.write(t)
			a, out, errOut := testApp(t, nil, nil)
			assert.Equal(t, 1, a.execute([]string{"record", "verify", dir}))
			msg := errOut.String()
			assert.True(t, strings.HasPrefix(msg, "retire: "), msg)
			assert.Equal(t, 1, strings.Count(msg, "\n"), "one line: %q", msg)
			for _, want := range tc.want {
				assert.Contains(t, msg, want)
			}
			assert.Contains(t, out.String(), "FAILED: ")
			assert.Contains(t, out.String(), "NOT proven\n")
		})
	}
}

// What --export-ssh writes verifies with OpenSSH alone, exactly as printed, and stops
// verifying when the statement is changed.
func TestRecordVerifyExportsWhatSSHKeygenVerifies(t *testing.T) {
	f := newProvenRecord(t)
	dir := f.write(t)
	export := filepath.Join(t.TempDir(), "proofs")
	a, out, errOut := testApp(t, nil, nil)
	require.Equal(t, 0, a.execute([]string{"record", "verify", dir, "--export-ssh", export}), errOut.String())

	signers, err := os.ReadFile(filepath.Join(export, "allowed_signers"))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("alice namespaces=\"retire-decision@dataretire\" %s\ncarol namespaces=\"retire-decision@dataretire\" %s\ndba namespaces=\"retire-decision@dataretire\" %s\n",
		authorizedLine(f.keys["alice"]), authorizedLine(f.keys["carol"]), authorizedLine(f.keys["dba"])), string(signers))
	portal, err := os.ReadFile(filepath.Join(export, "portal_keys"))
	require.NoError(t, err)
	assert.Equal(t, f.rec.Signers.Pins.PortalKeys[0]+"\n", string(portal))
	assert.FileExists(t, filepath.Join(export, "7-approve.jws"))
	assert.Contains(t, out.String(), "note: 7-approve.jws was made by the owners' page: an EdDSA JWS that ssh-keygen cannot check")

	var commands []string
	for _, line := range strings.Split(out.String(), "\n") {
		if c, ok := strings.CutPrefix(line, "  ssh-keygen "); ok {
			commands = append(commands, "ssh-keygen "+c)
		}
	}
	assert.Equal(t, []string{
		"ssh-keygen -Y verify -f allowed_signers -I carol -n retire-decision@dataretire -s 1-start.sig < 1-start.json",
		"ssh-keygen -Y verify -f allowed_signers -I dba -n retire-decision@dataretire -s 2-acknowledge-clients.sig < 2-acknowledge-clients.json",
		"ssh-keygen -Y verify -f allowed_signers -I dba -n retire-decision@dataretire -s 3-acknowledge-clients.sig < 3-acknowledge-clients.json",
		"ssh-keygen -Y verify -f allowed_signers -I alice -n retire-decision@dataretire -s 4-extend.sig < 4-extend.json",
		"ssh-keygen -Y verify -f allowed_signers -I dba -n retire-decision@dataretire -s 5-acknowledge-attempts.sig < 5-acknowledge-attempts.json",
		"ssh-keygen -Y verify -f allowed_signers -I alice -n retire-decision@dataretire -s 6-approve.sig < 6-approve.json",
	}, commands)
	assert.Contains(t, out.String(), "  cd "+export+"\n")
	assert.Contains(t, out.String(), "\nwrote allowed_signers, portal_keys, 6 signed statements with their signatures (<n>-<decision>.json and .sig), 1 owners' page token (<n>-<decision>.jws) into "+export+"\n")

	run := func(command string) (string, error) {
		sh := exec.Command("sh", "-c", command)
		sh.Dir = export
		b, err := sh.CombinedOutput()
		return string(b), err
	}
	for _, c := range commands {
		text, err := run(c)
		require.NoError(t, err, "%s: %s", c, text)
		assert.Contains(t, text, `Good "retire-decision@dataretire" signature for `, c)
	}
	statement, err := os.ReadFile(filepath.Join(export, "6-approve.json"))
	require.NoError(t, err)
	assert.Equal(t, f.rec.Signoffs[0].Proof.Statement, string(statement), "the exact bytes signed")
	require.NoError(t, os.WriteFile(filepath.Join(export, "6-approve.json"), bytes.ReplaceAll(statement, []byte("closed"), []byte("open")), 0o644))
	text, err := run(commands[5])
	assert.Error(t, err, "a changed statement must not verify: %s", text)
}

func TestRecordVerifyReadsWhatStatusPrints(t *testing.T) {
	srv := testservices.MinIO(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	cfg := write("config.yaml", fmt.Sprintf(`connections:
  local: {engine: mysql, host: 127.0.0.1, user: root}
stores:
  other:
    endpoint: %[1]s
    bucket: retire-elsewhere
    access_key_file: %[2]s
    secret_key_file: %[3]s
  test:
    endpoint: %[1]s
    bucket: retire-records
    prefix: team-a
    access_key_file: %[2]s
    secret_key_file: %[3]s
default_store: other
`, srv.Endpoint, write("access", srv.AccessKey), write("secret", srv.SecretKey)))
	ctx := t.Context()
	store, err := archive.NewStore(ctx, archive.StoreConfig{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: "retire-records", Prefix: "team-a"})
	require.NoError(t, err)
	f := newProvenRecord(t)
	b, err := json.Marshal(f.rec)
	require.NoError(t, err)
	const path = "local/shop/run-7/"
	_, _, err = archive.PutRecord(ctx, store, path, b, []byte(workflows.Markdown(f.rec)))
	require.NoError(t, err)

	for _, args := range [][]string{
		{"s3://retire-records/team-a/" + path},                 // the archive, as status prints it
		{"s3://retire-records/team-a/" + path + "record.json"}, // the record, as status prints it
		{path, "--store", "test"},                              // a path in a store, as ls takes it
	} {
		a, out, errOut := testApp(t, nil, nil)
		require.Equal(t, 0, a.execute(append([]string{"record", "verify", "--config", cfg}, args...)), "%v: %s", args, errOut.String())
		assert.Contains(t, out.String(), "record: s3://retire-records/team-a/local/shop/run-7/record.json\n", args)
		assert.Contains(t, out.String(), "all 7 decisions proven", args)
	}

	a, _, errOut := testApp(t, nil, nil)
	assert.Equal(t, 1, a.execute([]string{"record", "verify", "--config", cfg, "s3://retire-unknown/" + path}))
	assert.Equal(t, "retire: no store profile in "+cfg+" holds bucket retire-unknown (stores: other, test): name the store with --store or the config with --config\n", errOut.String())
}

func TestRecordVerifyIsListedWithTheReadCommands(t *testing.T) {
	a, _, _ := testApp(t, nil, nil)
	cmd, _, err := a.rootCommand().Find([]string{"record", "verify"})
	require.NoError(t, err)
	assert.Equal(t, "verify <archive path>", cmd.Use)
	assert.NotNil(t, cmd.Flags().Lookup("output"))
	assert.Contains(t, cmd.Long, "-o json")
	assert.Contains(t, cmd.Example, "-o json")
	assert.Contains(t, cmd.Long, "--export-ssh")
	assert.Contains(t, cmd.Long, "nobody can check it without that\nkey")

	// `retire record <connection> <database>` still prints the record.
	cmd, args, err := a.rootCommand().Find([]string{"record", "local", "shop"})
	require.NoError(t, err)
	assert.Equal(t, "record", cmd.Name())
	assert.Equal(t, []string{"local", "shop"}, args)
}
