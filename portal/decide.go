package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/workflows"
)

// ProofLifetime is how long a token the page signs may be used: it is sent at once.
const ProofLifetime = 5 * time.Minute

// decide takes a posted decision (approve, object, extend): it reads the current run, signs
// a statement of exactly what the person says for that run, and sends it as a Temporal
// Update, waiting until the workflow has recorded it or its validator refused it.
func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	if sess == nil {
		s.message(w, r, http.StatusForbidden, "Your session has ended", "Nothing was decided. Open the page again (log in, or use your personal link) and decide there.")
		return
	}
	if err := s.checkForm(w, r, sess); err != nil {
		s.message(w, r, http.StatusForbidden, "Refused: nothing was decided", err.Error())
		return
	}
	id := r.PathValue("id")
	if !s.linkAllows(w, r, sess, id) {
		return
	}
	f := r.PostForm
	in := formInput{Decision: f.Get("decision"), Comment: f.Get("comment"), Confirm: f.Get("confirm"),
		Reason: f.Get("reason"), ExtendReason: f.Get("extend_reason"), Days: f.Get("days")}

	st, err := s.t.Status(r.Context(), id, "")
	if err != nil {
		s.message(w, r, http.StatusBadGateway, "Nothing was decided", explain(err))
		return
	}
	if !s.mayView(w, r, sess, st) {
		return
	}
	// The statement names the workflow the page was asked about, and that workflow must say
	// it retires the object whose id it has: a person decides about what the page showed.
	if st.WorkflowID != id || workflows.WorkflowID(st.Request.Connection, st.Request.Object) != id {
		s.message(w, r, http.StatusConflict, "Nothing was decided", fmt.Sprintf("The workflow %s does not retire what its name says; nothing is signed for it.", id))
		return
	}
	refuse := func(status int, why string) {
		s.render(w, r, status, "retirement", page{Title: st.Request.Connection + "/" + st.Request.Object, Error: why, Data: s.view(st, sess, in)})
	}
	if sess.ByLink() {
		switch {
		case sess.Run != "" && sess.Run != st.RunID:
			refuse(http.StatusConflict, "Your personal link was sent for an earlier run of this retirement; it cannot decide about the current one. The next notice brings a new link, or log in.")
			return
		case sess.LinkNonce == "":
			refuse(http.StatusConflict, "Your personal link has decided already: a link decides once. Log in, or use the link of the next notice, to decide again.")
			return
		}
	}

	var (
		arg     any
		says    string
		attach  func(*proof.Proof)
		success func(workflows.Status) string
	)
	switch in.Decision {
	case workflows.UpdateApprove:
		if strings.TrimSpace(in.Confirm) != st.Request.Object {
			refuse(http.StatusUnprocessableEntity, fmt.Sprintf("To sign off, type the name of the object that will be destroyed, %s, in the confirmation field.", st.Request.Object))
			return
		}
		d := &workflows.Signoff{By: sess.Person, Comment: strings.TrimSpace(in.Comment)}
		arg, says, attach = d, d.Says(), func(p *proof.Proof) { d.Proof = p }
		success = func(after workflows.Status) string { return approvedText(after, s.now()) }
	case workflows.UpdateObject:
		if strings.TrimSpace(in.Reason) == "" {
			refuse(http.StatusUnprocessableEntity, "Say why the data is still needed: the reason is kept in the retirement record and told to the DBA team.")
			return
		}
		d := &workflows.Objection{By: sess.Person, Reason: strings.TrimSpace(in.Reason)}
		arg, says, attach = d, d.Says(), func(p *proof.Proof) { d.Proof = p }
		success = func(after workflows.Status) string {
			if after.Cut == nil {
				return "Your objection is recorded. Access was not cut yet; the retirement ends as aborted."
			}
			return "Your objection is recorded. Access is being restored exactly as it was, and the retirement ends as aborted."
		}
	case workflows.UpdateExtend:
		n, err := strconv.Atoi(strings.TrimSpace(in.Days))
		if err != nil || n < 1 {
			refuse(http.StatusUnprocessableEntity, "Say by how many days to extend the observation window: a whole number, 1 or more.")
			return
		}
		d := &workflows.Extension{By: sess.Person, Extra: time.Duration(n) * 24 * time.Hour, Reason: strings.TrimSpace(in.ExtendReason)}
		arg, says, attach = d, d.Says(), func(p *proof.Proof) { d.Proof = p }
		success = func(after workflows.Status) string {
			msg := fmt.Sprintf("The observation window is extended by %s, to %s in total.", workflows.DaysText(d.Extra), workflows.DaysText(after.ObserveTotal))
			if !after.ObserveUntil.IsZero() {
				msg += " It now ends " + stamp(after.ObserveUntil) + "."
			}
			return msg
		}
	default:
		refuse(http.StatusBadRequest, "This form asks for no decision the page knows.")
		return
	}

	token, err := s.sign(sess, in.Decision, st, says)
	if err != nil {
		refuse(http.StatusInternalServerError, "The decision could not be signed: "+err.Error())
		return
	}
	attach(&proof.Proof{Method: proof.MethodPortal, Token: token})
	after, err := s.t.Update(r.Context(), id, st.RunID, in.Decision, arg)
	s.logDecision(sess, id, in.Decision, err)
	if err != nil {
		status := http.StatusBadGateway
		if isRefusal(err) {
			status = http.StatusConflict // the workflow said no: the person may act on it
		}
		refuse(status, explain(err))
		return
	}
	if sess.ByLink() {
		// The link's nonce is spent now; the page says so instead of offering forms the
		// workflow would refuse.
		sess.LinkNonce = ""
		_ = s.cookies.set(w, cookieSession, *sess, time.Duration(sess.Expires-s.now().Unix())*time.Second)
	}
	_ = s.cookies.set(w, cookieFlash, flash{Workflow: id, Text: success(after)}, time.Minute)
	http.Redirect(w, r, retirementPath(id), http.StatusSeeOther)
}

// sign is the statement the workflow's validator expects, signed with the page's key: the
// update's name, this workflow and its current run, the person's directory id, what the
// decision says, a nonce (fresh for a login, the link's for a link, so a link decides once)
// and a short lifetime.
func (s *Server) sign(sess *session, decision string, st workflows.Status, says string) (string, error) {
	now := s.now()
	stmt := proof.Statement{
		Decision: decision, Workflow: st.WorkflowID, Run: st.RunID, Person: sess.Person, Says: says,
		IssuedAt: now.Unix(), Expires: now.Add(ProofLifetime).Unix(), Auth: sess.Auth,
	}
	if sess.ByLink() {
		stmt.Nonce = sess.LinkNonce
	} else {
		stmt.Nonce, stmt.Issuer = proof.NewNonce(), sess.Issuer
	}
	return proof.SignToken(s.cfg.Key, stmt)
}

func approvedText(st workflows.Status, now time.Time) string {
	msg := "Your sign-off is recorded."
	switch {
	case st.ObserveUntil.IsZero():
		return msg + " The observation window has not started yet; the data is archived and dropped only after it."
	case now.Before(st.ObserveUntil):
		return msg + " The observation window ends " + stamp(st.ObserveUntil) + "; the data is archived, verified and dropped after that."
	}
	return msg + " The observation window is over: the data is archived and verified now, then dropped."
}
