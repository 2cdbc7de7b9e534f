package engine

import (
	"slices"
	"strings"
)

// Sampler aggregates looks at the processlist: one look misses clients that connect for
// less than a second every few seconds; many looks over days catch them.
type Sampler struct {
	looks int
	seen  map[string]*Session
	ids   map[string]map[int64]bool // connection ids seen per client, to count distinct ones
}

// NewSampler resumes from earlier results (e.g. the previous run of a sampling activity).
func NewSampler(prev []Session) *Sampler {
	s := &Sampler{seen: map[string]*Session{}, ids: map[string]map[int64]bool{}}
	for _, p := range prev {
		p.ID = 0
		s.seen[p.Key()] = &p
		s.ids[p.Key()] = map[int64]bool{}
	}
	return s
}

// Add folds one look into the aggregate.
func (s *Sampler) Add(look []Session) {
	s.looks++
	s.Merge(look)
}

// Merge folds sessions seen some other way (the audit log, another activity) into the
// aggregate without counting a look.
func (s *Sampler) Merge(look []Session) {
	for _, l := range look {
		k := l.Key()
		cur, ok := s.seen[k]
		if !ok {
			c := l
			c.ID, c.Count = 0, 0
			cur = &c
			s.seen[k] = cur
			s.ids[k] = map[int64]bool{}
		}
		if l.FirstSeen.Before(cur.FirstSeen) {
			cur.FirstSeen = l.FirstSeen
		}
		if l.LastSeen.After(cur.LastSeen) {
			cur.LastSeen = l.LastSeen
		}
		cur.Via = union(cur.Via, l.Via)
		cur.Tables = union(cur.Tables, l.Tables)
		if !s.ids[k][l.ID] {
			s.ids[k][l.ID] = true
			cur.Count++
		}
	}
}

// Looks is the number of looks folded in since NewSampler.
func (s *Sampler) Looks() int { return s.looks }

// Result is every client seen, sorted by key, without connection ids.
func (s *Sampler) Result() []Session {
	out := make([]Session, 0, len(s.seen))
	for _, v := range s.seen {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(x, y Session) int { return strings.Compare(x.Key(), y.Key()) })
	return out
}

// union is a and b without repeats, sorted.
func union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}
