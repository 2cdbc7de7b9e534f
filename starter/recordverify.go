package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hiddeco/sshsig"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/workflows"
)

// `retire record verify` checks, offline, that every decision in a retirement record was made
// by the person it names: each proof is checked again as the workflow checked it, against the
// keys the record itself pins (signers.pins), so the check needs neither Temporal nor the
// worker's config of today. The statement each proof must sign is rebuilt from the record.

const recordVerifyLong = `Read the retirement record (record.json) at <archive path> and check every proof of who
decided, offline, against the keys pinned in the record (signers.pins): the requester's proof
of the start, every sign-off, objection and extension, and every acknowledgement of the usage
evidence and of the attempts after the cut. For each, the statement the person must have
signed is rebuilt from the record (the decision, the workflow id, the run id (none for start),
the person, what the decision says, its time) and the proof is checked as the workflow's
validator checked it; a nonce used by two decisions fails both.

The table lists each decision with who made it, when, how it was proven, the key and the
result. Any proof that fails, and any decision that carries no proof (a dev worker took the
name as typed), makes the exit status 1, and the error line says which.

<archive path> is what retire status prints as the archive or record: an s3://bucket/key URL
(the store profile of --config that holds that bucket and prefix is used; --store picks one),
a path in the store as retire ls takes it, or a local record.json or a folder holding one.

--export-ssh <dir> writes what OpenSSH needs to check the SSH signatures without retire:
allowed_signers (one line per pinned key: <id> namespaces="retire-decision@dataretire" <key>),
and for each SSH-proven decision <n>-<decision>.json (the exact bytes signed) and
<n>-<decision>.sig (the armored signature), and prints the ssh-keygen -Y verify line of each.
ssh-keygen proves who signed each statement; that the statement is the decision the record
holds (its run, what it says) is what this command checks, or what you read in the .json.
A decision made on the owners' page is an EdDSA token (<n>-<decision>.jws) that ssh-keygen
cannot check: it is checked with the page's public key pinned in the record
(signers.pins.portal_keys, also written to portal_keys), and nobody can check it without that
key, which is why the record carries it.

-o json prints {record, workflow_id, run_id, ok, checks: [{n, decision, by, at, method, key,
nonce, ok, problem}], portal_keys, export: {dir, files, commands, notes}}.`

const recordVerifyExample = `  retire record verify s3://retire-archive/team-a/local/shop/0193.../
  retire record verify local/shop/0193.../ --config /etc/retire/config.yaml
  retire record verify ./record.json --export-ssh ./proofs
  retire record verify ./record.json -o json | jq '.checks[] | select(.ok | not)'
  cd proofs && ssh-keygen -Y verify -f allowed_signers -I alice -n retire-decision@dataretire -s 3-approve.sig < 3-approve.json`

func (a *app) recordVerifyCommand() *cobra.Command {
	var sf storeFlags
	var out output
	var exportDir string
	cmd := &cobra.Command{
		Use:     "verify <archive path>",
		Short:   "Check every proof of who decided in a retirement record, offline, against the keys it pins",
		Long:    recordVerifyLong,
		Example: recordVerifyExample,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			b, where, err := readRecord(ctx, &sf, args[0])
			if err != nil {
				return err
			}
			var rec workflows.Record
			if err := json.Unmarshal(b, &rec); err != nil {
				return fmt.Errorf("%s is not a retirement record: %v", where, err)
			}
			if rec.WorkflowID == "" {
				return fmt.Errorf("%s is not a retirement record: it has no workflow_id", where)
			}
			if rec.Signers == nil {
				return fmt.Errorf("the record of %s (run %s) pins no keys (no signers: a run from before the owners directory), so none of its decisions can be checked", rec.WorkflowID, orDash(rec.RunID))
			}
			rep := recordVerifyReport{Record: where, WorkflowID: rec.WorkflowID, RunID: rec.RunID, Checks: checkRecord(rec), PortalKeys: portalKeyIDs(rec.Signers.Pins)}
			rep.OK = !slices.ContainsFunc(rep.Checks, func(c proofCheck) bool { return !c.OK })
			if exportDir != "" {
				ex, err := exportSSH(exportDir, rec.Signers.Pins, rep.Checks)
				if err != nil {
					return err
				}
				rep.Export = ex
			}
			if out == outputJSON {
				if err := writeJSON(a.out, rep); err != nil {
					return err
				}
			} else {
				renderRecordVerify(a.out, rep)
			}
			return rep.failure()
		},
	}
	sf.add(cmd)
	addOutputFlag(cmd, &out)
	cmd.Flags().StringVar(&exportDir, "export-ssh", "", "also write allowed_signers and each SSH-signed statement and signature into this folder, for ssh-keygen -Y verify")
	return cmd
}

