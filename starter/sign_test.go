package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/crypto/ssh"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/workflows"
)

// testKey is an SSH key pair made by the real ssh-keygen, as people have them.
type testKey struct {
	path string // the private key file; path+".pub" is the public one
	pub  ssh.PublicKey
	line string // the authorized_keys line
}

func newTestKey(t *testing.T, name, passphrase string) testKey {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f", path).CombinedOutput()
	require.NoError(t, err, "ssh-keygen: %s", out)
	line, err := os.ReadFile(path + ".pub")
	require.NoError(t, err)
	pub, _, _, _, err := ssh.ParseAuthorizedKey(line)
	require.NoError(t, err)
	return testKey{path: path, pub: pub, line: strings.TrimSpace(string(line))}
}

func (k testKey) fingerprint() string { return ssh.FingerprintSHA256(k.pub) }

// startAgent runs a real ssh-agent in the foreground on a socket of its own, stopped when the
// test ends, and returns the socket.
func startAgent(t *testing.T, keys ...testKey) string {
	t.Helper()
	// Unix socket paths are short (108 bytes); t.TempDir's can be longer.
	dir, err := os.MkdirTemp("", "retire-agent-")
	require.NoError(t, err)
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = os.RemoveAll(dir)
	})
	deadline := time.After(10 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			_ = c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("ssh-agent exited before it listened: %v", err)
		case <-deadline:
			t.Fatal("ssh-agent did not listen on its socket within 10s")
		case <-time.After(10 * time.Millisecond):
		}
	}
	for _, k := range keys {
		add := exec.Command("ssh-add", "-q", k.path)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		out, err := add.CombinedOutput()
		require.NoError(t, err, "ssh-add: %s", out)
	}
	return sock
}

// pinnedSigners is what a plan pins: alice and bob own shop, carol asked, dba is a DBA.
func pinnedSigners(keys map[string]testKey) *activities.Signers {
	person := func(id, email string) proof.Person {
		p := proof.Person{ID: id, Email: email}
		if k, ok := keys[id]; ok {
			p.SSHKeys = []string{k.line}
		}
		return p
	}
	return &activities.Signers{
		Owners: []string{"alice", "bob"}, DBAs: []string{"dba"}, Requester: "carol",
		Pins: proof.Pins{People: []proof.Person{
			person("alice", "alice@example.com"), person("bob", "bob@example.com"),
			person("carol", "carol@example.com"), person("dba", "dba@example.com"),
		}},
		From: "owners.people in the worker's config",
	}
}

// provingTemporal is the fake server with the workflow's own check: each decision's proof is
// verified as workflows/human.go does it (the current run, the person's directory id, Says of
// the value received, the workflow's clock), refused with the validator's message or recorded
// with what it proved.
type provingTemporal struct {
	*fakeTemporal
	pins     proof.Pins
	run      string
	now      time.Time
	verified *proof.Verified
}

func (p *provingTemporal) UpdateWorkflow(ctx context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	who := func(by string) string {
		if person, ok := p.pins.Person(by); ok {
			return person.ID
		}
		return strings.TrimSpace(by)
	}
	check := func(by string, pr *proof.Proof, says string) (string, *proof.Verified, bool) {
		v, err := p.pins.Verify(pr, proof.Expect{Decision: o.UpdateName, Workflow: o.WorkflowID, Run: p.run, Person: who(by), Says: says, Now: p.now})
		if err != nil {
			p.updateErr = sdkError(temporal.NewApplicationError(err.Error(), "Rejected"))
			return "", nil, false
		}
		p.verified = &v
		return who(v.Person), &v, true
	}
	st := p.updateOut
	switch in := o.Args[0].(type) {
	case workflows.Signoff:
		if by, v, ok := check(in.By, in.Proof, in.Says()); ok {
			in.By, in.Verified = by, v
			st.Signoffs = append(st.Signoffs, in)
		}
	case workflows.Objection:
		if by, v, ok := check(in.By, in.Proof, in.Says()); ok {
			in.By, in.Verified = by, v
			st.Objections = append(st.Objections, in)
		}
	case workflows.Extension:
		if by, v, ok := check(in.By, in.Proof, in.Says()); ok {
			in.By, in.Verified = by, v
			st.Extensions = append(st.Extensions, in)
		}
	case workflows.Acknowledgement:
		if by, v, ok := check(in.By, in.Proof, in.Says()); ok {
			in.By, in.Verified = by, v
			if o.UpdateName == workflows.UpdateAcknowledgeAttempts {
				ev := *st.Evidence
				ev.AttemptsAck = &in
				st.Evidence = &ev
			} else {
				st.Acknowledgement = &in
			}
		}
	}
	p.updateOut = st
	return p.fakeTemporal.UpdateWorkflow(ctx, o)
}

