package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/workflows"
)

// homeRow is one retirement on "My retirements".
type homeRow struct {
	Path, Target, Reason string
	Phase                workflows.Phase
	Waiting              string
	Deadline             time.Time
	DeadlineWhat         string
	YourTurn             string // what this person may still do, in words
	Problem              string // why the status could not be read
}

// home lists every running retirement that the person owns (the RetireOwners search
// attribute, set by the workflow from the owners directory after its plan).
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	if sess == nil {
		s.needLogin(w, r)
		return
	}
	if sess.ByLink() {
		// A personal link opens one retirement, not the list.
		http.Redirect(w, r, retirementPath(sess.Workflow), http.StatusSeeOther)
		return
	}
	listed, err := s.t.Running(r.Context(), workflows.Filter{Owner: sess.Person}.Query())
	if err != nil {
		s.render(w, r, http.StatusBadGateway, "home", page{Title: "My retirements", Error: "Your retirements cannot be listed: " + explain(err)})
		return
	}
	rows := make([]homeRow, len(listed))
	// One status query per retirement, at once and each with a short deadline: a run whose
	// worker does not answer shows what visibility knows instead of holding the page.
	var wg sync.WaitGroup
	for i, l := range listed {
		rows[i] = homeRow{Path: retirementPath(l.WorkflowID), Target: l.Connection + "/" + l.Object, Reason: l.Reason, Phase: l.Phase}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), listQueryTimeout)
			defer cancel()
			row := &rows[i]
			st, err := s.t.Status(ctx, l.WorkflowID, l.RunID)
			if err != nil {
				row.Problem = explain(err)
				return
			}
			row.Phase, row.Waiting, row.Reason = st.Phase, st.Waiting, string(st.Request.Reason)
			row.Target = st.Request.Connection + "/" + st.Request.Object
			row.Deadline, row.DeadlineWhat = deadline(st)
			row.YourTurn = yourTurn(st, sess.Person)
		})
	}
	wg.Wait()
	// Soonest deadline first; those without one last.
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i].Deadline, rows[j].Deadline
		if a.IsZero() != b.IsZero() {
			return !a.IsZero()
		}
		return a.Before(b)
	})
	s.render(w, r, http.StatusOK, "home", page{Title: "My retirements", Data: rows})
}

// deadline is the next date that matters to an owner, and what happens then.
func deadline(st workflows.Status) (time.Time, string) {
	switch {
	case !st.ObserveUntil.IsZero():
		return st.ObserveUntil, "observation window ends"
	case st.Phase == workflows.PhaseSample && !st.SampleUntil.IsZero():
		return st.SampleUntil, "sampling ends, then access is cut"
	}
	return time.Time{}, ""
}

// yourTurn says what the person may still decide, or "".
func yourTurn(st workflows.Status, person string) string {
	a := allowedFor(st, person)
	var can []string
	if a.Approve {
		can = append(can, "sign off")
	}
	if a.Object {
		can = append(can, "object")
	}
	if a.Extend {
		can = append(can, "extend")
	}
	if len(can) == 0 {
		return ""
	}
	return "you may " + strings.Join(can, ", ")
}

// allowed is which forms the page offers; the workflow's validator decides in the end.
type allowed struct {
	Owner, Requester, Viewer bool
	Approve, Object, Extend  bool
	Signed                   bool // this person signed off already
	MaxExtendDays            int
}

func allowedFor(st workflows.Status, person string) allowed {
	var a allowed
	same := func(x string) bool { return workflows.SamePerson(x, person) }
	if sg := st.Signers; sg != nil {
		a.Owner = slices.ContainsFunc(sg.Owners, same)
		a.Requester = same(sg.Requester)
		a.Viewer = a.Owner || a.Requester || slices.ContainsFunc(sg.DBAs, same)
	} else {
		// Still in its plan: the directory has not been read for it yet.
		a.Owner = slices.ContainsFunc(st.Request.Owners, same)
		a.Requester = same(st.Request.Requester)
		a.Viewer = a.Owner || a.Requester
	}
	a.Signed = slices.ContainsFunc(st.Signoffs, func(s workflows.Signoff) bool { return same(s.By) })
	open := st.Phase.BeforeDrop() && len(st.Objections) == 0 && st.Signers != nil
	a.Approve = open && a.Owner && !a.Requester && !a.Signed
	a.Object = open && (a.Owner || a.Requester)
	max := workflows.MaxObserveWindow
	if st.Plan != nil && st.Plan.Policy.MaxObserveWindow > 0 {
		max = st.Plan.Policy.MaxObserveWindow
	}
	a.MaxExtendDays = int((max - st.ObserveTotal) / (24 * time.Hour))
	early := slices.Contains([]workflows.Phase{workflows.PhasePlan, workflows.PhaseSample, workflows.PhaseQuiesce, workflows.PhaseObserve}, st.Phase)
	a.Extend = open && early && (a.Owner || a.Requester) && a.MaxExtendDays >= 1
	return a
}

// retirementView is the retirement page.
type retirementView struct {
	St       workflows.Status
	Path     string
	Target   string
	Allowed  allowed
	Deadline time.Time
	DeadWhat string
	Inv      *inventory
	Owners   []ownerView
	Restore  string // how to get the data back after the drop
	Attempts []activities.Attempt
	// Link sessions: what the personal link allows.
	Link       bool
	LinkSpent  bool // it decided already
	LinkOldRun bool // it was sent for an earlier run
	Form       formInput
	Confirm    string // what to type to confirm a sign-off
}

type ownerView struct {
	ID, Name, Decided string
}

type inventory struct {
	Tables                            int
	Rows, Bytes                       int64
	Views, Routines, Triggers, Events int
	Accounts                          int
	Top                               []engine.Table
	More                              int
	Tablespaces                       []string
	Engine, Version                   string
}