type recordVerifyReport struct {
	Record     string       `json:"record"`
	WorkflowID string       `json:"workflow_id"`
	RunID      string       `json:"run_id"`
	OK         bool         `json:"ok"`
	Checks     []proofCheck `json:"checks"`
	PortalKeys []string     `json:"portal_keys,omitempty"`
	Export     *sshExport   `json:"export,omitempty"`
}

// proofCheck is one decision of the record and what checking its proof found.
type proofCheck struct {
	N        int       `json:"n"`
	Decision string    `json:"decision"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	Method   string    `json:"method"` // ssh, portal, or unverified (no proof)
	Key      string    `json:"key,omitempty"`
	Nonce    string    `json:"nonce,omitempty"`
	OK       bool      `json:"ok"`
	Problem  string    `json:"problem,omitempty"`

	proof  *proof.Proof
	person string // the pinned id, for ssh-keygen -I
}

type sshExport struct {
	Dir      string   `json:"dir"`
	Files    []string `json:"files"`
	Commands []string `json:"commands"`
	Notes    []string `json:"notes,omitempty"`
}

// recordDecision is a decision as the record holds it, with what its proof must have signed.
type recordDecision struct {
	name, by, run, says string
	at                  time.Time
	proven              workflows.Proven
}

// decisionsOf lists every decision of the record: the start first, then in the order they
// were taken.
func decisionsOf(rec workflows.Record) []recordDecision {
	var ds []recordDecision
	for _, s := range rec.Signoffs {
		ds = append(ds, recordDecision{workflows.UpdateApprove, s.By, rec.RunID, s.Says(), s.At, s.Proven})
	}
	for _, o := range rec.Objections {
		ds = append(ds, recordDecision{workflows.UpdateObject, o.By, rec.RunID, o.Says(), o.At, o.Proven})
	}
	for _, x := range rec.Extensions {
		ds = append(ds, recordDecision{workflows.UpdateExtend, x.By, rec.RunID, x.Says(), x.At, x.Proven})
	}
	var acks []workflows.Acknowledgement
	if ev := rec.Evidence; ev != nil {
		acks = append(acks, ev.Acknowledged...)
	}
	if rec.Acknowledgement != nil {
		acks = append(acks, *rec.Acknowledgement)
	}
	for _, k := range acks {
		ds = append(ds, recordDecision{workflows.UpdateAcknowledge, k.By, rec.RunID, k.Says(), k.At, k.Proven})
	}
	if ev := rec.Evidence; ev != nil {
		attempts := slices.Clone(ev.AttemptsAcked)
		if ev.AttemptsAck != nil {
			attempts = append(attempts, *ev.AttemptsAck)
		}
		for _, k := range attempts {
			ds = append(ds, recordDecision{workflows.UpdateAcknowledgeAttempts, k.By, rec.RunID, k.Says(), k.At, k.Proven})
		}
	}
	slices.SortStableFunc(ds, func(x, y recordDecision) int { return x.at.Compare(y.at) })
	// The requester signs with the name as typed; the workflow checks it so (human.go).
	requester := strings.TrimSpace(rec.Request.Requester)
	start := recordDecision{workflows.DecisionStart, requester, "", rec.Request.Says(), rec.StartedAt,
		workflows.Proven{Proof: rec.Request.Proof, Verified: rec.RequesterVerified}}
	return append([]recordDecision{start}, ds...)
}

// checkRecord checks every decision's proof against the record's pins, as the workflow did.
func checkRecord(rec workflows.Record) []proofCheck {
	pins := rec.Signers.Pins
	// What a dev worker took unproven is reported as such, never passed.
	pins.AcceptUnproven = false
	var checks []proofCheck
	for i, d := range decisionsOf(rec) {
		c := checkDecision(pins, rec.WorkflowID, d)
		c.N = i + 1
		checks = append(checks, c)
	}
	// A proof decides once: the workflow spends each nonce, so two decisions of one run that
	// share one mean a proof was replayed (or the record was put together by hand).
	byNonce := map[string][]int{}
	for i, c := range checks {
		if c.Nonce != "" {
			byNonce[c.Nonce] = append(byNonce[c.Nonce], i)
		}
	}
	for _, idx := range byNonce {
		if len(idx) < 2 {
			continue
		}
		for _, i := range idx {
			var others []string
			for _, j := range idx {
				if j != i {
					others = append(others, fmt.Sprintf("#%d", checks[j].N))
				}
			}
			checks[i].OK = false
			checks[i].Problem = joinNonEmpty("; ", checks[i].Problem, fmt.Sprintf("its nonce was used again by %s: a proof decides once", strings.Join(others, ", ")))
		}
	}
	return checks
}

func checkDecision(pins proof.Pins, workflow string, d recordDecision) proofCheck {
	c := proofCheck{Decision: d.name, By: d.by, At: d.at, proof: d.proven.Proof, person: strings.TrimSpace(d.by)}
	if p, ok := pins.Person(d.by); ok {
		c.person = p.ID
	}
	rv := d.proven.Verified
	pr := d.proven.Proof
	if pr == nil || pr.Method == "" {
		c.Method = proof.MethodUnverified
		switch {
		case rv == nil || rv.Method == proof.MethodUnverified:
			c.Problem = "not verified: it carries no proof of who made it (a dev worker took the name as typed)"
		default:
			c.Problem = "the record says it was " + rv.Text() + ", but holds no proof"
		}
		return c
	}
	c.Method = pr.Method
	c.Key = signingKey(pr)
	if st, err := pr.Decode(); err == nil {
		c.Nonce = st.Nonce
	}
	v, err := pins.Verify(pr, proof.Expect{Decision: d.name, Workflow: workflow, Run: d.run, Person: d.by, Says: d.says, Now: d.at})
	if err != nil {
		c.Problem = err.Error()
		return c
	}
	c.Key, c.Nonce = v.Key, v.Nonce
	if rv != nil && (rv.Method != v.Method || rv.Key != v.Key || !workflows.SamePerson(rv.Person, v.Person)) {
		c.Problem = fmt.Sprintf("the record says %s by %s, but the proof is %s by %s", rv.Text(), rv.Person, v.Text(), v.Person)
		return c
	}
	c.OK = true
	return c
}

// signingKey names the key a proof says signed it, for the table, whether or not it verifies:
// the SSH key's fingerprint; "" for a token (its key is known once it verifies).
func signingKey(pr *proof.Proof) string {
	if pr.Method != proof.MethodSSH {
		return ""
	}
	sig, err := sshsig.Unarmor([]byte(pr.Signature))
	if err != nil {
		return ""
	}
	return ssh.FingerprintSHA256(sig.PublicKey)
}

func portalKeyIDs(pins proof.Pins) []string {
	var ids []string
	for _, k := range pins.PortalKeys {
		if pub, err := proof.PortalKey(k); err == nil {
			ids = append(ids, proof.KeyID(pub))
		}
	}
	return ids
}

func (r recordVerifyReport) failure() error {
	var bad []string
	for _, c := range r.Checks {
		if !c.OK {
			bad = append(bad, fmt.Sprintf("#%d %s by %s: %s", c.N, c.Decision, orDash(c.By), c.Problem))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %s of %s (run %s) not proven: %s", len(bad), plural(len(r.Checks), "decision", "decisions"), r.WorkflowID, orDash(r.RunID), strings.Join(bad, "; "))
}

func renderRecordVerify(w io.Writer, r recordVerifyReport) {
	fmt.Fprintf(w, "record: %s\nretirement: %s (run %s)\n\n", r.Record, r.WorkflowID, orDash(r.RunID))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tDECISION\tBY\tAT\tMETHOD\tKEY\tRESULT")
	for _, c := range r.Checks {
		result := "ok"
		if !c.OK {
			result = "FAILED: " + c.Problem
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", c.N, c.Decision, orDash(c.By), orDash(stamp(c.At)), c.Method, orDash(c.Key), result)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	methods := map[string]int{}
	for _, c := range r.Checks {
		if c.OK {
			methods[c.Method]++
		}
	}
	if slices.ContainsFunc(r.Checks, func(c proofCheck) bool { return c.Method == proof.MethodPortal }) {
		fmt.Fprintf(w, "note: the owners' page tokens are checked with the page key pinned in the record (signers.pins.portal_keys: %s); nobody can check them without that key, which is why the record carries it\n", orDash(strings.Join(r.PortalKeys, ", ")))
	}
	if r.OK {
		var how []string
		if n := methods[proof.MethodSSH]; n > 0 {
			how = append(how, fmt.Sprintf("%d by SSH signature", n))
		}
		if n := methods[proof.MethodPortal]; n > 0 {
			how = append(how, fmt.Sprintf("%d by the owners' page", n))
		}
		fmt.Fprintf(w, "all %s proven (%s), checked offline against the keys pinned in the record\n", plural(len(r.Checks), "decision", "decisions"), strings.Join(how, ", "))
	} else {
		bad := 0
		for _, c := range r.Checks {
			if !c.OK {
				bad++
			}
		}
		fmt.Fprintf(w, "%d of %s NOT proven\n", bad, plural(len(r.Checks), "decision", "decisions"))
	}
	if ex := r.Export; ex != nil {
		written := []string{"allowed_signers"}
		if slices.Contains(ex.Files, "portal_keys") {
			written = append(written, "portal_keys")
		}
		if n := len(ex.Commands); n > 0 {
			written = append(written, plural(n, "signed statement", "signed statements")+" with their signatures (<n>-<decision>.json and .sig)")
		}
		tokens := 0
		for _, f := range ex.Files {
			if strings.HasSuffix(f, ".jws") {
				tokens++
			}
		}
		if n := tokens; n > 0 {
			written = append(written, plural(n, "owners' page token", "owners' page tokens")+" (<n>-<decision>.jws)")
		}
		fmt.Fprintf(w, "\nwrote %s into %s\n", strings.Join(written, ", "), ex.Dir)
		for _, n := range ex.Notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
		if len(ex.Commands) > 0 {
			fmt.Fprintf(w, "check each SSH signature with OpenSSH alone:\n  cd %s\n", shellQuote(ex.Dir))
			for _, c := range ex.Commands {
				fmt.Fprintf(w, "  %s\n", c)
			}
		}
	}
}

// exportSSH writes what ssh-keygen -Y verify needs to check each SSH-signed decision without
// retire: the pinned keys as allowed_signers, and each statement with its signature.
func exportSSH(dir string, pins proof.Pins, checks []proofCheck) (*sshExport, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--export-ssh %s: %v", dir, errors.Unwrap(err))
	}
	ex := &sshExport{Dir: dir, Files: []string{}, Commands: []string{}}
	write := func(name, text string) error {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("--export-ssh: write %s: %v", filepath.Join(dir, name), errors.Unwrap(err))
		}
		ex.Files = append(ex.Files, name)
		return nil
	}
	var signers strings.Builder
	for _, p := range pins.People {
		// ssh-keygen reads principals as a comma-separated list of patterns: an id that
		// would read as more than one, or as a pattern, cannot be written as one.
		if p.ID == "" || strings.ContainsAny(p.ID, " \t,*?!\"") {
			if len(p.SSHKeys) > 0 {
				ex.Notes = append(ex.Notes, fmt.Sprintf("the keys of %q are not in allowed_signers: ssh-keygen cannot take that id as a principal", p.ID))
			}
			continue
		}
		for _, line := range p.SSHKeys {
			pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
			if err != nil {
				ex.Notes = append(ex.Notes, fmt.Sprintf("a key pinned for %s is not an authorized_keys line, so it is not in allowed_signers", p.ID))
				continue
			}
			fmt.Fprintf(&signers, "%s namespaces=%q %s\n", p.ID, proof.Namespace, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))))
		}
	}
	if err := write("allowed_signers", signers.String()); err != nil {
		return nil, err
	}
	if len(pins.PortalKeys) > 0 {
		if err := write("portal_keys", strings.Join(pins.PortalKeys, "\n")+"\n"); err != nil {
			return nil, err
		}
	}
	for _, c := range checks {
		if c.proof == nil {
			continue
		}
		base := fmt.Sprintf("%d-%s", c.N, c.Decision)
		switch c.proof.Method {
		case proof.MethodSSH:
			if err := write(base+".json", c.proof.Statement); err != nil {
				return nil, err
			}
			if err := write(base+".sig", c.proof.Signature); err != nil {
				return nil, err
			}
			ex.Commands = append(ex.Commands, fmt.Sprintf("ssh-keygen -Y verify -f allowed_signers -I %s -n %s -s %s.sig < %s.json", shellQuote(c.person), proof.Namespace, base, base))
		case proof.MethodPortal:
			if err := write(base+".jws", c.proof.Token+"\n"); err != nil {
				return nil, err
			}
			ex.Notes = append(ex.Notes, fmt.Sprintf("%s.jws was made by the owners' page: an EdDSA JWS that ssh-keygen cannot check; it verifies with a key of portal_keys (pinned in the record), and only with it", base))
		}
	}
	return ex, nil
}

// shellQuote quotes s for a POSIX shell when it needs it, so the printed lines paste as they are.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%_+=:,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// maxRecordBytes bounds what is read as a record: records are kilobytes; anything near this is
// not one.
const maxRecordBytes = 64 << 20

// readRecord reads record.json from an s3:// URL, a local file or folder, or a path in the
// config's store. It says where it read it, for the report.
func readRecord(ctx context.Context, sf *storeFlags, arg string) ([]byte, string, error) {
	if strings.HasPrefix(arg, "s3://") {
		return readRecordURL(ctx, sf, arg)
	}
	fi, err := os.Stat(arg)
	switch {
	case err == nil:
		p := arg
		if fi.IsDir() {
			p = filepath.Join(arg, archive.RecordJSONName)
		}
		b, err := readLimited(p)
		return b, p, err
	case filepath.IsAbs(arg) || strings.HasPrefix(arg, "."):
		return nil, "", fmt.Errorf("no record at %s: %v", arg, errors.Unwrap(err))
	}
	_, store, err := sf.open(ctx)
	if err != nil {
		return nil, "", err
	}
	return readStoreRecord(ctx, store, recordKey(arg))
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("no record at %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecordBytes+1))
	if err == nil && len(b) > maxRecordBytes {
		err = fmt.Errorf("%s is larger than %d MiB: not a retirement record", path, maxRecordBytes>>20)
	}
	return b, err
}

// recordKey is the key of record.json for an archive path or the record's own key.
func recordKey(p string) string {
	if strings.HasSuffix(p, ".json") {
		return p
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p + archive.RecordJSONName
}

// readRecordURL finds the store profile that holds the URL's bucket and prefix (--store
// names one), since the URL is what records and notices print.
func readRecordURL(ctx context.Context, sf *storeFlags, u string) ([]byte, string, error) {
	bucket, key, err := archive.ParseURL(u)
	if err != nil {
		return nil, "", err
	}
	cfg, err := config.Load(sf.config)
	if err != nil {
		return nil, "", err
	}
	name := sf.store
	if name == "" {
		if name, err = storeFor(cfg, sf.config, bucket, key); err != nil {
			return nil, "", err
		}
	} else if s, ok := cfg.Stores[name]; ok && s.Bucket != bucket {
		return nil, "", fmt.Errorf("--store %s is bucket %s, but %s is in bucket %s", name, s.Bucket, u, bucket)
	}
	store, err := activities.OpenStore(ctx, cfg, name)
	if err != nil {
		return nil, "", err
	}
	prefix := store.FullKey("")
	rel, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return nil, "", fmt.Errorf("%s is not under the prefix %q of store %s", u, prefix, name)
	}
	return readStoreRecord(ctx, store, recordKey(rel))
}

// storeFor is the store profile of bucket whose prefix key lies under, the longest one.
func storeFor(cfg *config.Config, path, bucket, key string) (string, error) {
	best, bestLen := "", -1
	names := make([]string, 0, len(cfg.Stores))
	for name := range cfg.Stores {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		s := cfg.Stores[name]
		prefix := strings.Trim(s.Prefix, "/")
		if prefix != "" {
			prefix += "/"
		}
		if s.Bucket == bucket && strings.HasPrefix(key, prefix) && len(prefix) > bestLen {
			best, bestLen = name, len(prefix)
		}
	}
	if best == "" {
		return "", fmt.Errorf("no store profile in %s holds bucket %s (stores: %s): name the store with --store or the config with --config", path, bucket, cmp.Or(strings.Join(names, ", "), "none"))
	}
	return best, nil
}

func readStoreRecord(ctx context.Context, store *archive.Store, key string) ([]byte, string, error) {
	where := store.URL(key)
	rc, err := store.Get(ctx, key)
	if err != nil {
		return nil, where, fmt.Errorf("no record at %s: %v", where, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxRecordBytes+1))
	if err != nil {
		return nil, where, fmt.Errorf("read %s: %v", where, err)
	}
	if len(b) > maxRecordBytes {
		return nil, where, fmt.Errorf("%s is larger than %d MiB: not a retirement record", where, maxRecordBytes>>20)
	}
	return b, where, nil
}