// signingApp runs commands against a running retirement whose plan pinned signers, on run
// run-7, with the workflow's clock a minute after the CLI's.
func signingApp(t *testing.T, sg *activities.Signers, env map[string]string) (*app, *provingTemporal, *strings.Builder, *strings.Builder) {
	t.Helper()
	st := sampleStatus()
	st.RunID, st.Signers = "run-7", sg
	st.Acknowledgement = nil
	st.Evidence = &workflows.Evidence{Attempts: []activities.Attempt{{Account: "app@%", DeniedLogins: 3}}}
	fake := &fakeTemporal{
		desc:      runDescription(t, "run-7", testNow.Add(-19*24*time.Hour), enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhaseObserve),
		status:    &st,
		updateOut: st,
	}
	pt := &provingTemporal{fakeTemporal: fake, pins: sg.Pins, run: "run-7", now: testNow.Add(time.Minute)}
	a, _, _ := testApp(t, fake, env)
	var out, errOut strings.Builder
	a.out, a.errOut = &out, &errOut
	a.dial = func() (temporalAPI, error) { return pt, nil }
	return a, pt, &out, &errOut
}

// sentProof is the proof of the decision the CLI sent, and its statement.
func sentProof(t *testing.T, pt *provingTemporal) (workflows.Proven, string, proof.Statement) {
	t.Helper()
	require.NotNil(t, pt.updated, "no update was sent")
	var p workflows.Proven
	var says string
	switch in := pt.updated.Args[0].(type) {
	case workflows.Signoff:
		p, says = in.Proven, in.Says()
	case workflows.Objection:
		p, says = in.Proven, in.Says()
	case workflows.Extension:
		p, says = in.Proven, in.Says()
	case workflows.Acknowledgement:
		p, says = in.Proven, in.Says()
	default:
		t.Fatalf("unexpected update argument %T", in)
	}
	require.NotNil(t, p.Proof, "the decision carries no proof")
	st, err := p.Proof.Decode()
	require.NoError(t, err)
	return p, says, st
}

var deciding = []struct {
	name string
	args []string
}{
	{workflows.UpdateApprove, []string{"approve", "local", "shop", "--comment", "shop is closed"}},
	{workflows.UpdateObject, []string{"object", "local", "shop", "--reason", "billing reads it"}},
	{workflows.UpdateExtend, []string{"extend", "local", "shop", "--by", "7d", "--reason", "quarter end"}},
	{workflows.UpdateAcknowledge, []string{"acknowledge-clients", "local", "shop", "--note", "the BI box is retired"}},
	{workflows.UpdateAcknowledgeAttempts, []string{"acknowledge-attempts", "local", "shop", "--note", "the Nagios check"}},
}

// Every decision signed with a key file is one the workflow's validator accepts: the
// statement names the decision, this workflow, its current run (described, not guessed), the
// person's directory id (--as may be their e-mail, in any case), what the value sent says,
// and a lifetime from the CLI's clock.
func TestSignedDecisionsAreWhatTheWorkflowExpects(t *testing.T) {
	alice := newTestKey(t, "alice", "")
	for _, d := range deciding {
		t.Run(d.name, func(t *testing.T) {
			a, pt, out, errOut := signingApp(t, pinnedSigners(map[string]testKey{"alice": alice}), nil)
			args := append(append([]string{}, d.args...), "--as", "ALICE@example.com", "--sign-with", alice.path)
			require.Equal(t, 0, a.execute(args), errOut.String())

			p, says, st := sentProof(t, pt)
			assert.Equal(t, proof.MethodSSH, p.Proof.Method)
			assert.Nil(t, p.Verified, "what a proof proved is the workflow's to say")
			assert.Equal(t, proof.Statement{
				Decision: d.name, Workflow: "retire:local:shop", Run: "run-7", Person: "alice", Says: says,
				Nonce: st.Nonce, IssuedAt: testNow.Unix(), Expires: testNow.Add(10 * time.Minute).Unix(), Auth: proof.MethodSSH,
			}, st)
			assert.Len(t, st.Nonce, 22, "128 random bits, base64url")

			// The same check the validator makes, made here independently of the fake.
			v, err := pinnedSigners(map[string]testKey{"alice": alice}).Pins.Verify(p.Proof, proof.Expect{
				Decision: d.name, Workflow: "retire:local:shop", Run: "run-7", Person: "alice", Says: says, Now: testNow.Add(time.Minute),
			})
			require.NoError(t, err)
			assert.Equal(t, alice.fingerprint(), v.Key)

			assert.Contains(t, out.String(), "alice (verified: SSH signature by "+alice.fingerprint()+")")
			assert.Empty(t, errOut.String())
		})
	}
}