// formInput is what the person typed, kept when a decision is refused.
type formInput struct {
	Comment, Confirm, Reason, ExtendReason, Days string
	Decision                                     string
}

const topTables = 10

// listQueryTimeout bounds each status query of "My retirements".
const listQueryTimeout = 5 * time.Second

func (s *Server) retirement(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	if sess == nil {
		s.needLogin(w, r)
		return
	}
	id := r.PathValue("id")
	if !s.linkAllows(w, r, sess, id) {
		return
	}
	st, err := s.t.Status(r.Context(), id, "")
	if err != nil {
		status := http.StatusBadGateway
		if isNotFound(err) {
			status = http.StatusNotFound
		}
		s.message(w, r, status, "Retirement "+id, explain(err))
		return
	}
	if !s.mayView(w, r, sess, st) {
		return
	}
	var f flash
	if s.cookies.get(r, cookieFlash, &f) && f.Workflow == id {
		s.cookies.clear(w, cookieFlash)
	} else {
		f = flash{}
	}
	s.render(w, r, http.StatusOK, "retirement", page{Title: st.Request.Connection + "/" + st.Request.Object, Flash: f.Text, Data: s.view(st, sess, formInput{})})
}

// linkAllows keeps a link session on the retirement its link was sent for.
func (s *Server) linkAllows(w http.ResponseWriter, r *http.Request, sess *session, id string) bool {
	if !sess.ByLink() || sess.Workflow == id {
		return true
	}
	m := message{Heading: "Your link opens another retirement",
		Text: fmt.Sprintf("The personal link you opened is for %s only. To see other retirements, log in with your company account.", sess.Workflow)}
	if s.oidc != nil {
		m.Link, m.Label = "/login?next="+retirementPath(id), "Log in"
	}
	s.messageLink(w, r, http.StatusForbidden, m)
	return false
}

// mayView lets the people of a retirement see it: its owners, its requester, the DBAs.
func (s *Server) mayView(w http.ResponseWriter, r *http.Request, sess *session, st workflows.Status) bool {
	if sess.ByLink() || allowedFor(st, sess.Person).Viewer {
		return true
	}
	s.message(w, r, http.StatusForbidden, "Not one of your retirements",
		fmt.Sprintf("%s is not an owner, the requester or a DBA of the retirement of %s/%s, so this page does not show it.", sess.Person, st.Request.Connection, st.Request.Object))
	return false
}

func (s *Server) view(st workflows.Status, sess *session, in formInput) retirementView {
	v := retirementView{St: st, Path: retirementPath(st.WorkflowID), Target: st.Request.Connection + "/" + st.Request.Object,
		Allowed: allowedFor(st, sess.Person), Form: in, Confirm: st.Request.Object}
	v.Deadline, v.DeadWhat = deadline(st)
	if v.Form.Days == "" {
		v.Form.Days = "7"
	}
	if p := st.Plan; p != nil {
		inv := p.Inventory
		v.Inv = &inventory{Tables: len(inv.Tables), Rows: inv.TotalRows, Bytes: inv.TotalBytes, Views: len(inv.Views), Routines: len(inv.Routines),
			Triggers: len(inv.Triggers), Events: len(inv.Events), Accounts: len(inv.Accounts), Tablespaces: inv.Tablespaces, Engine: inv.Engine, Version: inv.Version}
		top := slices.Clone(inv.Tables)
		sort.SliceStable(top, func(i, j int) bool { return top[i].Bytes > top[j].Bytes })
		if len(top) > topTables {
			v.Inv.More, top = len(top)-topTables, top[:topTables]
		}
		v.Inv.Top = top
	}
	owners := st.Request.Owners
	if st.Signers != nil {
		owners = st.Signers.Owners
	}
	for _, o := range owners {
		ov := ownerView{ID: o, Name: o}
		if st.Signers != nil {
			if p, ok := st.Signers.Pins.Person(o); ok && p.Name != "" {
				ov.Name = p.Name
			}
		}
		switch {
		case slices.ContainsFunc(st.Objections, func(x workflows.Objection) bool { return workflows.SamePerson(x.By, o) }):
			ov.Decided = "objected"
		case slices.ContainsFunc(st.Signoffs, func(x workflows.Signoff) bool { return workflows.SamePerson(x.By, o) }):
			ov.Decided = "signed off"
		}
		v.Owners = append(v.Owners, ov)
	}
	if st.Evidence != nil {
		v.Attempts = st.Evidence.Attempts
	}
	if a := st.Archive; a != nil && (st.Phase.PastDrop() || st.Gone != nil) {
		v.Restore = fmt.Sprintf("retire restore --config <the worker's config> --store %s %s --connection %s --into %s_restored",
			a.Store, a.Path, st.Request.Connection, st.Request.Object)
	}
	if sess.ByLink() {
		v.Link = true
		v.LinkSpent = sess.LinkNonce == ""
		v.LinkOldRun = sess.Run != "" && sess.Run != st.RunID
		if v.LinkSpent || v.LinkOldRun {
			v.Allowed.Approve, v.Allowed.Object, v.Allowed.Extend = false, false, false
		}
	}
	return v
}

// logDecision keeps who decided what in the page's log (never a token).
func (s *Server) logDecision(sess *session, id, decision string, err error) {
	fields := []zap.Field{zap.String("person", sess.Person), zap.String("auth", sess.Auth), zap.String("workflow", id), zap.String("decision", decision)}
	if err != nil {
		s.log.Info("Decision refused", append(fields, zap.String("why", explain(err)))...)
		return
	}
	s.log.Info("Decision recorded", fields...)
}
