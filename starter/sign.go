package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/term"

	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/workflows"
)

// A decision sent from the CLI proves who makes it with an SSH signature (proof.SignSSH)
// over exactly the statement the workflow's validator rebuilds: the decision, this workflow
// and its current run, the person's directory id, what the decision says, a fresh nonce and a
// short lifetime. This file finds the key and makes that statement.

// proofLifetime is how long a signed decision stays good: long enough for an update that
// waits on a busy worker, short enough that a copied proof is soon worth nothing (and its
// nonce decides once anyway). proof.MaxLifetime is the ceiling the workflow enforces.
const proofLifetime = 10 * time.Minute

// agentTimeout bounds a conversation with ssh-agent. It is long because an agent may ask the
// person to confirm each use of a key (ssh-add -c).
const agentTimeout = 2 * time.Minute

const signWithUsage = "SSH key that proves who decides: an OpenSSH private key file, or a .pub file whose key ssh-agent holds (env RETIRE_SIGN_WITH; default: a key in ssh-agent that the retirement pinned for you)"

// signHelp is the part of every deciding command's --help that says how a decision is proven.
const signHelp = `
Who decides is proven with an SSH signature (the ssh-keygen -Y sign format, namespace
retire-decision@dataretire) made by one of the keys the owners directory lists for that
person; the retirement pinned those keys when it planned. --sign-with names the key: a
private key file (asked for its passphrase when stdin is a terminal; otherwise load it into
ssh-agent and name its .pub), or a .pub file whose private key ssh-agent holds
(SSH_AUTH_SOCK). Without --sign-with (or RETIRE_SIGN_WITH), a key in ssh-agent that the
retirement pinned for the person of --as is used. With neither, the decision carries no
proof: a dev worker takes the name as typed and records "identity not verified"; a worker
that requires proof refuses it and says why. --as may be the person's directory id or their
e-mail; the decision is recorded under the directory id.`

// signFlags is --sign-with.
type signFlags struct{ with string }

func (f *signFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.with, "sign-with", "", signWithUsage)
}

// path is the key to sign with: the flag, else RETIRE_SIGN_WITH, with ~ expanded.
func (f signFlags) path(getenv func(string) string) string {
	p := strings.TrimSpace(f.with)
	if p == "" {
		p = strings.TrimSpace(getenv("RETIRE_SIGN_WITH"))
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, rest)
		}
	}
	return p
}

// sshKey is a key that signs, and what to release when done (an agent connection).
type sshKey struct {
	signer ssh.Signer
	from   string // the file, or "ssh-agent"
	close  func()
}

func (k *sshKey) release() {
	if k != nil && k.close != nil {
		k.close()
	}
}

// errNoTerminal is the passphrase prompt's answer when nobody can type one.
var errNoTerminal = errors.New("stdin is not a terminal")

// askPassphrase reads a key's passphrase from the terminal, without echo. The prompt goes to
// stderr: stdout may be read by a script.
func (a *app) askPassphrase(prompt string) ([]byte, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, errNoTerminal
	}
	fmt.Fprint(a.errOut, prompt)
	defer fmt.Fprintln(a.errOut)
	return term.ReadPassword(fd)
}

// loadKey reads --sign-with: a private key file, or a public key whose private half is in
// ssh-agent. It runs before anything is sent, so a wrong path costs nothing.
func (a *app) loadKey(path string) (*sshKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--sign-with %s: %v", path, errors.Unwrap(err))
	}
	if pub, _, _, _, perr := ssh.ParseAuthorizedKey(b); perr == nil {
		return a.agentKey(path, pub)
	}
	if strings.HasSuffix(path, ".pub") {
		return nil, fmt.Errorf("--sign-with %s is not an SSH public key (one authorized_keys line)", path)
	}
	signer, err := ssh.ParsePrivateKey(b)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		pass, perr := a.passphrase(fmt.Sprintf("Enter passphrase for %s: ", path))
		switch {
		case errors.Is(perr, errNoTerminal):
			return nil, fmt.Errorf("--sign-with %s is encrypted and stdin is not a terminal to ask its passphrase: load it into ssh-agent (ssh-add %s) and sign with --sign-with %s.pub", path, path, path)
		case perr != nil:
			return nil, fmt.Errorf("--sign-with %s: cannot read its passphrase: %v", path, perr)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(b, pass)
		clear(pass)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("--sign-with %s: wrong passphrase", path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("--sign-with %s is neither an OpenSSH private key nor a .pub public key: %v", path, err)
	}
	return &sshKey{signer: signer, from: path}, nil
}