// The requester signs the start for the requester as given, with no run and the request's
// Says; the plan checks it once it has pinned the keys.
func TestSignedStartIsWhatThePlanExpects(t *testing.T) {
	carol := newTestKey(t, "carol", "")
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"flag": {[]string{"--sign-with", carol.path, "--requester", " carol "}, map[string]string{}},
		"env":  {nil, map[string]string{"USER": "carol", "RETIRE_SIGN_WITH": carol.path}},
	} {
		t.Run(name, func(t *testing.T) {
			fake := &fakeTemporal{}
			a, _, errOut := testApp(t, fake, tc.env)
			args := append([]string{"start", "local", "shop", "--reason", "decommission", "--ticket", "CHG-1", "--no-wait"}, tc.args...)
			require.Equal(t, 0, a.execute(args), errOut.String())

			req := fake.startArg.(workflows.Request)
			require.NotNil(t, req.Proof)
			st, err := req.Proof.Decode()
			require.NoError(t, err)
			assert.Equal(t, workflows.DecisionStart, st.Decision)
			assert.Equal(t, "retire:local:shop", st.Workflow)
			assert.Empty(t, st.Run, "there is no run before the start")
			assert.Equal(t, "carol", st.Person)
			assert.Equal(t, req.Says(), st.Says)
			assert.Equal(t, testNow.Unix(), st.IssuedAt)

			v, err := pinnedSigners(map[string]testKey{"carol": carol}).Pins.Verify(req.Proof, proof.Expect{
				Decision: workflows.DecisionStart, Workflow: workflows.WorkflowID("local", "shop"), Person: "carol", Says: req.Says(), Now: testNow.Add(2 * time.Second),
			})
			require.NoError(t, err)
			assert.Equal(t, carol.fingerprint(), v.Key)
		})
	}
}

// After the plan, start says who the owners are (from the directory) and how the requester
// was proven.
func TestStartPrintsOwnersAndTheRequestersProof(t *testing.T) {
	st := sampleStatus()
	st.Phase, st.Waiting = workflows.PhaseSample, ""
	st.Signers = pinnedSigners(nil)
	st.RequesterVerified = &proof.Verified{Person: "carol", Method: proof.MethodSSH, Key: "SHA256:abc"}
	fake := &fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhaseSample), status: &st}
	a, out, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	require.Equal(t, 0, a.execute([]string{"start", "local", "shop", "--reason", "decommission"}), errOut.String())
	assert.Contains(t, out.String(), "  requester: carol (verified: SSH signature by SHA256:abc)\n")
	assert.Contains(t, out.String(), "  owners: alice, bob (from the owners directory: owners.people in the worker's config)\n")
}

// --sign-with a .pub file signs with that key as ssh-agent holds it.
func TestSignWithAPublicKeyUsesTheAgent(t *testing.T) {
	alice := newTestKey(t, "alice", "")
	other := newTestKey(t, "other", "")
	sock := startAgent(t, other, alice)
	a, pt, out, errOut := signingApp(t, pinnedSigners(map[string]testKey{"alice": alice}), map[string]string{"SSH_AUTH_SOCK": sock})
	require.Equal(t, 0, a.execute([]string{"approve", "local", "shop", "--as", "alice", "--sign-with", alice.path + ".pub"}), errOut.String())
	_, _, st := sentProof(t, pt)
	assert.Equal(t, "run-7", st.Run)
	require.NotNil(t, pt.verified)
	assert.Equal(t, alice.fingerprint(), pt.verified.Key)
	assert.True(t, strings.HasPrefix(out.String(), "signed off by alice (verified: SSH signature by "+alice.fingerprint()+");"), out.String())
}

