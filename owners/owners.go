// Package owners is the owners directory: the people who may decide about retirements, the
// objects they own, and the keys that prove who they are. The worker's config declares it,
// inline or in a file or at a URL it reads at every plan, so owners come from the directory and
// not from whoever asks for a retirement.
package owners

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"

	"github.com/dataretire/retire/proof"
)

// Source is the worker's `owners:` section: people inline, and/or a file or URL holding more
// (a YAML or JSON document with the same `people:` list).
type Source struct {
	File   string   `yaml:"file"`
	URL    string   `yaml:"url"`
	People []Person `yaml:"people"`
}

// Configured says whether any directory is declared.
func (s Source) Configured() bool { return s.File != "" || s.URL != "" || len(s.People) > 0 }

// Person is one entry of the directory.
type Person struct {
	// ID is how the person logs in: the OpenID Connect subject or e-mail. Compared
	// case-insensitively.
	ID      string   `yaml:"id" json:"id"`
	Name    string   `yaml:"name" json:"name"`
	Email   string   `yaml:"email" json:"email"`
	SSHKeys []string `yaml:"ssh_keys" json:"ssh_keys"` // authorized_keys lines
	Owns    []Owns   `yaml:"owns" json:"owns"`
	// DBA people may start retirements and acknowledge usage evidence and access attempts.
	DBA bool `yaml:"dba" json:"dba"`
}

// Owns names objects on one connection profile, with shell patterns (shop, shop_*, pdb:SALES*).
type Owns struct {
	Connection string   `yaml:"connection" json:"connection"`
	Objects    []string `yaml:"objects" json:"objects"`
}

// Directory is the directory as read.
type Directory struct {
	People []Person
	// From says where it was read from, for messages: "the worker's config", a file, a URL.
	From string
}

type document struct {
	People []Person `yaml:"people" json:"people"`
}

// Load reads the directory: the inline people, then the file's, then the URL's.
func Load(ctx context.Context, s Source) (*Directory, error) {
	d := &Directory{People: slices.Clone(s.People)}
	from := []string{}
	if len(s.People) > 0 {
		from = append(from, "owners.people in the worker's config")
	}
	if s.File != "" {
		b, err := os.ReadFile(s.File)
		if err != nil {
			return nil, fmt.Errorf("owners directory: %w", err)
		}
		if err := d.add(b, s.File); err != nil {
			return nil, err
		}
		from = append(from, s.File)
	}
	if s.URL != "" {
		b, err := fetch(ctx, s.URL)
		if err != nil {
			return nil, err
		}
		if err := d.add(b, s.URL); err != nil {
			return nil, err
		}
		from = append(from, s.URL)
	}
	d.From = strings.Join(from, " and ")
	if d.From == "" {
		d.From = "no directory (owners: is not set in the worker's config)"
	}
	return d, d.Check()
}

func fetch(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("owners directory %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("owners directory %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("owners directory %s: HTTP %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}

func (d *Directory) add(b []byte, from string) error {
	var doc document
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("owners directory %s: %w", from, err)
	}
	d.People = append(d.People, doc.People...)
	return nil
}

// Check refuses a directory that cannot be trusted to say who is who.
func (d *Directory) Check() error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range d.People {
		id := strings.ToLower(strings.TrimSpace(p.ID))
		switch {
		case id == "":
			errs = append(errs, fmt.Errorf("owners directory: person %d has no id", i+1))
			continue
		case seen[id]:
			errs = append(errs, fmt.Errorf("owners directory: %s is declared twice", p.ID))
		}
		seen[id] = true
		if p.Email != "" {
			if _, err := mail.ParseAddress(p.Email); err != nil {
				errs = append(errs, fmt.Errorf("owners directory: %s: email %q: %v", p.ID, p.Email, err))
			}
		}
		for _, k := range p.SSHKeys {
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
				errs = append(errs, fmt.Errorf("owners directory: %s: ssh key %.40q…: %v", p.ID, k, err))
			}
		}
		for _, o := range p.Owns {
			if o.Connection == "" || len(o.Objects) == 0 {
				errs = append(errs, fmt.Errorf("owners directory: %s: owns needs a connection and objects", p.ID))
			}
			for _, pat := range o.Objects {
				if _, err := path.Match(pat, ""); err != nil {
					errs = append(errs, fmt.Errorf("owners directory: %s: pattern %q: %v", p.ID, pat, err))
				}
			}
		}
	}
	// A person is found by id or e-mail: one person's e-mail must not be another's id, or the
	// directory and a retirement's pins could pick different people for the same name.
	for _, p := range d.People {
		if e := strings.ToLower(strings.TrimSpace(p.Email)); e != "" && seen[e] && !same(p.Email, p.ID) {
			errs = append(errs, fmt.Errorf("owners directory: %s's e-mail %s is another person's id", p.ID, p.Email))
		}
	}
	emails := map[string]string{}
	for _, p := range d.People {
		e := strings.ToLower(strings.TrimSpace(p.Email))
		if e == "" {
			continue
		}
		if other, ok := emails[e]; ok {
			errs = append(errs, fmt.Errorf("owners directory: %s and %s have the same e-mail %s", other, p.ID, p.Email))
		}
		emails[e] = p.ID
	}
	return errors.Join(errs...)
}

// Find is the person with this id or e-mail, compared case-insensitively.
func (d *Directory) Find(who string) (Person, bool) {
	for _, p := range d.People {
		if same(p.ID, who) || (p.Email != "" && same(p.Email, who)) {
			return p, true
		}
	}
	return Person{}, false
}

// OwnersOf lists the people who own object on connection, in directory order.
func (d *Directory) OwnersOf(connection, object string) []Person {
	var out []Person
	for _, p := range d.People {
		if p.owns(connection, object) {
			out = append(out, p)
		}
	}
	return out
}

func (p Person) owns(connection, object string) bool {
	for _, o := range p.Owns {
		if o.Connection != connection {
			continue
		}
		for _, pat := range o.Objects {
			// Case-insensitive, like people's names: Oracle schemas are upper case where
			// MySQL databases are usually lower case, and an owner declared for one is meant
			// for the other spelling too.
			if ok, _ := path.Match(strings.ToLower(pat), strings.ToLower(object)); ok {
				return true
			}
		}
	}
	return false
}

// Pinned is the person as a retirement pins them.
func (p Person) Pinned() proof.Person {
	return proof.Person{ID: p.ID, Name: p.Name, Email: p.Email, SSHKeys: slices.Clone(p.SSHKeys)}
}

func same(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) }