// dialAgent connects to ssh-agent through SSH_AUTH_SOCK.
func (a *app) dialAgent() (agent.ExtendedAgent, func(), error) {
	sock := a.getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil, errors.New("SSH_AUTH_SOCK is not set: no ssh-agent to ask")
	}
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach ssh-agent at SSH_AUTH_SOCK=%s: %v", sock, err)
	}
	_ = conn.SetDeadline(time.Now().Add(agentTimeout))
	return agent.NewClient(conn), func() { _ = conn.Close() }, nil
}

// agentKey is the signer in ssh-agent for pub (a .pub file's key).
func (a *app) agentKey(path string, pub ssh.PublicKey) (*sshKey, error) {
	ag, done, err := a.dialAgent()
	if err != nil {
		return nil, fmt.Errorf("--sign-with %s is a public key, so its private key must be in ssh-agent: %v", path, err)
	}
	signers, err := ag.Signers()
	if err != nil {
		done()
		return nil, fmt.Errorf("--sign-with %s: ssh-agent cannot list its keys: %v", path, err)
	}
	for _, s := range signers {
		if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
			return &sshKey{signer: s, from: "ssh-agent", close: done}, nil
		}
	}
	done()
	return nil, fmt.Errorf("--sign-with %s: ssh-agent (SSH_AUTH_SOCK=%s) does not hold its key %s; add it with ssh-add <private key file>", path, a.getenv("SSH_AUTH_SOCK"), ssh.FingerprintSHA256(pub))
}

// pinnedAgentKey is a key in ssh-agent that person has pinned, or nil (and why not, when it
// is worth saying).
func (a *app) pinnedAgentKey(person proof.Person) (*sshKey, string) {
	if len(person.SSHKeys) == 0 || a.getenv("SSH_AUTH_SOCK") == "" {
		return nil, ""
	}
	ag, done, err := a.dialAgent()
	if err != nil {
		return nil, err.Error()
	}
	signers, err := ag.Signers()
	if err != nil {
		done()
		return nil, "ssh-agent cannot list its keys: " + err.Error()
	}
	for _, line := range person.SSHKeys {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			continue
		}
		for _, s := range signers {
			if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
				return &sshKey{signer: s, from: "ssh-agent", close: done}, ""
			}
		}
	}
	done()
	return nil, fmt.Sprintf("ssh-agent holds none of the SSH keys pinned for %s", person.ID)
}

// decider signs one decision for a running retirement: it knows the retirement's current
// run and, when the workflow answered, the people and keys it pinned.
type decider struct {
	a        *app
	id, run  string
	key      *sshKey // --sign-with
	pins     *proof.Pins
	explicit bool
	nonce    string // of the proof made, to find the decision in the status that comes back
}

// decider prepares the signing of a decision about connection/object. Without a key named
// and without an agent it asks the server nothing: there is nothing to sign with.
func (a *app) decider(ctx context.Context, sf signFlags, connection, object string) (*decider, error) {
	d := &decider{a: a, id: workflows.WorkflowID(connection, object)}
	if path := sf.path(a.getenv); path != "" {
		key, err := a.loadKey(path)
		if err != nil {
			return nil, err
		}
		d.key, d.explicit = key, true
	}
	if d.key == nil && a.getenv("SSH_AUTH_SOCK") == "" {
		return d, nil
	}
	c, err := a.temporal()
	if err != nil {
		d.release()
		return nil, err
	}
	desc, err := a.describe(ctx, c, d.id, "")
	switch {
	case err == nil && !desc.closed():
	case !d.explicit:
		// Only an agent to look in: without the run there is nothing to sign for, and the
		// update itself says what is wrong.
		return d, nil
	case isNotFound(err) || (err == nil && desc.closed()):
		d.release()
		return nil, a.notRunning(ctx, c, connection, object)
	case isTimeout(err):
		d.release()
		return nil, fmt.Errorf("Temporal did not answer within %s; check TEMPORAL_ADDRESS or raise --timeout", a.timeout)
	default:
		d.release()
		return nil, fmt.Errorf("cannot read the current run of %s/%s to sign for it: %s", connection, object, explain(err))
	}
	d.run = desc.RunID
	if st, err := a.queryStatus(ctx, c, d.id, desc.RunID); err == nil {
		if d.run == "" {
			d.run = st.RunID
		}
		if st.Signers != nil {
			d.pins = &st.Signers.Pins
		}
	}
	return d, nil
}