// Without --sign-with, a key in ssh-agent that the retirement pinned for the person is used;
// when the agent holds none of theirs, the decision goes without proof and the CLI says why.
func TestAnAgentKeyPinnedForThePersonIsUsed(t *testing.T) {
	alice := newTestKey(t, "alice", "")
	bob := newTestKey(t, "bob", "")
	other := newTestKey(t, "other", "")
	sock := startAgent(t, other, alice) // "other" first: the pinned key is picked, not the first
	sg := pinnedSigners(map[string]testKey{"alice": alice, "bob": bob})

	a, pt, _, errOut := signingApp(t, sg, map[string]string{"SSH_AUTH_SOCK": sock})
	require.Equal(t, 0, a.execute([]string{"extend", "local", "shop", "--as", "alice", "--by", "7d"}), errOut.String())
	sentProof(t, pt)
	require.NotNil(t, pt.verified)
	assert.Equal(t, alice.fingerprint(), pt.verified.Key)

	sg.Pins.AcceptUnproven = true // a dev worker: it takes bob's word, and says so
	a, pt, out, errOut := signingApp(t, sg, map[string]string{"SSH_AUTH_SOCK": sock})
	require.Equal(t, 0, a.execute([]string{"approve", "local", "shop", "--as", "bob"}), errOut.String())
	assert.Nil(t, pt.updated.Args[0].(workflows.Signoff).Proof)
	assert.Equal(t, "note: ssh-agent holds none of the SSH keys pinned for bob; the decision carries no proof of who makes it\n", errOut.String())
	assert.True(t, strings.HasPrefix(out.String(), "signed off by bob (identity not verified);"), out.String())
}

// A worker that requires proof refuses an unsigned decision with its validator's message,
// printed as is; so is a key the retirement did not pin.
func TestRefusedProofsArePrintedAsTheValidatorSaysThem(t *testing.T) {
	alice := newTestKey(t, "alice", "")
	stranger := newTestKey(t, "stranger", "")
	sg := pinnedSigners(map[string]testKey{"alice": alice})

	a, _, out, errOut := signingApp(t, sg, nil)
	assert.Equal(t, 1, a.execute([]string{"approve", "local", "shop", "--as", "alice"}))
	assert.Empty(t, out.String())
	assert.Equal(t, "retire: "+proof.ErrNoProof.Error()+"\n", errOut.String())

	a, _, _, errOut = signingApp(t, sg, nil)
	assert.Equal(t, 1, a.execute([]string{"approve", "local", "shop", "--as", "alice", "--sign-with", stranger.path}))
	assert.Equal(t, "retire: the SSH key "+stranger.fingerprint()+" is not one of alice's keys pinned for this retirement ("+alice.fingerprint()+")\n", errOut.String())
}

// An encrypted key file asks its passphrase when someone can type it, and otherwise says to
// use ssh-agent, before anything is sent.
func TestEncryptedKeyFiles(t *testing.T) {
	alice := newTestKey(t, "alice", "correct horse")

	a, pt, _, errOut := signingApp(t, pinnedSigners(map[string]testKey{"alice": alice}), nil)
	var prompts []string
	a.passphrase = func(prompt string) ([]byte, error) {
		prompts = append(prompts, prompt)
		return []byte("correct horse"), nil
	}
	require.Equal(t, 0, a.execute([]string{"approve", "local", "shop", "--as", "alice", "--sign-with", alice.path}), errOut.String())
	assert.Equal(t, []string{"Enter passphrase for " + alice.path + ": "}, prompts)
	require.NotNil(t, pt.verified)
	assert.Equal(t, alice.fingerprint(), pt.verified.Key)

	a, _, errOut2 := testApp(t, nil, nil)
	a.passphrase = func(string) ([]byte, error) { return []byte("wrong"), nil }
	assert.Equal(t, 1, a.execute([]string{"approve", "local", "shop", "--as", "alice", "--sign-with", alice.path}))
	assert.Equal(t, "retire: --sign-with "+alice.path+": wrong passphrase\n", errOut2.String())

	a, _, errOut2 = testApp(t, nil, nil)
	a.passphrase = func(string) ([]byte, error) { return nil, errNoTerminal }
	assert.Equal(t, 1, a.execute([]string{"approve", "local", "shop", "--as", "alice", "--sign-with", alice.path}))
	assert.Equal(t, "retire: --sign-with "+alice.path+" is encrypted and stdin is not a terminal to ask its passphrase: load it into ssh-agent (ssh-add "+alice.path+") and sign with --sign-with "+alice.path+".pub\n", errOut2.String())
}

