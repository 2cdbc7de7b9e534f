package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"golang.org/x/crypto/ssh"

	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/workflows"
)

// TestOnlyProvenPeopleDecide runs a retirement on a worker that requires proof, through the
// real CLI and dev server: the owners come from the directory, the requester and the owner
// sign with their SSH keys, and every way of deciding without being the right person (no
// proof, somebody else's key, the requester, a non-owner, a replayed, expired, mis-addressed or
// altered proof) is refused by the workflow's validator with nothing written to history. The
// record then proves itself offline, and with ssh-keygen.
func TestOnlyProvenPeopleDecide(t *testing.T) {
	h := newChunkedHarness(t)
	db := "rt_e2e_proof_" + randomHex(4)
	h.exec("CREATE DATABASE " + db)
	t.Cleanup(func() { h.exec("DROP DATABASE IF EXISTS " + db) })
	h.exec(fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY)", db))
	h.exec(fmt.Sprintf("INSERT INTO %s.t VALUES (1), (2), (3)", db))

	keys := map[string]string{}
	for _, who := range []string{"alice", "dba", "carol"} {
		keys[who] = filepath.Join(h.dir, who)
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who+"@e2e", "-f", keys[who]).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	pub := func(who string) string {
		b, err := os.ReadFile(keys[who] + ".pub")
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	cfg, err := os.ReadFile(h.cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(h.cfg, append(cfg, fmt.Sprintf(`owners:
  people:
    - id: alice@example.com
      name: Alice
      ssh_keys: [%q]
      owns: [{connection: local, objects: [rt_e2e_proof_*]}]
    - id: dba
      dba: true
      ssh_keys: [%q]
    - id: carol
      ssh_keys: [%q]
signoff:
  require_proof: true
`, pub("alice"), pub("dba"), pub("carol"))...), 0o600))
	// No ssh-agent of the machine's may sign for anybody here.
	env := h.env[:0:0]
	for _, e := range h.env {
		if !strings.HasPrefix(e, "SSH_AUTH_SOCK=") && !strings.HasPrefix(e, "RETIRE_SIGN_WITH=") {
			env = append(env, e)
		}
	}
	h.env = env
	h.startWorker("worker.log")

	// The requester proves who asks, or nothing starts.
	out, err := h.retireErr("start", "local", db, "--reason", "decommission", "--requester", "dba", "--sample", "1s", "--observe", "5s", "--plan-timeout", "1m")
	require.Error(t, err, out)
	require.Contains(t, out, "carries no proof")
	require.NotContains(t, out, "started the retirement")
	out = h.retire("start", "local", db, "--reason", "decommission", "--requester", "dba", "--sign-with", keys["dba"],
		"--sample", "1s", "--observe", "5s")
	require.Contains(t, out, "started the retirement")

	id := workflows.WorkflowID("local", db)
	refused := func(want string, args ...string) {
		t.Helper()
		out, err := h.retireErr(args...)
		require.Error(t, err, "%v was accepted: %s", args, out)
		require.Contains(t, out, want, "%v", args)
	}
	refused("carries no proof", "approve", "local", db, "--as", "alice@example.com", "--comment", "refused-unproven")
	refused("is not one of alice@example.com's keys", "approve", "local", db, "--as", "alice@example.com", "--comment", "refused-carols-key", "--sign-with", keys["carol"])
	refused("cannot sign it off", "approve", "local", db, "--as", "dba", "--comment", "refused-requester", "--sign-with", keys["dba"])
	refused("carol is not an owner", "approve", "local", db, "--as", "carol", "--comment", "refused-stranger", "--sign-with", keys["carol"])
	h.retire("extend", "local", db, "--as", "alice@example.com", "--by", "1s", "--reason", "accepted-extension", "--sign-with", keys["alice"])

	// What the CLI cannot be made to send, a client of Temporal can: the validator is the
	// fence, not the CLI.
	var st workflows.Status
	require.NoError(t, json.Unmarshal([]byte(h.retire("status", "local", db, "-o", "json")), &st))
	require.Len(t, st.Extensions, 1)
	c, err := client.Dial(client.Options{HostPort: h.temporal.Address})
	require.NoError(t, err)
	defer c.Close()
	update := func(name string, arg any) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		hd, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			return err
		}
		return hd.Get(ctx, nil)
	}
	replay := workflows.Extension{By: "alice@example.com", Extra: time.Second, Reason: "accepted-extension", Proven: workflows.Proven{Proof: st.Extensions[0].Proof}}
	require.ErrorContains(t, update(workflows.UpdateExtend, replay), "already used")
	signer := sshSigner(t, keys["alice"])
	now := time.Now()
	signed := func(in workflows.Signoff, tweak func(*proof.Statement)) workflows.Signoff {
		stmt := proof.Statement{Decision: workflows.UpdateApprove, Workflow: id, Run: st.RunID, Person: "alice@example.com", Says: in.Says(),
			Nonce: proof.NewNonce(), IssuedAt: now.Unix(), Expires: now.Add(10 * time.Minute).Unix()}
		tweak(&stmt)
		pr, err := proof.SignSSH(signer, stmt)
		require.NoError(t, err)
		in.Proof = pr
		return in
	}
	require.ErrorContains(t, update(workflows.UpdateApprove, signed(workflows.Signoff{By: "alice@example.com", Comment: "refused-expired"}, func(s *proof.Statement) {
		s.IssuedAt, s.Expires = now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
	})), "expired")
	require.ErrorContains(t, update(workflows.UpdateApprove, signed(workflows.Signoff{By: "alice@example.com", Comment: "refused-other-run"}, func(s *proof.Statement) {
		s.Run = "an-earlier-run"
	})), "for run an-earlier-run")
	altered := signed(workflows.Signoff{By: "alice@example.com", Comment: "what alice signed"}, func(*proof.Statement) {})
	altered.Comment = "refused-altered"
	require.ErrorContains(t, update(workflows.UpdateApprove, altered), "but the decision says")

	out = h.retire("approve", "local", db, "--as", "ALICE@example.com", "--comment", "accepted-signoff", "--sign-with", keys["alice"])
	require.Contains(t, out, "SSH signature by SHA256:")
	h.waitPhase(db, "done", 3*time.Minute)

	// History holds the two decisions taken and nothing of the refused ones (payloads are
	// base64 in the exported JSON: they are read decoded).
	raw := h.history(id)
	history := string(raw)
	decoded := decodedPayloads(t, raw)
	require.Equal(t, 2, strings.Count(history, "workflowExecutionUpdateAcceptedEventAttributes"), "accepted updates in history")
	for _, marker := range []string{"refused-unproven", "refused-carols-key", "refused-requester", "refused-stranger", "refused-expired", "refused-other-run", "refused-altered"} {
		require.NotContains(t, decoded, marker, "a refused decision reached the history")
	}
	require.Contains(t, decoded, "accepted-signoff", "the decoding sees what history holds")

	require.NoError(t, json.Unmarshal([]byte(h.retire("status", "local", db, "-o", "json")), &st))
	require.Equal(t, workflows.PhaseDone, st.Phase)
	require.Equal(t, "alice@example.com", st.Signoffs[0].By)
	require.Equal(t, proof.MethodSSH, st.Signoffs[0].Verified.Method)
	require.Equal(t, proof.MethodSSH, st.RequesterVerified.Method)
	require.Contains(t, h.retire("record", "local", db), "verified: SSH signature by SHA256:")

	// The record proves itself offline, and ssh-keygen agrees.
	export := filepath.Join(h.dir, "proofs")
	out = h.retire("record", "verify", "--config", h.cfg, st.Archive.Location(), "--export-ssh", export)
	require.NotContains(t, strings.ToLower(out), "fail", out)
	files, err := filepath.Glob(filepath.Join(export, "*-approve.sig"))
	require.NoError(t, err)
	require.Len(t, files, 1, out)
	sig := files[0]
	verify := exec.Command("ssh-keygen", "-Y", "verify", "-f", filepath.Join(export, "allowed_signers"), "-I", "alice@example.com", "-n", proof.Namespace, "-s", sig)
	stmt, err := os.Open(strings.TrimSuffix(sig, ".sig") + ".json")
	require.NoError(t, err)
	defer stmt.Close()
	verify.Stdin = stmt
	vout, err := verify.CombinedOutput()
	require.NoError(t, err, "ssh-keygen -Y verify: %s", vout)
	require.Contains(t, string(vout), `Good "retire-decision@dataretire" signature for alice@example.com`)
	h.requireReplays(raw)
	if dest := os.Getenv("RETIRE_SAVE_PROOF_HISTORY"); dest != "" {
		require.NoError(t, os.WriteFile(dest, raw, 0o644))
	}
}

// decodedPayloads is every payload of an exported history, base64-decoded, one per line.
func decodedPayloads(t *testing.T, history []byte) string {
	var b strings.Builder
	for _, m := range regexp.MustCompile(`"data":\s*"([A-Za-z0-9+/=]*)"`).FindAllSubmatch(history, -1) {
		d, err := base64.StdEncoding.DecodeString(string(m[1]))
		require.NoError(t, err)
		b.Write(d)
		b.WriteByte('\n')
	}
	return b.String()
}

func sshSigner(t *testing.T, file string) ssh.Signer {
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	s, err := ssh.ParsePrivateKey(b)
	require.NoError(t, err)
	return s
}