func (d *decider) release() { d.key.release() }

// sign makes the proof of decision by the person of --as, saying says; nil when there is no
// key to sign with (the workflow decides whether it takes the decision unproven).
func (d *decider) sign(decision, by, says string) (*proof.Proof, error) {
	person := strings.TrimSpace(by)
	var pinned proof.Person
	if d.pins != nil {
		if p, ok := d.pins.Person(person); ok {
			person, pinned = p.ID, p
		}
	}
	key := d.key
	if key == nil {
		if d.run == "" {
			return nil, nil
		}
		var why string
		key, why = d.a.pinnedAgentKey(pinned)
		if key == nil {
			if why != "" {
				fmt.Fprintf(d.a.errOut, "note: %s; the decision carries no proof of who makes it\n", why)
			}
			return nil, nil
		}
		d.key = key
	}
	pr, err := signStatement(key.signer, d.a.now(), proof.Statement{Decision: decision, Workflow: d.id, Run: d.run, Person: person, Says: says})
	if err != nil {
		return nil, err
	}
	d.nonce = nonceOf(pr)
	return pr, nil
}

// signStatement fills the statement's nonce and lifetime from now and signs it.
func signStatement(signer ssh.Signer, now time.Time, st proof.Statement) (*proof.Proof, error) {
	st.Nonce = proof.NewNonce()
	st.IssuedAt = now.Unix()
	st.Expires = now.Add(proofLifetime).Unix()
	pr, err := proof.SignSSH(signer, st)
	if err != nil {
		return nil, fmt.Errorf("cannot sign the %s decision: %v", st.Decision, err)
	}
	return pr, nil
}

func nonceOf(pr *proof.Proof) string {
	if pr == nil {
		return ""
	}
	st, err := pr.Decode()
	if err != nil {
		return ""
	}
	return st.Nonce
}

// signStart is the requester's proof for start. No run exists yet and the directory id is
// only known to the plan, so it is signed for the requester as typed (or $USER).
func (a *app) signStart(sf signFlags, req workflows.Request) (*proof.Proof, error) {
	path := sf.path(a.getenv)
	if path == "" {
		return nil, nil
	}
	key, err := a.loadKey(path)
	if err != nil {
		return nil, err
	}
	defer key.release()
	return signStatement(key.signer, a.now(), proof.Statement{
		Decision: workflows.DecisionStart, Workflow: workflows.WorkflowID(req.Connection, req.Object),
		Person: strings.TrimSpace(req.Requester), Says: req.Says(),
	})
}

// provenBy names who decided and how the workflow found it proven, from what it recorded:
// "alice (verified: SSH signature by SHA256:…)". Runs older than proofs record nothing, and
// then it is the name alone.
func provenBy(by string, v *proof.Verified) string {
	switch {
	case v == nil:
		return by
	case v.Method == proof.MethodUnverified:
		return by + " (identity not verified)"
	}
	return by + " (" + v.Text() + ")"
}

// recorded is a decision as the workflow recorded it: under whom, and what its proof proved.
type recorded struct {
	by string
	v  *proof.Verified
}

// who says who made the decision just sent and how it was proven, from the status the update
// returned: the workflow appends the decision it takes, so it is the last one (or, to be
// sure, the one with this proof's nonce). by, as typed, when nothing was recorded.
func (d *decider) who(by string, ds ...recorded) string {
	if len(ds) == 0 {
		return by
	}
	pick := ds[len(ds)-1]
	for _, r := range ds {
		if d.nonce != "" && r.v != nil && r.v.Nonce == d.nonce {
			pick = r
		}
	}
	return provenBy(pick.by, pick.v)
}
