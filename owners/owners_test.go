package owners

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTheDirectoryIsReadFromAURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"people": [{"id": "alice", "email": "Alice@Example.com", "owns": [{"connection": "local", "objects": ["pdb:SALES*"]}]}]}`))
	}))
	defer srv.Close()
	d, err := Load(context.Background(), Source{URL: srv.URL, People: []Person{{ID: "dba", DBA: true}}})
	require.NoError(t, err)
	require.Len(t, d.People, 2)
	p, ok := d.Find("alice@example.com")
	require.True(t, ok, "found by e-mail, case-insensitively")
	require.Equal(t, "alice", p.ID)
	require.Len(t, d.OwnersOf("local", "pdb:sales_eu"), 1, "patterns match case-insensitively")
	require.Empty(t, d.OwnersOf("other", "pdb:SALES_EU"))
}

func TestADirectoryThatCannotSayWhoIsWhoIsRefused(t *testing.T) {
	for name, people := range map[string][]Person{
		"twice":                 {{ID: "alice"}, {ID: "ALICE"}},
		"no id":                 {{Name: "Alice"}},
		"bad key":               {{ID: "alice", SSHKeys: []string{"ssh-ed25519 nope"}}},
		"bad pattern":           {{ID: "alice", Owns: []Owns{{Connection: "local", Objects: []string{"[shop"}}}}},
		"bad email":             {{ID: "alice", Email: "not an address"}},
		"email is another's id": {{ID: "alice", Email: "bob@example.com"}, {ID: "bob@example.com"}},
		"same email":            {{ID: "alice", Email: "a@example.com"}, {ID: "alice2", Email: "A@example.com"}},
	} {
		_, err := Load(context.Background(), Source{People: people})
		require.Error(t, err, name)
	}
}