func TestSignWithMistakesAreOneLineAndSendNothing(t *testing.T) {
	alice := newTestKey(t, "alice", "")
	garbage := filepath.Join(t.TempDir(), "id_garbage")
	require.NoError(t, os.WriteFile(garbage, []byte("not a key\n"), 0o600))
	sock := startAgent(t) // an agent without alice's key
	for name, tc := range map[string]struct {
		path string
		env  map[string]string
		want string
	}{
		"missing":      {"/nonexistent/id_ed25519", nil, "retire: --sign-with /nonexistent/id_ed25519: no such file or directory\n"},
		"not a key":    {garbage, nil, "retire: --sign-with " + garbage + " is neither an OpenSSH private key nor a .pub public key: ssh: no key found\n"},
		"no agent":     {alice.path + ".pub", nil, "retire: --sign-with " + alice.path + ".pub is a public key, so its private key must be in ssh-agent: SSH_AUTH_SOCK is not set: no ssh-agent to ask\n"},
		"not in agent": {alice.path + ".pub", map[string]string{"SSH_AUTH_SOCK": sock}, "retire: --sign-with " + alice.path + ".pub: ssh-agent (SSH_AUTH_SOCK=" + sock + ") does not hold its key " + alice.fingerprint() + "; add it with ssh-add <private key file>\n"},
	} {
		t.Run(name, func(t *testing.T) {
			a, out, errOut := testApp(t, nil, tc.env) // nil: dialling Temporal fails the test
			assert.Equal(t, 1, a.execute([]string{"object", "local", "shop", "--as", "alice", "--reason", "x", "--sign-with", tc.path}))
			assert.Empty(t, out.String())
			assert.Equal(t, tc.want, errOut.String())
		})
	}
}

func TestDecidingCommandsTeachSigning(t *testing.T) {
	for _, cmd := range []string{"approve", "object", "extend", "acknowledge-clients", "acknowledge-attempts", "start"} {
		a, out, _ := testApp(t, nil, nil)
		require.Equal(t, 0, a.execute([]string{cmd, "--help"}))
		help := out.String()
		assert.Contains(t, help, "--sign-with", cmd)
		assert.Contains(t, help, "RETIRE_SIGN_WITH", cmd)
		assert.Contains(t, help, "ssh-agent", cmd)
		assert.Regexp(t, `(?m)^  retire `+cmd+` .*--sign-with`, help, cmd)
	}
}

// The status says who may decide and where that came from, and how each decision was proven.
func TestStatusShowsWhoMayDecideAndHowDecisionsWereProven(t *testing.T) {
	st := sampleStatus()
	st.Signers = pinnedSigners(nil)
	st.RequesterVerified = &proof.Verified{Person: "carol", Method: proof.MethodSSH, Key: "SHA256:carolkey"}
	st.Signoffs = []workflows.Signoff{{By: "alice", Comment: "ok", At: testNow, Proven: workflows.Proven{Verified: &proof.Verified{Person: "alice", Method: proof.MethodSSH, Key: "SHA256:alicekey"}}}}
	st.Extensions[0].Verified = &proof.Verified{Person: "alice", Method: proof.MethodPortal, Auth: proof.AuthOIDC, Issuer: "https://login.example.com"}
	st.Acknowledgement.Verified = &proof.Verified{Person: "dba", Method: proof.MethodUnverified}
	var b strings.Builder
	renderStatus(&b, statusView{Status: st})
	text := b.String()
	for _, want := range []string{
		"requester: carol (verified: SSH signature by SHA256:carolkey)\n",
		"owners: alice, bob (from the owners directory: owners.people in the worker's config)\n",
		"dbas: dba (may acknowledge evidence and attempts, as may the requester and the owners)\n",
		"\nsign-offs:\n  alice (verified: SSH signature by SHA256:alicekey) at 2026-11-20 10:00 UTC: ok\n",
		"  alice (verified: logged in to the owners' page through https://login.example.com) by 7d at 2026-11-06 10:00 UTC: quarter end\n",
		"  acknowledged by dba (identity not verified) at 2026-11-04 10:00 UTC: the BI box is retired\n",
	} {
		assert.Contains(t, text, want)
	}

	st.Signers.Unlisted, st.Signers.From = true, "the request (dev worker without an owners directory: nothing proves who the owners are)"
	b.Reset()
	renderStatus(&b, statusView{Status: st})
	assert.Contains(t, b.String(), "owners: alice, bob (not from a directory: the request (dev worker without an owners directory: nothing proves who the owners are))\n")
}

// -o json only adds: the signers, the requester's proof and each decision's verification.
func TestStatusJSONCarriesSignersAndProofs(t *testing.T) {
	st := sampleStatus()
	st.Signers = pinnedSigners(nil)
	st.RequesterVerified = &proof.Verified{Person: "carol", Method: proof.MethodSSH, Key: "SHA256:carolkey"}
	fake := &fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhaseObserve), status: &st}
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop", "-o", "json"}), errOut.String())
	text := out.String()
	for _, want := range []string{`"signers": {`, `"owners": [`, `"from": "owners.people in the worker's config"`, `"requester_verified": {`, `"phase": "observe"`, `"pending_activities"`} {
		assert.Contains(t, text, want)
	}
}
